/// The checks made on a log, live (the backup's) or recorded (a trace's reader and replay). All
/// are on in every command and run; tests switch single checks off (a negative control, through
/// `Sabotage` or a trace reader's argument) to show that the defect each one catches would
/// otherwise get through.
public struct LogChecks: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The file starts with "FTBTRACE".
    public static let magic = LogChecks(rawValue: 1 << 0)
    /// The trace format version is one this ftbench reads.
    public static let formatVersion = LogChecks(rawValue: 1 << 1)
    /// The header's CRC-32C matches its bytes.
    public static let headerChecksum = LogChecks(rawValue: 1 << 2)
    /// Every entry's CRC-32C matches its bytes.
    public static let entryChecksums = LogChecks(rawValue: 1 << 3)
    /// Every entry's chain checksum matches the trace it is in, at the place it is in.
    public static let chain = LogChecks(rawValue: 1 << 4)
    /// Sequence numbers run from 1 without gaps, repeats or swaps.
    public static let sequence = LogChecks(rawValue: 1 << 5)
    /// The log ends with an end-of-log entry, and nothing follows it.
    public static let endOfLog = LogChecks(rawValue: 1 << 6)
    /// The trace was recorded with this ftbench's guest ISA version.
    public static let isaVersion = LogChecks(rawValue: 1 << 7)
    /// The program replayed is the one recorded (equal code hashes).
    public static let programHash = LogChecks(rawValue: 1 << 8)
    /// The replayed machine's final state hash is the one the end-of-log entry carries.
    public static let finalState = LogChecks(rawValue: 1 << 9)

    public static let all: LogChecks = [.magic, .formatVersion, .headerChecksum, .entryChecksums, .chain, .sequence, .endOfLog,
                                          .isaVersion, .programHash, .finalState]
}
