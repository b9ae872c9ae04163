/// Counts the dynamic pairs of adjacent instructions a run executes: how often each opcode runs
/// straight on into the next, which is what tells which superinstructions would pay
/// (docs/INTERPRETER.md, "Superinstructions"). `ftbench exec --pairs N` prints the commonest.
///
/// A driver around another: it ends every run after one instruction (`sliceLimit`), so the
/// run is single-stepped, many times slower than a normal one, and reads each instruction from
/// the program as assembled (a vCPU's own copy holds superinstructions). Only pairs whose first
/// instruction falls through (`InstructionClass.straight`) count: only those can be fused.
public struct PairProfile<Inner: HostDriver>: HostDriver {
    public var inner: Inner
    private let machine: Machine
    /// Per vCPU: the instruction count and pc last seen, or nil before the first step.
    private var last: [(count: UInt64, pc: Int)?]
    /// Pair counts indexed by `first * opcodeCount + second`.
    private var counts: [UInt64]
    private static var opcodeCount: Int { Opcode.allCases.count }

    public init(_ inner: Inner, machine: Machine) {
        self.inner = inner
        self.machine = machine
        last = Array(repeating: nil, count: machine.vcpuCount)
        counts = Array(repeating: 0, count: Self.opcodeCount * Self.opcodeCount)
    }

    /// One pair and how often it ran.
    public struct Pair: Equatable, Sendable {
        public var first: Opcode
        public var second: Opcode
        public var count: UInt64
    }

    /// Every pair that ran, commonest first (ties in opcode order).
    public var pairs: [Pair] {
        var result: [Pair] = []
        for (index, count) in counts.enumerated() where count > 0 {
            result.append(Pair(first: Opcode.allCases[index / Self.opcodeCount], second: Opcode.allCases[index % Self.opcodeCount], count: count))
        }
        return result.sorted { $0.count > $1.count }
    }

    public mutating func sliceLimit(vcpu: Int, count: UInt64, end: UInt64) throws -> UInt64 {
        let pc = machine.pc(vcpu: vcpu)
        let instructions = machine.program.instructions
        if let previous = last[vcpu], previous.count + 1 == count, previous.pc + 1 == pc,
           instructions.indices.contains(pc) {
            let first = instructions[previous.pc].op
            if first.instructionClass == .straight {
                counts[Int(first.rawValue) * Self.opcodeCount + Int(instructions[pc].op.rawValue)] += 1
            }
        }
        last[vcpu] = (count, pc)
        return min(try inner.sliceLimit(vcpu: vcpu, count: count, end: end), count + 1)
    }

    public mutating func sliceEnd(vcpu: Int, count: UInt64, quantumEnd: UInt64) throws -> UInt64 {
        try inner.sliceEnd(vcpu: vcpu, count: count, quantumEnd: quantumEnd)
    }

    public mutating func injectEvents(into machine: Machine, vcpu: Int, count: UInt64) throws {
        try inner.injectEvents(into: machine, vcpu: vcpu, count: count)
    }

    public mutating func value(for exit: Exit, vcpu: Int, count: UInt64) throws -> UInt64 {
        try inner.value(for: exit, vcpu: vcpu, count: count)
    }

    public mutating func output(_ bytes: UnsafeRawBufferPointer, vcpu: Int, count: UInt64) throws {
        try inner.output(bytes, vcpu: vcpu, count: count)
    }

    public mutating func idle(_ machine: Machine) throws -> Bool { try inner.idle(machine) }

    public var isFinished: Bool { inner.isFinished }
}
