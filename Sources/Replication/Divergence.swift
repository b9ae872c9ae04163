import LogChannel

/// Replay found the backup somewhere the log does not: never silent.
public struct Divergence: Error, Equatable, CustomStringConvertible, Sendable {
    /// The first log entry that does not match (when the log ended early, the seq that was due).
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
        let comparison = logged.map { logged in "; the log has \(logged), the replay \(replayed ?? "does not")" } ?? ""
        return "divergence at log entry #\(seq)\(kind.map { " (\($0))" } ?? ""), vCPU \(vcpu), instruction \(instructionCount): \(reason)\(comparison)"
    }
}
