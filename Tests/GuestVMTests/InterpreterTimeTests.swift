import GuestVM
import Testing

/// `Machine.drive` timing the slices that run in one call of the interpreter
/// (`HostDriver.ranPlainSlice`), which a replicated run reads as each side's core speed.
@Suite("InterpreterTime")
struct InterpreterTimeTests {
    /// A standalone driver that asks for plain slices to be timed and keeps what it is told.
    struct TimingDriver: HostDriver {
        var inner = StandaloneDriver(seed: 1)
        var time = InterpreterTime()
        var plainSlices = 0

        static var timesPlainSlices: Bool { true }

        mutating func ranPlainSlice(instructions: UInt64, nanos: UInt64) {
            time.add(instructions: instructions, nanos: nanos)
            plainSlices += 1
        }

        mutating func sliceEnd(vcpu: Int, count: UInt64, quantumEnd: UInt64) throws -> UInt64 {
            try inner.sliceEnd(vcpu: vcpu, count: count, quantumEnd: quantumEnd)
        }
        mutating func injectEvents(into machine: Machine, vcpu: Int, count: UInt64) throws {
            try inner.injectEvents(into: machine, vcpu: vcpu, count: count)
        }
        mutating func value(for exit: Exit, vcpu: Int, count: UInt64) throws -> UInt64 {
            try inner.value(for: exit, vcpu: vcpu, count: count)
        }
        mutating func output(_ bytes: UnsafeRawBufferPointer, vcpu: Int, count: UInt64) throws {
            try inner.output(bytes, vcpu: vcpu, count: count)
        }
        mutating func idle(_ machine: Machine) throws -> Bool { try inner.idle(machine) }
    }

    /// 30,000 iterations of a two-instruction loop, then `halt`: no exit before the last.
    static let quiet = """
        li r1, 0
        li r2, 30000
    .loop:
        addi r1, r1, 1
        blt r1, r2, .loop
        halt
    """

    @Test("a guest without exits is timed in every slice but the short last one")
    func everySliceTimed() throws {
        let machine = try Machine(program: try assemble(Self.quiet))
        var driver = TimingDriver()
        let summary = try machine.drive(&driver, quantum: 10_000)
        // 60,003 instructions: six slices of 10,000, then 3 (halt), too short to time.
        #expect(summary.totalInstructions == 60_003)
        #expect(driver.plainSlices == 6)
        #expect(driver.time.instructions == 60_000)
        #expect(driver.time.nanosPerInstruction.map { $0 > 0 && $0.isFinite } == true)
    }

    @Test("a slice with a clock read in it is not timed; the slices around it are")
    func exitsLeaveSlicesOut() throws {
        // 50,005 instructions in slices of 10,000; the `rdclock` is instruction 25,003, in the third.
        let machine = try Machine(program: try assemble("""
            li r1, 0
            li r2, 12500
        .first:
            addi r1, r1, 1
            blt r1, r2, .first
            rdclock r5
            li r1, 0
        .second:
            addi r1, r1, 1
            blt r1, r2, .second
            halt
        """))
        var driver = TimingDriver()
        let summary = try machine.drive(&driver, quantum: 10_000)
        #expect(summary.totalInstructions == 50_005)
        #expect(driver.plainSlices == 4)
        #expect(driver.time.instructions == 40_000)
    }

    @Test("a driver that does not ask is told nothing")
    func offByDefault() throws {
        #expect(!StandaloneDriver.timesPlainSlices)
        #expect(InterpreterTime().nanosPerInstruction == nil)
        #expect((InterpreterTime(instructions: 2, nanos: 3) + InterpreterTime(instructions: 2, nanos: 5)).nanosPerInstruction == 2)
    }
}
