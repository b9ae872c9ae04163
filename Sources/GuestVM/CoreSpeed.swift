import Topology

/// How fast the calling thread's core runs the guest interpreter: nanoseconds per guest
/// instruction of the built-in `fib`, run directly (no driver, no log).
///
/// `ftbench calibrate` reports it. (Replicated runs measured each side's core with it before and
/// after the run until aa0ef36; they now time the guest itself, `InterpreterTime`.)
public enum CoreSpeed {
    /// The median of `samples` stretches of `instructions` each (about 0.4 ms apiece here), or
    /// of one run of `fib` to its end if `instructions` is nil. NaN if `fib` cannot be built.
    public static func nanosPerInstruction(samples: Int = 5, instructions: UInt64? = 400_000) -> Double {
        precondition(samples > 0, "at least one sample")
        guard let program = try? BuiltinPrograms.program(named: "fib"), let machine = try? Machine(program: program) else { return .nan }
        var times: [Double] = []
        for _ in 0..<samples {
            let before = machine.instructionCount(vcpu: 0)
            let limit = instructions.map { before + $0 } ?? .max
            let start = monotonicNanos()
            while !machine.isHalted(vcpu: 0), machine.instructionCount(vcpu: 0) < limit {
                _ = machine.run(vcpu: 0, until: limit)
            }
            let retired = machine.instructionCount(vcpu: 0) - before
            guard retired > 0 else { break }
            times.append(Double(monotonicNanos() - start) / Double(retired))
        }
        guard !times.isEmpty else { return .nan }
        times.sort()
        return times[times.count / 2]
    }
}
