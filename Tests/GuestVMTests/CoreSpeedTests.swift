import GuestVM
import Testing

@Suite("CoreSpeed")
struct CoreSpeedTests {
    /// Timing-dependent, so only what holds on any machine that runs the suite: a finite figure
    /// between 0.01 and 1,000 ns per instruction, whether measured in stretches or over the
    /// whole of `fib` (`calibrate`'s figure).
    @Test("ns per guest instruction is finite and positive, in stretches and over a whole run")
    func measured() {
        for (samples, instructions) in [(5, 400_000 as UInt64?), (1, nil)] {
            let nanos = CoreSpeed.nanosPerInstruction(samples: samples, instructions: instructions)
            #expect(nanos.isFinite && nanos > 0.01 && nanos < 1_000, "\(nanos) ns per instruction")
        }
    }
}
