import GuestVM
import Harness
import Testing

@Suite("KVClient")
struct KVClientTests {
    func reply(_ seq: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: KVStoreProtocol.replySize)
        for b in 0..<8 { bytes[b] = UInt8(truncatingIfNeeded: seq >> (8 * b)) }
        bytes[8] = 1
        return bytes
    }

    @Test("latency is measured from the intended send time, and also from the actual one")
    func coordinatedOmission() {
        let client = KVClient(rate: 1_000, arrivals: .constant, seed: 1, start: 1_000_000)
        client.startMeasuring(now: 0)
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(client.nextIntendedTime == 1_000_000)
        // The server was stalled: the request intended at 1 ms goes out at 5 ms.
        _ = buffer.withUnsafeMutableBytes { client.sendNext(into: $0, now: 5_000_000) }
        #expect(client.nextIntendedTime == 2_000_000, "the schedule does not slip")
        _ = reply(1).withUnsafeBytes { client.receive($0, now: 6_000_000) }
        #expect(client.latency.max >= 4_990_000, "charged from 1 ms")
        #expect(client.uncorrected.max <= 1_001_000, "from when it was sent")
    }

    @Test("duplicate and unknown replies are dropped and counted")
    func duplicates() {
        let client = KVClient(rate: 1_000, arrivals: .constant, seed: 1, start: 0)
        client.startMeasuring(now: 0)
        var buffer = [UInt8](repeating: 0, count: 64)
        _ = buffer.withUnsafeMutableBytes { client.sendNext(into: $0, now: 0) }
        _ = reply(1).withUnsafeBytes { client.receive($0, now: 10) }
        _ = reply(1).withUnsafeBytes { client.receive($0, now: 20) }
        _ = reply(7).withUnsafeBytes { client.receive($0, now: 30) }
        _ = ([1, 2, 3] as [UInt8]).withUnsafeBytes { client.receive($0, now: 40) }
        #expect(client.repliesMeasured == 1)
        #expect(client.duplicateReplies == 1)
        #expect(client.unknownReplies == 2)
    }

    @Test("Poisson arrivals have the configured mean rate")
    func poisson() {
        let client = KVClient(rate: 10_000, arrivals: .poisson, seed: 3, start: 0)
        var buffer = [UInt8](repeating: 0, count: 64)
        for _ in 0..<20_000 { _ = buffer.withUnsafeMutableBytes { client.sendNext(into: $0, now: 0) } }
        let meanGap = Double(client.nextIntendedTime ?? 0) / 20_000
        #expect(abs(meanGap - 100_000) < 3_000)
    }

    @Test("closed loop keeps N requests outstanding")
    func closedLoop() {
        let client = KVClient(rate: 1, arrivals: .closed(outstanding: 2), seed: 1, start: 0)
        var buffer = [UInt8](repeating: 0, count: 64)
        _ = buffer.withUnsafeMutableBytes { client.sendNext(into: $0, now: 0) }
        _ = buffer.withUnsafeMutableBytes { client.sendNext(into: $0, now: 0) }
        #expect(client.nextIntendedTime == nil)
        _ = reply(1).withUnsafeBytes { client.receive($0, now: 50) }
        #expect(client.nextIntendedTime == 50)
    }

    /// Main neither counted nor charged requests that were due but never sent (past
    /// saturation), so the latency figures described only the lucky ones.
    @Test("requests never sent, or never answered, are counted and charged from their intended time")
    func unsentCharged() {
        let client = KVClient(rate: 1_000, arrivals: .constant, seed: 1, start: 0)
        client.startMeasuring(now: 0)
        var buffer = [UInt8](repeating: 0, count: 64)
        // Requests 1 and 2 (intended at 0 and 1 ms) are sent; only 1 is answered.
        for _ in 0..<2 { _ = buffer.withUnsafeMutableBytes { client.sendNext(into: $0, now: 100) } }
        _ = reply(1).withUnsafeBytes { client.receive($0, now: 200) }
        client.stopMeasuring(now: 10_000_000)
        client.chargeUnanswered(now: 10_000_000)
        // Intended in [0, 10 ms): 10 requests; 2 sent, 1 answered, 1 unanswered, 8 never sent.
        #expect(client.intendedMeasured == 10)
        #expect(client.sentMeasured == 2 && client.repliesMeasured == 1)
        #expect(client.unansweredMeasured == 1 && client.unsentMeasured == 8)
        #expect(client.latency.totalCount == 10, "every intended request is in the latency figures")
        #expect(client.latency.max >= 8_990_000, "the unanswered request (intended at 1 ms) waited 9 ms")
    }

    /// At 10^12 requests/s main recorded an achieved rate of 0 while serving ~470,000: intended
    /// times rounded to whole nanoseconds never advanced past the warm-up.
    @Test("an absurd offered rate still reports the replies achieved and charges the backlog in bulk")
    func absurdRate() {
        let client = KVClient(rate: 1e12, arrivals: .poisson, seed: 1, start: 0)
        var buffer = [UInt8](repeating: 0, count: 64)
        client.startMeasuring(now: 1_000)
        for seq in 1...100 {
            _ = buffer.withUnsafeMutableBytes { client.sendNext(into: $0, now: 2_000) }
            _ = reply(UInt64(seq)).withUnsafeBytes { client.receive($0, now: 3_000) }
        }
        client.stopMeasuring(now: 1_001_000)
        client.chargeUnanswered(now: 1_001_000)
        #expect(client.repliesInWindow == 100)
        // 1 ms at 10^12/s: ~10^9 requests intended, nearly all never sent.
        #expect(client.intendedMeasured > 900_000_000)
        #expect(client.latency.totalCount == UInt64(client.intendedMeasured - client.sentMeasured + client.repliesMeasured))
    }
}
