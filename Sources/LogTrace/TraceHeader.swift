import CPlatform
import LogChannel

/// What a trace records about the run it comes from, enough to replay it on a fresh machine and
/// to refuse a replay that could not mean anything (another program, another ISA version).
///
/// The file starts with (little-endian):
///
/// | offset | size | field |
/// | ---: | ---: | --- |
/// | 0 | 8 | "FTBTRACE" |
/// | 8 | 2 | trace format version (1) |
/// | 10 | 2 | zero |
/// | 12 | 4 | length n of the fields |
/// | 16 | n | the fields, in the order of this type's properties: integers, then strings as a u16 length and UTF-8 bytes |
/// | 16 + n | 4 | CRC-32C of bytes 0..<16 + n |
///
/// Records follow: each log entry as it crossed the channel (`LogEntryCodec`'s encoding),
/// followed by a 4-byte chain checksum (see `TraceReader`). The last is the end-of-log entry.
public struct TraceHeader: Equatable, Sendable {
    public static let magic: [UInt8] = Array("FTBTRACE".utf8)
    public static let formatVersion: UInt16 = 1
    /// Bytes before the fields.
    static let prefixSize = 16
    /// Fields longer than this are not a header ftbench wrote.
    static let maximumFieldBytes = 1 << 16

    /// The guest ISA version the trace was recorded with (`Machine.isaVersion`).
    public var isaVersion: UInt32
    public var vcpus: UInt32
    public var memorySize: UInt64
    /// Instructions per vCPU slice.
    public var quantum: UInt64
    public var seed: UInt64
    /// `Program.contentHash` of the program recorded.
    public var programHash: UInt64
    /// When recording started, in nanoseconds since 1970.
    public var recordedAt: UInt64
    /// A random number, so that no two traces share a chain: entries spliced in from another
    /// trace are caught at the first of them, even from a run of the same program and seed.
    public var traceID: UInt64
    public var ftbenchVersion: String
    /// The git revision of the build that recorded, with "-dirty" for uncommitted changes.
    public var buildRevision: String
    /// The workload as `ftbench run` was given it: a built-in name or a file.
    public var programName: String
    public var channelProfile: String
    public var ackPolicy: String

    public init(isaVersion: UInt32, vcpus: Int, memorySize: Int, quantum: UInt64, seed: UInt64, programHash: UInt64,
                recordedAt: UInt64, traceID: UInt64 = .random(in: 0 ... .max), ftbenchVersion: String, buildRevision: String,
                programName: String, channelProfile: String, ackPolicy: String) {
        self.isaVersion = isaVersion
        self.vcpus = UInt32(vcpus)
        self.memorySize = UInt64(memorySize)
        self.quantum = quantum
        self.seed = seed
        self.programHash = programHash
        self.recordedAt = recordedAt
        self.traceID = traceID
        self.ftbenchVersion = ftbenchVersion
        self.buildRevision = buildRevision
        self.programName = programName
        self.channelProfile = channelProfile
        self.ackPolicy = ackPolicy
    }

    private var strings: [String] { [ftbenchVersion, buildRevision, programName, channelProfile, ackPolicy] }

    /// The header's bytes, checksum included.
    public func encoded() -> [UInt8] {
        var fields: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { fields += $0 } }
        put(isaVersion); put(vcpus); put(memorySize); put(quantum); put(seed); put(programHash); put(recordedAt); put(traceID)
        for string in strings {
            let utf8 = Array(string.utf8.prefix(4_096))
            put(UInt16(utf8.count))
            fields += utf8
        }
        var bytes = Self.magic
        withUnsafeBytes(of: Self.formatVersion.littleEndian) { bytes += $0 }
        bytes += [0, 0]
        withUnsafeBytes(of: UInt32(fields.count).littleEndian) { bytes += $0 }
        bytes += fields
        let crc = bytes.withUnsafeBytes { ftb_crc32c(0, $0.baseAddress, $0.count) }
        withUnsafeBytes(of: crc.littleEndian) { bytes += $0 }
        return bytes
    }

    /// Reads the header at the start of `bytes`; returns it, its size and its checksum (the seed
    /// of the entries' chain).
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String, checks: LogChecks) throws(TraceError)
        -> (header: TraceHeader, size: Int, checksum: UInt32) {
        guard !bytes.isEmpty else { throw TraceError(path: path, offset: 0, "the file is empty: not a trace") }
        let magicMatches = bytes.count >= 8 && zip(bytes.prefix(8), magic).allSatisfy { $0 == $1 }
        if checks.contains(.magic), !magicMatches {
            throw TraceError(path: path, offset: 0, "not an ftbench trace (it does not start with \"FTBTRACE\")")
        }
        guard bytes.count >= prefixSize + 4 else {
            throw TraceError(path: path, offset: bytes.count, "the trace header is cut off after \(bytes.count) bytes")
        }
        let version = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
        if checks.contains(.formatVersion), version != formatVersion {
            throw TraceError(path: path, offset: 8, "trace format version \(version) is unknown: this ftbench reads version \(formatVersion)")
        }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
        guard length <= maximumFieldBytes else {
            throw TraceError(path: path, offset: 12, "the trace header claims \(length) bytes of fields (at most \(maximumFieldBytes)): it is corrupt")
        }
        let size = prefixSize + length + 4
        guard bytes.count >= size else {
            throw TraceError(path: path, offset: bytes.count, "the trace header is cut off: it needs \(size) bytes, the file has \(bytes.count)")
        }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: size - 4, as: UInt32.self))
        let computed = ftb_crc32c(0, bytes.baseAddress, size - 4)
        if checks.contains(.headerChecksum), stored != computed {
            throw TraceError(path: path, offset: 0, "the trace header is corrupt (checksum 0x\(String(stored, radix: 16)) stored, 0x\(String(computed, radix: 16)) computed)")
        }
        var reader = FieldReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[prefixSize ..< size - 4]), path: path)
        let header = TraceHeader(
            isaVersion: try reader.integer(), vcpus: Int(try reader.integer() as UInt32), memorySize: Int(clamping: try reader.integer() as UInt64),
            quantum: try reader.integer(), seed: try reader.integer(), programHash: try reader.integer(),
            recordedAt: try reader.integer(), traceID: try reader.integer(), ftbenchVersion: try reader.string(),
            buildRevision: try reader.string(), programName: try reader.string(), channelProfile: try reader.string(),
            ackPolicy: try reader.string())
        // The checksum seeds the chain: it is the stored one, so that a header read with its
        // checksum check off still chains its own entries.
        return (header, size, stored)
    }
}

/// Reads the header's fields in order, bounds-checked: fields that end early are an error,
/// never a read past them.
private struct FieldReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var position = 0

    mutating func integer<T: FixedWidthInteger>() throws(TraceError) -> T {
        let size = MemoryLayout<T>.size
        guard position + size <= bytes.count else { throw cutOff() }
        defer { position += size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    mutating func string() throws(TraceError) -> String {
        let length = Int(try integer() as UInt16)
        guard position + length <= bytes.count else { throw cutOff() }
        defer { position += length }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position ..< position + length]), as: UTF8.self)
    }

    func cutOff() -> TraceError {
        TraceError(path: path, offset: TraceHeader.prefixSize + position, "the trace header's fields end early: it is corrupt")
    }
}
