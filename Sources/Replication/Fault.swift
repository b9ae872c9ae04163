import LogChannel
import Topology

/// One side of a replicated pair. Side A starts as the primary, side B as its backup; after a
/// failover the roles follow the arbiter, the names stay.
public enum Side: Int, Sendable, CustomStringConvertible {
    case a = 0
    case b = 1

    public var other: Side { self == .a ? .b : .a }
    public var description: String { self == .a ? "A" : "B" }
}

/// A side's role when a fault strikes: a crash hits whichever side holds the role then.
public enum Role: Sendable, Equatable {
    case primary
    case backup
}

/// When a fault strikes: a time from the start of the run (warm-up included), or the moment the
/// guest has retired an instruction count (on the side the fault concerns; windows count the
/// live primary's instructions).
///
/// A range (`0.5s..1.5s`, `icount:100000..500000`) is a point drawn uniformly from it for each
/// run (each round of `--repeat` draws again, from the seed and the round), so that one command
/// sweeps random fault points reproducibly.
public enum FaultTime: Equatable, Sendable, CustomStringConvertible {
    case elapsed(nanos: UInt64)
    case instructions(UInt64)
    case randomElapsed(ClosedRange<UInt64>)
    case randomInstructions(ClosedRange<UInt64>)

    public var description: String {
        switch self {
        case .elapsed(let n): ChannelProfile.compact(nanos: n)
        case .instructions(let n): "icount:\(n)"
        case .randomElapsed(let r): "\(ChannelProfile.compact(nanos: r.lowerBound))..\(ChannelProfile.compact(nanos: r.upperBound))"
        case .randomInstructions(let r): "icount:\(r.lowerBound)..\(r.upperBound)"
        }
    }

    /// A range's point drawn from `random` (whole milliseconds for times); a point as it is.
    func drawn(_ random: inout SplitMix64) -> FaultTime {
        switch self {
        case .elapsed, .instructions: return self
        case .randomElapsed(let r):
            let steps = (r.upperBound - r.lowerBound) / 1_000_000
            return .elapsed(nanos: r.lowerBound + (steps == 0 ? 0 : random.next() % (steps + 1)) * 1_000_000)
        case .randomInstructions(let r):
            return .instructions(r.lowerBound + random.next() % (r.upperBound - r.lowerBound + 1))
        }
    }

    /// The latest time it can denote, for checks against the run's length.
    public var latestElapsed: UInt64? {
        switch self {
        case .elapsed(let n): n
        case .randomElapsed(let r): r.upperBound
        case .instructions, .randomInstructions: nil
        }
    }

    static func parse(_ text: Substring) -> FaultTime? {
        let isCount = text.hasPrefix("icount:")
        let parts = (isCount ? text.dropFirst(7) : text).split(separator: "..", omittingEmptySubsequences: false)
        if isCount {
            let counts = parts.compactMap { UInt64($0) }.filter { $0 > 0 }
            guard counts.count == parts.count else { return nil }
            if counts.count == 1 { return .instructions(counts[0]) }
            return counts.count == 2 && counts[0] <= counts[1] ? .randomInstructions(counts[0]...counts[1]) : nil
        }
        let times = parts.compactMap { ChannelProfile.parseDuration(String($0)) }
        guard times.count == parts.count else { return nil }
        if times.count == 1 { return .elapsed(nanos: times[0]) }
        return times.count == 2 && times[0] <= times[1] ? .randomElapsed(times[0]...times[1]) : nil
    }
}

/// A fault to inject into a run (`ftbench run --fault SPEC`).
public enum Fault: Equatable, Sendable, CustomStringConvertible {
    /// The side in `role` at the time stops at once, as a process that died: none of its code
    /// runs after the instant, it closes nothing, what it appended but did not flush is lost,
    /// held outputs never leave. A primary crash strikes at `at` exactly; a backup crash at its
    /// next slice boundary or while it waits for the log. Several crashes of one role strike in
    /// the order given, each the side that holds the role when its turn comes (a role no side
    /// holds yet, such as a backup still being restored, is struck once a side takes it).
    case crash(Role, at: FaultTime)
    /// The logging channel delivers nothing, either way, for `duration` (what was sent arrives
    /// when it heals); both sides still reach the clients and the arbiter.
    case partition(at: FaultTime, duration: UInt64)
    /// `side` cannot reach the arbiter for `duration`.
    case arbiterPartition(at: FaultTime, duration: UInt64, side: Side)
    /// Every message on the logging channel arrives `extra` later for `duration`.
    case latencySpike(at: FaultTime, duration: UInt64, extra: UInt64)
    /// The backup runs at `fraction` of its speed for `duration`.
    case slowBackup(at: FaultTime, duration: UInt64, fraction: Double)

    public var at: FaultTime {
        switch self {
        case .crash(_, let t), .partition(let t, _), .arbiterPartition(let t, _, _), .latencySpike(let t, _, _), .slowBackup(let t, _, _): t
        }
    }

    /// How long the fault lasts; nil for a crash.
    public var duration: UInt64? {
        switch self {
        case .crash: nil
        case .partition(_, let d), .arbiterPartition(_, let d, _), .latencySpike(_, let d, _), .slowBackup(_, let d, _): d
        }
    }

    public var kind: String {
        switch self {
        case .crash(let role, _): role == .primary ? "primary-crash" : "backup-crash"
        case .partition: "partition"
        case .arbiterPartition: "arbiter-partition"
        case .latencySpike: "latency-spike"
        case .slowBackup: "slow-backup"
        }
    }

