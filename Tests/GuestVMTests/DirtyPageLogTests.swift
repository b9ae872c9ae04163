import GuestVM
import Testing

/// `DirtyPageLog`: which pages of guest memory a state transfer must send again.
@Suite("Dirty page log")
struct DirtyPageLogTests {
    /// One store of each kind the interpreter has, each to its own page; one store across a page
    /// boundary; a `cas` that fails (and writes nothing).
    static let stores = """
        .memory 131072
        .text
        start:
            li r1, 0x2000
            li r2, 7
            st8 [r1], r2                ; page 2
            st16 [r1 + 0x1000], r2      ; page 3
            st32 [r1 + 0x2000], r2      ; page 4
            st64 [r1 + 0x3000], r2      ; page 5
            li r3, 0x6ffc
            st64 [r3], r2               ; pages 6 and 7: it crosses the boundary
            li r4, 0x9000
            li r5, 0
            cas r5, [r4], r2            ; succeeds: page 9
            li r6, 0xa000
            xadd r7, [r6], r2           ; page 10
            li r8, 0xb000
            li r9, 1
            cas r9, [r8], r2            ; fails: page 11 stays clean
            li sp, 0xe008
            call f                      ; the return address: page 14
            push r2                     ; page 14 again
            halt
        f:
            ret
        """

    @Test("every kind of store marks the pages it wrote, and only those")
    func storesMarkTheirPages() throws {
        let machine = try Machine(program: try assemble(Self.stores))
        let log = machine.memory.startTrackingWrites()
        #expect(machine.run(vcpu: 0, until: .max) == .halted)
        var pages: [Int] = []
        log.take(into: &pages)
        #expect(pages == [2, 3, 4, 5, 6, 7, 9, 10, 14])
        pages.removeAll()
        log.take(into: &pages)
        #expect(pages.isEmpty, "take clears the marks")
    }

    @Test("device and host writes mark their pages too")
    func deviceWritesMarkPages() throws {
        let machine = try Machine(program: try assemble(".memory 131072\n.text\nstart:\n    halt"))
        let log = machine.memory.startTrackingWrites()
        machine.memory.write([1, 2, 3], at: 0x10ffe)
        machine.memory.store64(9, at: 0x12000)
        var pages: [Int] = []
        log.take(into: &pages)
        #expect(pages == [16, 17, 18])
    }

    /// The tracking interpreter computes exactly what the untracked one does.
    @Test("tracking changes nothing the guest computes, and off, nothing is recorded")
    func trackingIsInvisible() throws {
        let program = try #require(try BuiltinPrograms.program(named: "sieve"))
        let tracked = try Machine(program: program), untracked = try Machine(program: program)
        let log = tracked.memory.startTrackingWrites()
        #expect(tracked.run(vcpu: 0, until: 3_000_000) == untracked.run(vcpu: 0, until: 3_000_000))
        #expect(tracked.stateHash() == untracked.stateHash())
        #expect(log.count > 0)
        #expect(untracked.memory.dirtyPages == nil)
        tracked.memory.stopTrackingWrites()
        #expect(tracked.memory.dirtyPages == nil)
    }
}
