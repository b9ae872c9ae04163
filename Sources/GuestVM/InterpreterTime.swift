/// Guest instructions and the host time they took inside the interpreter, over a run's plain
/// slices (`HostDriver.ranPlainSlice`): how fast the core a side ran on executed this guest. A
/// primary and its backup run the same slices, so the two sides' figures are of the same work.
public struct InterpreterTime: Equatable, Sendable {
    public var instructions: UInt64 = 0
    public var nanos: UInt64 = 0

    public init(instructions: UInt64 = 0, nanos: UInt64 = 0) {
        self.instructions = instructions
        self.nanos = nanos
    }

    public mutating func add(instructions: UInt64, nanos: UInt64) {
        self.instructions &+= instructions
        self.nanos &+= nanos
    }

    public static func + (a: InterpreterTime, b: InterpreterTime) -> InterpreterTime {
        InterpreterTime(instructions: a.instructions &+ b.instructions, nanos: a.nanos &+ b.nanos)
    }

    public static func += (a: inout InterpreterTime, b: InterpreterTime) { a = a + b }

    /// ns per guest instruction, or nil with nothing timed.
    public var nanosPerInstruction: Double? {
        instructions > 0 ? Double(nanos) / Double(instructions) : nil
    }
}
