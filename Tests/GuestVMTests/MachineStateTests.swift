import GuestVM
import Testing

/// `MachineState` and `Machine`'s capture and restore: what a state transfer sends besides pages.
@Suite("Machine state")
struct MachineStateTests {
    /// Copies `source` into a fresh machine of the same program: every page, then the state.
    static func copy(_ source: Machine) throws -> Machine {
        let copy = try Machine(program: source.program, vcpus: source.vcpuCount, memorySize: source.memory.size)
        for page in 0..<source.memory.pageCount { #expect(copy.restorePage(page, from: source.memory.page(page))) }
        let state = try source.captureState()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: state.encodedSize, alignment: 8)
        defer { buffer.deallocate() }
        state.encode(into: buffer)
        let decoded = try #require(MachineState(decoding: UnsafeRawBufferPointer(buffer)))
        #expect(decoded == state)
        try copy.restore(decoded)
        return copy
    }

    @Test("a machine restored from another's pages and state is identical and runs on identically")
    func restoreRunsOn() throws {
        let program = try #require(try BuiltinPrograms.program(named: "shared-counter"))
        let original = try Machine(program: program, vcpus: 4)
        for vcpu in 0..<4 { _ = original.run(vcpu: vcpu, until: 50_000 + UInt64(vcpu) * 777) }
        original.raise(.timer, vcpu: 2)
        let copy = try Self.copy(original)
        #expect(copy.stateHash() == original.stateHash())
        for vcpu in 0..<4 {
            #expect(copy.run(vcpu: vcpu, until: 200_000) == original.run(vcpu: vcpu, until: 200_000))
        }
        #expect(copy.stateHash() == original.stateHash())
    }

    @Test("a bad state or page is refused with a reason, never applied")
    func badStateRefused() throws {
        let program = try #require(try BuiltinPrograms.program(named: "fib"))
        let machine = try Machine(program: program)
        var state = try machine.captureState()
        state.vcpus[0].pc = 1 << 40
        #expect(throws: Machine.SnapshotError.self) { try machine.restore(state) }
        state = try machine.captureState()
        state.vcpus.append(state.vcpus[0])
        #expect(throws: Machine.SnapshotError.vcpuCountMismatch(state: 2, machine: 1)) { try machine.restore(state) }
        #expect(MachineState(decoding: UnsafeRawBufferPointer(start: nil, count: 0)) == nil)
        let short = [UInt8](repeating: 0, count: 16)
        #expect(short.withUnsafeBytes { MachineState(decoding: $0) } == nil)
        #expect(!machine.restorePage(machine.memory.pageCount, from: machine.memory.page(0)))
        #expect(!machine.restorePage(0, from: UnsafeRawBufferPointer(rebasing: machine.memory.page(0)[..<8])))
    }

    @Test("a faulted machine has no state worth transferring")
    func faultedRefused() throws {
        let (machine, exit) = try runToExit("start:\n    ud")
        guard case .fault = exit else { Issue.record("expected a fault, got \(exit)"); return }
        #expect(throws: Machine.SnapshotError.faulted(vcpu: 0)) { _ = try machine.captureState() }
    }
}
