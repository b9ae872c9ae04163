import LogChannel
import Testing

@Suite("AckPolicy and AckBatcher")
struct AckPolicyTests {
    @Test("policies parse", arguments: [
        ("every", AckPolicy.everyEntry), ("every:16", .everyN(16)), ("interval:100us", .interval(nanos: 100000)),
        ("interval:2ms", .interval(nanos: 2000000)), ("output-aware", .outputAware(batch: 64)), ("output-aware:8", .outputAware(batch: 8)),
    ])
    func parse(_ text: String, _ policy: AckPolicy) throws {
        #expect(try AckPolicy.parse(text) == policy)
        #expect(try AckPolicy.parse(policy.description) == policy)
    }

    @Test("bad policies are rejected", arguments: ["sometimes", "every:0", "every:x", "interval:5", "interval:10ns", ""])
    func rejects(_ text: String) {
        #expect(throws: ProfileError.self) { try AckPolicy.parse(text) }
    }

    func acks(_ policy: AckPolicy, _ entries: [(seq: UInt64, output: Bool, at: UInt64)]) -> [UInt64?] {
        var batcher = AckBatcher(policy: policy)
        return entries.map { batcher.received(seq: $0.seq, flags: $0.output ? .precedesOutput : [], now: $0.at) }
    }

    @Test("every entry")
    func every() {
        #expect(acks(.everyEntry, [(1, false, 0), (2, false, 0)]) == [1, 2])
    }

    @Test("every N entries, cumulatively")
    func everyN() {
        let result = acks(.everyN(3), (1...7).map { (UInt64($0), false, 0) })
        #expect(result == [nil, nil, 3, nil, nil, 6, nil])
    }

    @Test("every T microseconds, on arrival or when the timer fires")
    func interval() {
        var batcher = AckBatcher(policy: .interval(nanos: 100000))
        #expect(batcher.received(seq: 1, flags: [], now: 1_000) == nil)
        #expect(batcher.nextDeadline == 101_000)
        #expect(batcher.received(seq: 2, flags: [], now: 50_000) == nil)
        #expect(batcher.timerFired(now: 100_999) == nil)
        #expect(batcher.timerFired(now: 101_000) == 2)
        #expect(batcher.nextDeadline == nil)
        #expect(batcher.received(seq: 3, flags: [], now: 200_000) == nil)
        #expect(batcher.received(seq: 4, flags: [], now: 300_000) == 4, "the oldest waited past the interval")
    }

    @Test("output-aware: at once before an output, batched otherwise")
    func outputAware() {
        let result = acks(.outputAware(batch: 4), [(1, false, 0), (2, true, 0), (3, false, 0), (4, false, 0), (5, false, 0), (6, false, 0), (7, false, 0)])
        #expect(result == [nil, 2, nil, nil, nil, 6, nil])
    }

    @Test("flush acknowledges whatever is pending")
    func flush() {
        var batcher = AckBatcher(policy: .everyN(10))
        #expect(batcher.flush() == nil)
        _ = batcher.received(seq: 5, flags: [], now: 0)
        #expect(batcher.flush() == 5)
        #expect(batcher.flush() == nil)
    }
}