    /// The spec, as `--fault` takes it.
    public var description: String {
        let window = "\(kind)@\(at)" + (duration.map { "+" + ChannelProfile.compact(nanos: $0) } ?? "")
        switch self {
        case .crash, .partition: return window
        case .arbiterPartition(_, _, let side): return window + ":" + (side == .a ? "primary" : "backup")
        case .latencySpike(_, _, let extra): return window + ":" + ChannelProfile.compact(nanos: extra)
        case .slowBackup(_, _, let fraction): return window + ":\(fraction)"
        }
    }

    /// With any time range replaced by a point drawn from `random`.
    public func drawn(_ random: inout SplitMix64) -> Fault {
        switch self {
        case .crash(let role, let t): .crash(role, at: t.drawn(&random))
        case .partition(let t, let d): .partition(at: t.drawn(&random), duration: d)
        case .arbiterPartition(let t, let d, let side): .arbiterPartition(at: t.drawn(&random), duration: d, side: side)
        case .latencySpike(let t, let d, let extra): .latencySpike(at: t.drawn(&random), duration: d, extra: extra)
        case .slowBackup(let t, let d, let fraction): .slowBackup(at: t.drawn(&random), duration: d, fraction: fraction)
        }
    }

    /// Draws every range in `faults` for round `round` of a run seeded with `seed`.
    public static func draw(_ faults: [Fault], seed: UInt64, round: Int) -> [Fault] {
        var random = SplitMix64(seed: seed ^ 0xFA_0175 ^ UInt64(round) &* 0x9E37_79B9_7F4A_7C15)
        return faults.map { $0.drawn(&random) }
    }

    /// Parses `KIND@T[+D][:ARG]`; the error names the part that is wrong.
    public static func parse(_ spec: String) throws(FaultSpecError) -> Fault {
        let fail = { (problem: String) in FaultSpecError("'\(spec)': \(problem)") }
        let kinds = ["primary-crash", "backup-crash", "partition", "arbiter-partition", "latency-spike", "slow-backup"]
        guard let atSign = spec.firstIndex(of: "@") else {
            throw fail("expected KIND@TIME, KIND one of \(kinds.joined(separator: ", "))")
        }
        let kind = String(spec[..<atSign])
        guard kinds.contains(kind) else { throw fail("unknown fault kind '\(kind)' (\(kinds.joined(separator: ", ")))") }
        var rest = Substring(spec[spec.index(after: atSign)...])
        var argument: Substring?
        if let colon = rest.lastIndex(of: ":"), !rest[..<colon].hasSuffix("icount") {
            argument = rest[rest.index(after: colon)...]
            rest = rest[..<colon]
        }
        var durationText: Substring?
        if let plus = rest.firstIndex(of: "+") {
            durationText = rest[rest.index(after: plus)...]
            rest = rest[..<plus]
        }
        guard let time = FaultTime.parse(rest) else {
            throw fail(rest.hasPrefix("icount:") ? "time '\(rest)' is not icount:N or icount:LOW..HIGH with positive instruction counts"
                : "time '\(rest)' is not a duration such as 1.5s or 300ms, a range such as 0.5s..1.5s, or icount:N")
        }
        let windowed = kind != "primary-crash" && kind != "backup-crash"
        var duration: UInt64 = 0
        if windowed {
            guard let durationText else { throw fail("\(kind) needs a duration: \(kind)@T+D, such as \(kind)@1s+200ms") }
            guard let d = ChannelProfile.parseDuration(String(durationText)), d > 0 else {
                throw fail("duration '\(durationText)' is not a positive duration such as 200ms")
            }
            duration = d
        } else if durationText != nil {
            throw fail("a crash has no duration: \(kind)@T")
        }
        let needsArgument = ["arbiter-partition", "latency-spike", "slow-backup"].contains(kind)
        if !needsArgument, let argument { throw fail("\(kind) takes no ':\(argument)'") }
        if needsArgument, argument == nil {
            let example = kind == "arbiter-partition" ? ":primary or :backup" : kind == "latency-spike" ? ":LATENCY such as :5ms" : ":FRACTION such as :0.5"
            throw fail("\(kind) needs \(example) after the duration")
        }
        switch kind {
        case "primary-crash": return .crash(.primary, at: time)
        case "backup-crash": return .crash(.backup, at: time)
        case "partition": return .partition(at: time, duration: duration)
        case "arbiter-partition":
            guard let side = argument.flatMap({ $0 == "primary" ? Side.a : $0 == "backup" ? Side.b : nil }) else {
                throw fail("side '\(argument!)' is not primary or backup")
            }
            return .arbiterPartition(at: time, duration: duration, side: side)
        case "latency-spike":
            guard let extra = ChannelProfile.parseDuration(String(argument!)), extra > 0, extra <= ChannelProfile.maxOneWayLatencyNanos else {
                throw fail("latency '\(argument!)' is not a positive duration up to 10s, such as 5ms")
            }
            return .latencySpike(at: time, duration: duration, extra: extra)
        default:
            guard let fraction = Double(argument!), fraction > 0, fraction <= 1 else {
                throw fail("fraction '\(argument!)' is not a number in (0, 1], such as 0.5")
            }
            return .slowBackup(at: time, duration: duration, fraction: fraction)
        }
    }
}

public struct FaultSpecError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
