#if canImport(Glibc)
import Glibc
#endif
import Topology

/// The emulated network between primary and backup: one-way latency, jitter and bandwidth.
/// The same profile applies to the log (primary to backup) and the ACKs (backup to primary).
public struct ChannelProfile: Equatable, Sendable, CustomStringConvertible {
    public enum Jitter: Equatable, Sendable {
        case none
        /// Uniform in [-spread, +spread] around the latency.
        case uniform(spreadNanos: UInt64)
        /// Normal with this standard deviation around the latency.
        case normal(stddevNanos: UInt64)
        /// An exponentially distributed extra delay with this mean (queueing in switches).
        case exponential(meanNanos: UInt64)
    }

    public var name: String
    public var oneWayLatencyNanos: UInt64
    public var jitter: Jitter
    /// Link bandwidth; nil means no serialisation delay.
    public var bandwidthBitsPerSecond: UInt64?

    public init(name: String, oneWayLatencyNanos: UInt64, jitter: Jitter = .none, bandwidthBitsPerSecond: UInt64? = nil) {
        self.name = name
        self.oneWayLatencyNanos = oneWayLatencyNanos
        self.jitter = jitter
        self.bandwidthBitsPerSecond = bandwidthBitsPerSecond
    }

    /// True when entries are deliverable the moment they are published: no clock is read.
    public var isImmediate: Bool { oneWayLatencyNanos == 0 && jitter == .none && bandwidthBitsPerSecond == nil }

    public var roundTripNanos: UInt64 { 2 * oneWayLatencyNanos }

    public static let loopback = ChannelProfile(name: "loopback", oneWayLatencyNanos: 0)
    /// 45 µs one way, ~90 µs round trip: the VMware FT paper's hypervisors on 10 GbE.
    public static let lan = ChannelProfile(name: "lan", oneWayLatencyNanos: 45_000, bandwidthBitsPerSecond: 10_000_000_000)
    public static let datacenter = ChannelProfile(name: "datacenter", oneWayLatencyNanos: 250_000, bandwidthBitsPerSecond: 10_000_000_000)
    public static let metro = ChannelProfile(name: "metro", oneWayLatencyNanos: 1_000_000, bandwidthBitsPerSecond: 10_000_000_000)
    /// 5 ms one way: the "several milliseconds" between cities.
    public static let crossCity = ChannelProfile(name: "cross-city", oneWayLatencyNanos: 5_000_000, bandwidthBitsPerSecond: 1_000_000_000)
    public static let intercontinental = ChannelProfile(name: "intercontinental", oneWayLatencyNanos: 75_000_000, bandwidthBitsPerSecond: 1_000_000_000)

    public static let presets: [ChannelProfile] = [.loopback, .lan, .datacenter, .metro, .crossCity, .intercontinental]

    public var description: String {
        var parts = ["\(name): \(Self.format(nanos: oneWayLatencyNanos)) one way"]
        switch jitter {
        case .none: break
        case .uniform(let s): parts.append("jitter uniform ±\(Self.format(nanos: s))")
        case .normal(let s): parts.append("jitter normal σ \(Self.format(nanos: s))")
        case .exponential(let m): parts.append("jitter exponential mean \(Self.format(nanos: m))")
        }
        parts.append(bandwidthBitsPerSecond.map { "\(Self.format(bitsPerSecond: $0))" } ?? "unlimited bandwidth")
        return parts.joined(separator: ", ")
    }

    /// Parses `PRESET` or `LATENCY`, optionally followed by `,bw=BANDWIDTH` and
    /// `,jitter=KIND:SPREAD`: `lan`, `3ms`, `200us,bw=1gbit`, `lan,jitter=normal:5us`,
    /// `cross-city,bw=unlimited`. Durations take ns, us (or µs), ms, s; bandwidths bit, kbit,
    /// mbit, gbit; jitter kinds are uniform, normal, exp and none.
    public static func parse(_ spec: String) throws(ProfileError) -> ChannelProfile {
        let parts = spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, !first.isEmpty else { throw ProfileError("empty channel profile") }
        var profile: ChannelProfile
        if let preset = presets.first(where: { $0.name == first }) {
            profile = preset
        } else if let latency = parseDuration(first) {
            guard latency <= maxOneWayLatencyNanos else {
                throw ProfileError("one-way latency '\(first)' is above the \(compact(nanos: maxOneWayLatencyNanos)) ftbench emulates: a run would wait that long for its first ACK")
            }
            profile = ChannelProfile(name: spec, oneWayLatencyNanos: latency)
        } else if first.first.map({ $0.isNumber || $0 == "." }) == true, ["ns", "us", "µs", "ms", "s"].contains(where: first.hasSuffix) {
            throw ProfileError("one-way latency '\(first)' is not a duration from 0 to \(compact(nanos: maxOneWayLatencyNanos))")
        } else {
            throw ProfileError("unknown channel profile '\(first)': use one of \(presets.map(\.name).joined(separator: ", ")) or a latency such as 200us or 3ms")
        }
        for option in parts.dropFirst() {
            let pair = option.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { throw ProfileError("channel option '\(option)' is not KEY=VALUE (bw=..., jitter=...)") }
            switch pair[0] {
            case "bw":
                if pair[1] == "unlimited" {
                    profile.bandwidthBitsPerSecond = nil
                } else if let bw = parseBandwidth(pair[1]) {
                    guard bw >= minBandwidthBitsPerSecond else {
                        throw ProfileError("bandwidth '\(pair[1])' is below the \(format(bitsPerSecond: minBandwidthBitsPerSecond)) ftbench emulates: one 64 KiB request entry would take \(compact(nanos: 65_536 * 8_000_000_000 / bw)) to send")
                    }
                    profile.bandwidthBitsPerSecond = bw
                } else {
                    throw ProfileError("bandwidth '\(pair[1])' is not a rate such as 1gbit, 100mbit or unlimited")
                }
            case "jitter":
                profile.jitter = try parseJitter(pair[1])
            default:
                throw ProfileError("unknown channel option '\(pair[0])' (use bw= or jitter=)")
            }
        }
        if parts.count > 1 || presets.allSatisfy({ $0.name != first }) { profile.name = spec }
        return profile
    }

