import Testing

@testable import Replication

@Suite("SliceStretcher")
struct SliceStretcherTests {
    /// A stretcher that has seen one slice end: 20,000 instructions in 20 µs (1 per ns).
    static func warmed() -> SliceStretcher {
        var stretcher = SliceStretcher()
        _ = stretcher.end(from: 0, quantumEnd: 20_000, instructions: 0, now: 1_000_000, quietUntil: nil)
        return stretcher
    }

    @Test("with nothing due for long, a slice runs the maximum number of quanta")
    func quiet() {
        var stretcher = Self.warmed()
        let end = stretcher.end(from: 20_000, quantumEnd: 40_000, instructions: 20_000, now: 1_020_000, quietUntil: .max)
        #expect(end == 20_000 + SliceStretcher.maximumQuanta * 20_000)
    }

    @Test("a stretched slice ends, at the last slice's rate, before the next deadline")
    func deadline() {
        var stretcher = Self.warmed()
        // 70 µs to the tick at 1 instruction per ns: 70,000 instructions, three whole quanta.
        let end = stretcher.end(from: 20_000, quantumEnd: 40_000, instructions: 20_000, now: 1_020_000, quietUntil: 1_090_000)
        #expect(end == 80_000)
        // At half the rate, the same deadline is one quantum away and a half: one quantum.
        var slower = SliceStretcher()
        _ = slower.end(from: 0, quantumEnd: 20_000, instructions: 0, now: 1_000_000, quietUntil: nil)
        #expect(slower.end(from: 20_000, quantumEnd: 40_000, instructions: 20_000, now: 1_040_000, quietUntil: 1_110_000) == 40_000)
    }

    @Test("a slice that must end at its quantum does, and so does the first, with no rate yet")
    func notStretched() {
        var first = SliceStretcher()
        #expect(first.end(from: 0, quantumEnd: 20_000, instructions: 0, now: 1_000_000, quietUntil: .max) == 20_000)
        var stretcher = Self.warmed()
        #expect(stretcher.end(from: 20_000, quantumEnd: 40_000, instructions: 20_000, now: 1_020_000, quietUntil: nil) == 40_000)
        #expect(stretcher.end(from: 40_000, quantumEnd: 60_000, instructions: 40_000, now: 1_040_000, quietUntil: 1_030_000) == 60_000,
                "a deadline already passed")
        #expect(stretcher.end(from: 60_000, quantumEnd: .max, instructions: 60_000, now: 1_060_000, quietUntil: .max) == .max)
        // Eight quanta of 2^62 instructions (4 per ns, no deadline) overflow: one quantum, not
        // an end wrapped round to the slice's start (a slice of length 0, run again for ever).
        var huge = SliceStretcher()
        _ = huge.end(from: 0, quantumEnd: 20_000, instructions: 0, now: 1_000_000, quietUntil: nil)
        let quantum: UInt64 = 1 << 62
        #expect(huge.end(from: 80_000, quantumEnd: 80_000 + quantum, instructions: 80_000, now: 1_020_000, quietUntil: .max) == 80_000 + quantum)
    }
}
