import LogChannel
import Testing

@Suite("ChannelProfile and LinkModel")
struct ChannelProfileTests {
    @Test("presets and custom profiles parse", arguments: [
        ("loopback", 0, nil, ChannelProfile.Jitter.none),
        ("lan", 45_000, 10_000_000_000, .none),
        ("cross-city", 5_000_000, 1_000_000_000, .none),
        ("intercontinental", 75_000_000, 1_000_000_000, .none),
        ("200us", 200_000, nil, .none),
        ("1.5ms,bw=100mbit", 1_500_000, 100_000_000, .none),
        ("lan,jitter=normal:5us", 45_000, 10_000_000_000, .normal(stddevNanos: 5_000)),
        ("3ms,jitter=uniform:20us,bw=1gbit", 3_000_000, 1_000_000_000, .uniform(spreadNanos: 20_000)),
        ("metro,bw=unlimited,jitter=exp:10us", 1_000_000, nil, .exponential(meanNanos: 10_000)),
    ] as [(String, UInt64, UInt64?, ChannelProfile.Jitter)])
    func parse(_ spec: String, latency: UInt64, bandwidth: UInt64?, jitter: ChannelProfile.Jitter) throws {
        let profile = try ChannelProfile.parse(spec)
        #expect(profile.oneWayLatencyNanos == latency)
        #expect(profile.bandwidthBitsPerSecond == bandwidth)
        #expect(profile.jitter == jitter)
    }

    @Test("bad profiles are rejected with a message saying what is accepted", arguments: [
        ("nowhere", "unknown channel profile 'nowhere'"),
        ("", "empty channel profile"),
        ("-3ms", "unknown channel profile '-3ms'"),
        ("lan,bw=fast", "bandwidth 'fast' is not a rate"),
        ("lan,jitter=pink:5us", "unknown jitter kind 'pink'"),
        ("lan,jitter=normal", "jitter 'normal' is not KIND:SPREAD"),
        ("lan,color=red", "unknown channel option 'color'"),
        ("lan,bw", "channel option 'bw' is not KEY=VALUE"),
    ])
    func rejects(_ spec: String, message: String) {
        do {
            _ = try ChannelProfile.parse(spec)
            Issue.record("accepted \(spec)")
        } catch {
            #expect(error.description.hasPrefix(message), "\(error)")
        }
    }

    @Test("latency only: delivery = send + latency")
    func latency() {
        var link = LinkModel(profile: .lan, seed: 1)
        #expect(link.deliveryTime(sentAt: 1_000_000, bytes: 0) == 1_045_000)
    }

    @Test("bandwidth: each message occupies the link for its serialisation time, in FIFO order")
    func bandwidth() throws {
        var link = LinkModel(profile: try ChannelProfile.parse("1ms,bw=1mbit"), seed: 1)
        // 125 bytes at 1 Mbit/s take 1 ms to serialise.
        #expect(link.deliveryTime(sentAt: 0, bytes: 125) == 2_000_000)
        #expect(link.deliveryTime(sentAt: 0, bytes: 125) == 3_000_000, "queued behind the first")
        #expect(link.deliveryTime(sentAt: 10_000_000, bytes: 125) == 12_000_000, "an idle link starts at once")
    }

    @Test("jitter has the configured shape and never reorders", arguments: ["uniform:100us", "normal:100us", "exp:100us"])
    func jitter(kind: String) throws {
        let profile = try ChannelProfile.parse("1ms,jitter=\(kind)")
        var link = LinkModel(profile: profile, seed: 42)
        var previous: UInt64 = 0
        var delays: [Double] = []
        for i in 0..<20_000 {
            let sent = UInt64(i) * 1_000_000   // far apart, so FIFO rarely binds
            let delivered = link.deliveryTime(sentAt: sent, bytes: 0)
            #expect(delivered >= previous)
            previous = delivered
            delays.append(Double(delivered - sent) - 1_000_000)
        }
        let mean = delays.reduce(0, +) / Double(delays.count)
        let sd = (delays.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(delays.count)).squareRoot()
        switch profile.jitter {
        case .uniform:
            #expect(delays.allSatisfy { abs($0) <= 100_000 })
            #expect(abs(mean) < 3_000)
            #expect(abs(sd - 100_000 / 3.0.squareRoot()) < 3_000)
        case .normal:
            #expect(abs(mean) < 3_000)
            #expect(abs(sd - 100_000) < 3_000)
        case .exponential:
            #expect(delays.allSatisfy { $0 >= 0 })
            #expect(abs(mean - 100_000) < 4_000)
        case .none:
            Issue.record("no jitter")
        }
    }

    @Test("back-to-back messages with jitter stay in order")
    func fifo() throws {
        var link = LinkModel(profile: try ChannelProfile.parse("100us,jitter=normal:50us"), seed: 3)
        var previous: UInt64 = 0
        for i in 0..<10_000 {
            let delivered = link.deliveryTime(sentAt: UInt64(i) * 1_000, bytes: 64)
            #expect(delivered >= previous)
            previous = delivered
        }
    }
}
