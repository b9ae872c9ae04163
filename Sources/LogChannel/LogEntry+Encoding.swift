import CPlatform

/// The stable binary encoding of a log entry (little-endian):
///
/// | offset | size | field |
/// | ---: | ---: | --- |
/// | 0 | 1 | format version (1) |
/// | 1 | 1 | kind |
/// | 2 | 2 | flags |
/// | 4 | 4 | vCPU |
/// | 8 | 8 | sequence number |
/// | 16 | 8 | instruction count |
/// | 24 | 4 | payload length |
/// | 28 | 4 | CRC-32C of bytes 0..<28 and the payload |
/// | 32 | n | payload |
///
/// A truncated, corrupt or unknown entry is reported with its sequence number (when enough of
/// it is there to read one) and never replayed.
public enum LogEntryCodec {
    public static let version: UInt8 = 1
    public static let headerSize = 32
    /// Where the CRC-32C is, in the header.
    public static let checksumOffset = 28

    /// Bytes `header` plus `payloadLength` bytes encode to.
    @inlinable @inline(__always)
    public static func encodedSize(payloadLength: Int) -> Int { headerSize + payloadLength }

    /// Encodes into `destination`, which must hold `encodedSize(payloadLength:)` bytes; returns
    /// the bytes written.
    @inlinable @inline(__always)
    @discardableResult
    public static func encode(_ header: LogEntryHeader, payload: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer) -> Int {
        let w0 = UInt64(version) | UInt64(header.kind.rawValue) << 8 | UInt64(header.flags.rawValue) << 16 | UInt64(header.vcpu) << 32
        let length = UInt32(truncatingIfNeeded: payload.count)
        destination.storeBytes(of: w0.littleEndian, as: UInt64.self)
        destination.storeBytes(of: header.seq.littleEndian, toByteOffset: 8, as: UInt64.self)
        destination.storeBytes(of: header.instructionCount.littleEndian, toByteOffset: 16, as: UInt64.self)
        destination.storeBytes(of: length.littleEndian, toByteOffset: 24, as: UInt32.self)
        if let source = payload.baseAddress, payload.count > 0 {
            (destination + headerSize).copyMemory(from: source, byteCount: payload.count)
        }
        let crc = checksum(w0, header.seq, header.instructionCount, length, payload: UnsafeRawBufferPointer(start: destination + headerSize, count: payload.count))
        destination.storeBytes(of: crc.littleEndian, toByteOffset: 28, as: UInt32.self)
        return headerSize + payload.count
    }

    public static func encode(_ entry: LogEntry) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: encodedSize(payloadLength: entry.payload.count))
        bytes.withUnsafeMutableBytes { out in
            entry.payload.withUnsafeBytes { _ = encode(entry.header, payload: $0, into: out.baseAddress!) }
        }
        return bytes
    }

    /// Decodes the entry at the start of `bytes` in place: the view reads `bytes`.
    /// `verify: false` skips the checks (checksum, version, kind), for an entry already decoded
    /// with them once.
    @inlinable @inline(__always)
    public static func decode(_ bytes: UnsafeRawBufferPointer, verify: Bool = true) throws(LogDecodingError) -> LogEntryView {
        guard bytes.count >= headerSize, let base = bytes.baseAddress else {
            let seq = bytes.count >= 16 ? UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) : nil
            throw .truncated(seq: seq, needed: headerSize, available: bytes.count)
        }
        let length = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt32.self)))
        guard length <= bytes.count - headerSize else {
            let seq = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            throw .truncated(seq: seq, needed: headerSize + length, available: bytes.count)
        }
        if verify { try check(base, length: length) }
        return LogEntryView(checked: base)
    }

    /// Throws unless the entry at `base` (with a payload of `length` bytes, which `bytes` holds)
    /// has its checksum, this format's version and a known kind.
    @inlinable @inline(__always)
    static func check(_ base: UnsafeRawPointer, length: Int) throws(LogDecodingError) {
        let seq = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let stored = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
        let w0 = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        let count = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        let computed = checksum(w0, seq, count, UInt32(length), payload: UnsafeRawBufferPointer(start: base + headerSize, count: length))
        guard stored == computed else { throw .checksumMismatch(seq: seq, stored: stored, computed: computed) }
        let version = UInt8(truncatingIfNeeded: w0)
        guard version == Self.version else { throw .unsupportedVersion(version, seq: seq) }
        let kindByte = UInt8(truncatingIfNeeded: w0 >> 8)
        guard LogEntryKind.decoding(kindByte) != nil else { throw .unknownKind(kindByte, seq: seq) }
    }

    public static func decode(_ bytes: [UInt8]) throws(LogDecodingError) -> LogEntry {
        let result = bytes.withUnsafeBytes { buffer in Result { () throws(LogDecodingError) in try decode(buffer).owned } }
        return try result.get()
    }

    /// CRC-32C of the first 28 header bytes (given as their little-endian words) and the payload.
    @inlinable @inline(__always)
    static func checksum(_ w0: UInt64, _ seq: UInt64, _ count: UInt64, _ length: UInt32, payload: UnsafeRawBufferPointer) -> UInt32 {
        let crc = ftb_crc32c_words(0, w0, seq, count, length)
        return payload.count > 0 ? ftb_crc32c(crc, payload.baseAddress, payload.count) : crc
    }
}

/// Why a log entry could not be read.
public enum LogDecodingError: Error, Equatable, CustomStringConvertible, Sendable {
    case truncated(seq: UInt64?, needed: Int, available: Int)
    case checksumMismatch(seq: UInt64, stored: UInt32, computed: UInt32)
    case unsupportedVersion(UInt8, seq: UInt64)
    case unknownKind(UInt8, seq: UInt64)

    public var description: String {
        switch self {
        case .truncated(let seq, let needed, let available):
            let which = seq.map { "log entry #\($0)" } ?? "log entry"
            return "\(which) is truncated: \(available) bytes of \(needed)"
        case .checksumMismatch(let seq, let stored, let computed):
            return "log entry #\(seq) is corrupt: checksum 0x\(String(stored, radix: 16)) stored, 0x\(String(computed, radix: 16)) computed"
        case .unsupportedVersion(let v, let seq):
            return "log entry #\(seq) has format version \(v); this ftbench reads version \(LogEntryCodec.version)"
        case .unknownKind(let k, let seq):
            return "log entry #\(seq) has unknown kind \(k)"
        }
    }
}
