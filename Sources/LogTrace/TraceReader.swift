import CPlatform
import LogChannel
import Topology

/// One entry of a trace, read in place: `entry.payload` points into the mapped file and stays
/// valid while the reader's `TraceFile` lives.
public struct TraceRecord {
    public let entry: LogEntryView
    /// Where the entry starts in the file.
    public let offset: Int
    /// Its bytes in the file: the encoded entry and its chain checksum.
    public let size: Int
}

/// A trace file, mapped, with its header read and checked. (Whether it fits the guest, its ISA
/// version and program, is for the replay to check: this module knows logs, not guests.)
public final class TraceFile {
    public let path: String
    public let header: TraceHeader
    let file: MappedFile
    let headerSize: Int
    let headerChecksum: UInt32
    public let checks: LogChecks

    /// Opens and maps `path` and checks its header; `checks` is every check but in tests.
    public init(path: String, checks: LogChecks = .all) throws(TraceError) {
        self.path = path
        self.checks = checks
        do { file = try MappedFile(path: path) } catch { throw TraceError(path: path, offset: nil, error.description) }
        (header, headerSize, headerChecksum) = try TraceHeader.decode(file.bytes, path: path, checks: checks)
    }

    public var byteCount: Int { file.bytes.count }

    /// Reads the entries from the first.
    public func records() -> TraceReader { TraceReader(self) }
}

/// Reads a trace's entries in order, checking each: that it is whole and uncorrupted (its
/// CRC-32C), that its sequence number is the next, that it belongs where it is (the chain), and
/// that the trace ends with an end-of-log entry and nothing after it. The first defect is an
/// error naming its byte offset and seq; nothing after it is read.
///
/// The chain: the checksum stored after entry k is CRC-32C(chain of entry k-1, the entry's own
/// CRC), starting from the header's checksum. Each entry's CRC covers its bytes and the header's
/// covers a random trace ID, so an entry spliced in from another trace (even a recording of the
/// same program and seed) breaks the chain where it starts.
public struct TraceReader {
    public let trace: TraceFile
    private var offset: Int
    private var chain: UInt32
    private var expectedSeq: UInt64 = 1
    /// The end-of-log entry has been read.
    public private(set) var ended = false

    init(_ trace: TraceFile) {
        self.trace = trace
        offset = trace.headerSize
        chain = trace.headerChecksum
    }

    /// The next entry; nil after the end-of-log entry.
    public mutating func next() throws(TraceError) -> TraceRecord? {
        let bytes = trace.file.bytes
        let checks = trace.checks
        let path = trace.path
        let remaining = bytes.count - offset
        if ended {
            guard remaining > 0, checks.contains(.endOfLog) else { return nil }
            throw TraceError(path: path, offset: offset, "\(remaining) bytes follow the end-of-log entry (#\(expectedSeq - 1))")
        }
        guard remaining > 0 else {
            guard checks.contains(.endOfLog) else { return nil }
            let last = expectedSeq > 1 ? "entry #\(expectedSeq - 1)" : "the header"
            throw TraceError(path: path, offset: offset, "the trace ends after \(last) without an end-of-log entry: it is truncated")
        }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
        let entry: LogEntryView
        do {
            entry = try LogEntryCodec.decode(rest, verify: checks.contains(.entryChecksums))
        } catch {
            throw TraceError(path: path, offset: offset, seq: error.seq, describe(error))
        }
        let seq = entry.header.seq
        let size = LogEntryCodec.encodedSize(payloadLength: entry.payload.count)
        guard remaining >= size + 4 else {
            throw TraceError(path: path, offset: offset, seq: seq, "cut off: its chain checksum is missing (the trace is truncated)")
        }
        if checks.contains(.sequence), seq != expectedSeq {
            let problem = seq > expectedSeq
                ? "entry #\(expectedSeq) is missing or out of place: the trace continues with #\(seq)"
                : "entry #\(seq) comes again, or out of order, where #\(expectedSeq) was due"
            throw TraceError(path: path, offset: offset, seq: expectedSeq, problem)
        }
        let link = ftb_crc32c(chain, rest.baseAddress! + LogEntryCodec.checksumOffset, 4)
        let stored = UInt32(littleEndian: rest.loadUnaligned(fromByteOffset: size, as: UInt32.self))
        if checks.contains(.chain), stored != link {
            throw TraceError(path: path, offset: offset, seq: seq, "does not belong here: its chain checksum is 0x\(String(stored, radix: 16)), this trace's is 0x\(String(link, radix: 16)) (spliced from another trace, or moved)")
        }
        chain = stored
        expectedSeq = seq + 1
        if entry.header.kind == .endOfLog { ended = true }
        defer { offset += size + 4 }
        return TraceRecord(entry: entry, offset: offset, size: size + 4)
    }

    private func describe(_ error: LogDecodingError) -> String {
        switch error {
        case .truncated(_, let needed, let available):
            "cut off (the trace is truncated, or the entry's length is corrupt): it needs \(needed) bytes, \(available) remain"
        case .checksumMismatch(_, let stored, let computed):
            "corrupt: checksum 0x\(String(stored, radix: 16)) stored, 0x\(String(computed, radix: 16)) computed"
        case .unsupportedVersion(let version, _):
            "entry format version \(version) is unknown: this ftbench reads version \(LogEntryCodec.version)"
        case .unknownKind(let kind, _):
            "unknown entry kind \(kind)"
        }
    }
}

extension LogDecodingError {
    /// The seq the entry claims, when enough of it was there to read one.
    public var seq: UInt64? {
        switch self {
        case .truncated(let seq, _, _): seq
        case .checksumMismatch(let seq, _, _), .unsupportedVersion(_, let seq), .unknownKind(_, let seq): seq
        }
    }
}
