import Testing

@testable import Replication

@Suite("FlushHistory")
struct FlushHistoryTests {
    @Test("an entry's publication time is that of the first flush that covered it")
    func lookup() {
        let history = FlushHistory(capacity: 8)
        history.record(lastSeq: 3, at: 100)
        history.record(lastSeq: 4, at: 200)
        history.record(lastSeq: 10, at: 300)
        #expect(history.publishedAt(seq: 1) == 100)
        #expect(history.publishedAt(seq: 3) == 100)
        #expect(history.publishedAt(seq: 4) == 200)
        #expect(history.publishedAt(seq: 5) == 300)
        #expect(history.publishedAt(seq: 11) == nil, "not published yet")
    }

    @Test("the backlog from an entry counts the time the primary ran, not the time it stood paused")
    func runningSince() {
        let history = FlushHistory(capacity: 8)
        history.record(lastSeq: 3, at: 1_000, pausedNanos: 0)
        history.record(lastSeq: 6, at: 2_000, pausedNanos: 0)
        // Paused for 5,000 ns between these two flushes.
        history.record(lastSeq: 9, at: 8_000, pausedNanos: 5_000)
        #expect(history.runningSince(seq: 1) == 2_000, "7,000 ns from the first flush to the last, 5,000 of them paused")
        #expect(history.runningSince(seq: 5) == 1_000)
        #expect(history.runningSince(seq: 9) == 0)
        #expect(history.runningSince(seq: 10) == nil, "not published yet")
        #expect(history.publishedAt(seq: 1) == 1_000, "the lag still counts from the publication time")
    }

    /// Main kept 65,536 per-entry stamps and answered the run's start for anything older, so a
    /// backup 65,536 entries behind looked seconds late and throttled the primary. Past its
    /// capacity the history now answers the oldest time it kept: a lag it can vouch for.
    @Test("beyond its capacity the oldest retained time is returned, never the run's start")
    func overflow() {
        let history = FlushHistory(capacity: 1 << 16)
        // 200,000 flushes of 4 entries each, 1 µs apart, starting at t = 1 s.
        for flush in 0..<200_000 {
            history.record(lastSeq: UInt64(flush + 1) * 4, at: 1_000_000_000 + UInt64(flush) * 1_000)
        }
        let oldestRetained = 1_000_000_000 + UInt64(200_000 - (1 << 16)) * 1_000
        #expect(history.publishedAt(seq: 1) == oldestRetained)
        #expect(history.publishedAt(seq: 700_000) == 1_000_000_000 + 174_999 * 1_000)
        #expect(history.publishedAt(seq: 800_000) == 1_000_000_000 + 199_999 * 1_000)
    }
}

/// The two halves of `publication(of:)`, which is all the primary asks, by name.
extension FlushHistory {
    func publishedAt(seq: UInt64) -> UInt64? { publication(of: seq)?.at }
    func runningSince(seq: UInt64) -> UInt64? { publication(of: seq)?.runningSince }
}
