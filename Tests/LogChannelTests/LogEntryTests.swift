import CPlatform
import LogChannel
import Testing

@Suite("LogEntry encoding")
struct LogEntryTests {
    static let entries: [LogEntry] = LogEntryKind.allCases.enumerated().map { i, kind in
        LogEntry(header: LogEntryHeader(seq: UInt64(1000 + i), instructionCount: UInt64(i) << 40 | 0xABCD,
                                        vcpu: UInt32(i % 3), kind: kind, flags: i % 2 == 0 ? [] : .precedesOutput),
                 payload: pattern(seq: UInt64(i), length: i * 9))
    }

    @Test("every kind round-trips", arguments: entries)
    func roundTrip(_ entry: LogEntry) throws {
        let bytes = LogEntryCodec.encode(entry)
        #expect(bytes.count == LogEntryCodec.headerSize + entry.payload.count)
        #expect(try LogEntryCodec.decode(bytes) == entry)
    }

    /// `decoding` reads the kind without `init(rawValue:)`, from the enum's layout: a kind
    /// added out of order, or a raw value changed, must show here.
    @Test("a kind byte decodes as init(rawValue:) reads it, for all 256 bytes")
    func kindDecoding() {
        for byte in UInt8.min...UInt8.max where LogEntryKind.decoding(byte) != LogEntryKind(rawValue: byte) {
            Issue.record("byte \(byte): \(String(describing: LogEntryKind.decoding(byte))), not \(String(describing: LogEntryKind(rawValue: byte)))")
        }
        #expect(LogEntryKind.allCases.map(\.rawValue) == Array(1...17))
    }

    @Test("the encoding is stable: field offsets and a known checksum")
    func layout() {
        let entry = LogEntry(header: LogEntryHeader(seq: 0x0102, instructionCount: 0x0304, vcpu: 5, kind: .clockRead), value: 0x0A0B)
        let bytes = LogEntryCodec.encode(entry)
        #expect(bytes[0] == 1)  // version
        #expect(bytes[1] == LogEntryKind.clockRead.rawValue)
        #expect(bytes[4] == 5)
        #expect(bytes[8] == 0x02 && bytes[9] == 0x01)
        #expect(bytes[16] == 0x04 && bytes[17] == 0x03)
        #expect(bytes[24] == 8)
        #expect(bytes[32] == 0x0B && bytes[33] == 0x0A)
        // The checksum is CRC-32C: the standard check value, and the stored field, agree.
        #expect(ftb_crc32c(0, Array("123456789".utf8), 9) == 0xE306_9283)
        let stored = UInt32(bytes[28]) | UInt32(bytes[29]) << 8 | UInt32(bytes[30]) << 16 | UInt32(bytes[31]) << 24
        #expect(stored == Self.crc(bytes))
    }

    @Test("any flipped bit is detected and reported with the entry's sequence number")
    func corruption() throws {
        let entry = Self.entries[3]
        let good = LogEntryCodec.encode(entry)
        for byte in [0, 1, 3, 20, 27, 28, 31, 32, good.count - 1] {
            var bad = good
            bad[byte] ^= 0x10
            #expect(throws: LogDecodingError.self) { try LogEntryCodec.decode(bad) }
        }
        var bad = good
        bad[40] ^= 1
        do {
            _ = try LogEntryCodec.decode(bad)
            Issue.record("corrupt payload accepted")
        } catch {
            guard case .checksumMismatch(let seq, _, _) = error else { Issue.record("\(error)"); return }
            #expect(seq == entry.header.seq)
            #expect(error.description.hasPrefix("log entry #\(entry.header.seq) is corrupt"))
        }
    }

    @Test("truncated entries are rejected, with the sequence number when it is there")
    func truncation() {
        let entry = Self.entries[2]
        let good = LogEntryCodec.encode(entry)
        #expect(throws: LogDecodingError.truncated(seq: nil, needed: 32, available: 10)) { try LogEntryCodec.decode(Array(good.prefix(10))) }
        #expect(throws: LogDecodingError.truncated(seq: entry.header.seq, needed: 32, available: 20)) { try LogEntryCodec.decode(Array(good.prefix(20))) }
        #expect(throws: LogDecodingError.truncated(seq: entry.header.seq, needed: good.count, available: good.count - 1)) {
            try LogEntryCodec.decode(Array(good.dropLast()))
        }
    }

    @Test("a version or kind this build does not know is rejected even with a valid checksum")
    func unknownFormat() {
        var bytes = LogEntryCodec.encode(LogEntry(header: .init(seq: 9, instructionCount: 1, kind: .progress)))
        bytes[0] = 2
        Self.reseal(&bytes)
        #expect(throws: LogDecodingError.unsupportedVersion(2, seq: 9)) { try LogEntryCodec.decode(bytes) }
        bytes[0] = 1
        bytes[1] = 200
        Self.reseal(&bytes)
        #expect(throws: LogDecodingError.unknownKind(200, seq: 9)) { try LogEntryCodec.decode(bytes) }
    }

    /// CRC-32C of the first 28 header bytes and the payload, as the format defines it.
    static func crc(_ bytes: [UInt8]) -> UInt32 {
        ftb_crc32c(ftb_crc32c(0, bytes, 28), Array(bytes[32...]), bytes.count - 32)
    }

    static func reseal(_ bytes: inout [UInt8]) {
        let crc = crc(bytes)
        for i in 0..<4 { bytes[28 + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
    }
}

extension LogEntry: CustomTestStringConvertible {
    public var testDescription: String { "\(header.kind) #\(header.seq), \(payload.count) bytes" }
}
