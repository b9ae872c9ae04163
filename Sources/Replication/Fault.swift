import LogChannel

/// One side of a replicated pair. Side A starts as the primary, side B as its backup; after a
/// failover the roles follow the arbiter, the names stay.
public enum Side: Int, Sendable, CustomStringConvertible {
    case a = 0
    case b = 1

    public var other: Side { self == .a ? .b : .a }
    public var description: String { self == .a ? "A" : "B" }
}

/// When a fault strikes: a time from the start of the run (warm-up included), or the moment the
/// guest has retired an instruction count (on the side the fault concerns; windows count the
/// live primary's instructions).
public enum FaultTime: Equatable, Sendable, CustomStringConvertible {
    case elapsed(nanos: UInt64)
    case instructions(UInt64)

    public var description: String {
        switch self {
        case .elapsed(let n): ChannelProfile.compact(nanos: n)
        case .instructions(let n): "icount:\(n)"
        }
    }
}

/// A fault to inject into a run (`ftbench run --fault SPEC`).
public enum Fault: Equatable, Sendable, CustomStringConvertible {
    /// The side stops at once, as a process that died: none of its code runs after the instant,
    /// it closes nothing, what it appended but did not flush is lost, held outputs never leave.
    /// A primary crash strikes at `at` exactly; a backup crash at its next slice boundary.
    case crash(Side, at: FaultTime)
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
        case .crash(let side, _): side == .a ? "primary-crash" : "backup-crash"
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
        case .crash: return window
        case .partition: return window
        case .arbiterPartition(_, _, let side): return window + ":" + (side == .a ? "primary" : "backup")
        case .latencySpike(_, _, let extra): return window + ":" + ChannelProfile.compact(nanos: extra)
        case .slowBackup(_, _, let fraction): return window + ":\(fraction)"
        }
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
        let time: FaultTime
        if rest.hasPrefix("icount:") {
            guard let n = UInt64(rest.dropFirst(7)), n > 0 else { throw fail("time '\(rest)' is not icount:N with N a positive instruction count") }
            time = .instructions(n)
        } else {
            guard let n = ChannelProfile.parseDuration(String(rest)) else {
                throw fail("time '\(rest)' is not a duration such as 1.5s or 300ms, or icount:N")
            }
            time = .elapsed(nanos: n)
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
        case "primary-crash": return .crash(.a, at: time)
        case "backup-crash": return .crash(.b, at: time)
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
