import LogChannel

/// Replay found the backup somewhere the log does not: never silent.
public struct Divergence: Error, Equatable, CustomStringConvertible, Sendable {
    /// The first log entry that does not match (when the log ended early, the seq that was due);
    /// 0 when there is no log to point into.
    public var seq: UInt64
    public var vcpu: Int
    public var instructionCount: UInt64
    /// The kind of the entry at `seq` (nil when the log ended before it).
    public var kind: LogEntryKind?
    public var reason: String
    /// What the log says there, and what the replay did instead (nil where the reason says all).
    public var logged: String?
    public var replayed: String?

    public init(seq: UInt64, vcpu: Int, instructionCount: UInt64, kind: LogEntryKind? = nil, reason: String,
                logged: String? = nil, replayed: String? = nil) {
        self.seq = seq
        self.vcpu = vcpu
        self.instructionCount = instructionCount
        self.kind = kind
        self.reason = reason
        self.logged = logged
        self.replayed = replayed
    }

    public var description: String {
        // Seq 0 is no entry: a divergence found without a log, between the free interleaving's
        // two executions.
        let (place, first, second) = seq == 0
            ? ("divergence without a log", "the primary has", "the backup")
            : ("divergence at log entry #\(seq)\(kind.map { " (\($0))" } ?? "")", "the log has", "the replay")
        let comparison = logged.map { logged in "; \(first) \(logged), \(second) \(replayed ?? "does not")" } ?? ""
        return "\(place), vCPU \(vcpu), instruction \(instructionCount): \(reason)\(comparison)"
    }
}