    static func parseJitter(_ text: String) throws(ProfileError) -> Jitter {
        if text == "none" { return .none }
        let pair = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard pair.count == 2, let spread = parseDuration(pair[1]), spread <= maxOneWayLatencyNanos else {
            throw ProfileError("jitter '\(text)' is not KIND:SPREAD such as normal:5us, uniform:20us or exp:10us")
        }
        switch pair[0] {
        case "uniform": return .uniform(spreadNanos: spread)
        case "normal": return .normal(stddevNanos: spread)
        case "exp": return .exponential(meanNanos: spread)
        default: throw ProfileError("unknown jitter kind '\(pair[0])' (uniform, normal, exp or none)")
        }
    }

    /// `250us`, `1.5ms`, `0`: nanoseconds, or nil.
    public static func parseDuration(_ text: String) -> UInt64? {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)]
        if text == "0" { return 0 }
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value >= 0, value.isFinite, value * scale < 1e15 else { return nil }
            return UInt64((value * scale).rounded())
        }
        return nil
    }

    static func parseBandwidth(_ text: String) -> UInt64? {
        let units: [(String, Double)] = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1)]
        for (suffix, scale) in units where text.lowercased().hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value > 0, value.isFinite, value * scale < 1e15 else { return nil }
            return UInt64((value * scale).rounded())
        }
        return nil
    }

    /// The slowest link ftbench emulates: a profile beyond these bounds would keep a run waiting
    /// for minutes (main hung on `lan,bw=1bit` and on `1000s`).
    public static let maxOneWayLatencyNanos: UInt64 = 10_000_000_000
    public static let minBandwidthBitsPerSecond: UInt64 = 100_000

    /// A duration exactly, in the largest unit that divides it: `500ns`, `1500ns`, `45us`, `5ms`.
    public static func compact(nanos: UInt64) -> String {
        nanos >= 1_000_000_000 && nanos % 1_000_000_000 == 0 ? "\(nanos / 1_000_000_000)s"
            : nanos >= 1_000_000 && nanos % 1_000_000 == 0 ? "\(nanos / 1_000_000)ms"
            : nanos >= 1_000 && nanos % 1_000 == 0 ? "\(nanos / 1_000)us" : "\(nanos)ns"
    }

    /// The jitter as `--profile` writes it, exactly: `none`, `normal:500ns`, `uniform:20us`.
    public var jitterSpec: String {
        switch jitter {
        case .none: "none"
        case .uniform(let s): "uniform:\(Self.compact(nanos: s))"
        case .normal(let s): "normal:\(Self.compact(nanos: s))"
        case .exponential(let m): "exp:\(Self.compact(nanos: m))"
        }
    }

    static func format(nanos: UInt64) -> String {
        nanos >= 1_000_000 && nanos % 1_000_000 == 0 ? "\(nanos / 1_000_000) ms"
            : nanos >= 1_000 && nanos % 1_000 == 0 ? "\(nanos / 1_000) µs" : "\(nanos) ns"
    }

    static func format(bitsPerSecond: UInt64) -> String {
        bitsPerSecond % 1_000_000_000 == 0 ? "\(bitsPerSecond / 1_000_000_000) Gbit/s"
            : bitsPerSecond % 1_000_000 == 0 ? "\(bitsPerSecond / 1_000_000) Mbit/s" : "\(bitsPerSecond) bit/s"
    }
}

public struct ProfileError: Error, Equatable, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The link as a FIFO queue: a message occupies the link for its serialisation time, then
/// arrives after the latency plus jitter, and never overtakes the one before it.
public struct LinkModel: Sendable {
    public let profile: ChannelProfile
    private var linkFreeAt: UInt64 = 0
    private var lastDelivery: UInt64 = 0
    private var random: SplitMix64

    public init(profile: ChannelProfile, seed: UInt64) {
        self.profile = profile
        random = SplitMix64(seed: seed)
    }

    /// When a message of `bytes` sent at `sentAt` becomes deliverable.
    public mutating func deliveryTime(sentAt: UInt64, bytes: Int) -> UInt64 {
        let serialisation = profile.bandwidthBitsPerSecond.map { UInt64(bytes) * 8_000_000_000 / $0 } ?? 0
        let onWire = max(sentAt, linkFreeAt)
        linkFreeAt = onWire + serialisation
        let latency = Int64(profile.oneWayLatencyNanos) + sampleJitter()
        let arrival = linkFreeAt + UInt64(max(0, latency))
        lastDelivery = max(arrival, lastDelivery)
        return lastDelivery
    }

    private mutating func sampleJitter() -> Int64 {
        switch profile.jitter {
        case .none:
            return 0
        case .uniform(let spread):
            return Int64((random.nextUnit() * 2 - 1) * Double(spread))
        case .normal(let stddev):
            // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
            let u1 = 1 - random.nextUnit(), u2 = random.nextUnit()
            return Int64(sqrt(-2 * log(u1)) * cos(2 * Double.pi * u2) * Double(stddev))
        case .exponential(let mean):
            return Int64(-log(1 - random.nextUnit()) * Double(mean))
        }
    }
}
