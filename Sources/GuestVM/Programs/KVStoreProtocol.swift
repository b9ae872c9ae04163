/// The wire format of the `kvstore` guest: what clients send by DMA and what it replies with `out`.
public enum KVStoreProtocol {
    public enum Operation: UInt64, Sendable {
        case get = 1
        case put = 2
    }

    public enum Status: UInt64, Sendable {
        case notFound = 0
        case ok = 1
        case tableFull = 2
        case badRequest = 3
    }

    public static let requestSize = 48
    public static let replySize = 24

    /// Encodes a request: seq, op, key, value, work rounds, reserved (little-endian u64 each).
    public static func request(seq: UInt64, op: Operation, key: UInt64, value: UInt64 = 0, work: UInt64 = 0) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: requestSize)
        bytes.withUnsafeMutableBytes { _ = write(seq: seq, op: op, key: key, value: value, work: work, into: $0) }
        return bytes
    }

    /// Encodes a request into `buffer` (at least `requestSize` bytes) without allocating;
    /// returns its length.
    public static func write(seq: UInt64, op: Operation, key: UInt64, value: UInt64 = 0, work: UInt64 = 0,
                             into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let words = (seq, op.rawValue, key, value, work, UInt64(0))
        buffer.storeBytes(of: words.0.littleEndian, toByteOffset: 0, as: UInt64.self)
        buffer.storeBytes(of: words.1.littleEndian, toByteOffset: 8, as: UInt64.self)
        buffer.storeBytes(of: words.2.littleEndian, toByteOffset: 16, as: UInt64.self)
        buffer.storeBytes(of: words.3.littleEndian, toByteOffset: 24, as: UInt64.self)
        buffer.storeBytes(of: words.4.littleEndian, toByteOffset: 32, as: UInt64.self)
        buffer.storeBytes(of: words.5.littleEndian, toByteOffset: 40, as: UInt64.self)
        return requestSize
    }

    public struct Reply: Equatable, Sendable {
        public var seq: UInt64
        public var status: Status?
        public var value: UInt64

        public init(seq: UInt64, status: Status?, value: UInt64) {
            self.seq = seq
            self.status = status
            self.value = value
        }
    }

    /// Decodes a reply; nil if `bytes` is not a reply's size.
    public static func reply(_ bytes: UnsafeRawBufferPointer) -> Reply? {
        guard bytes.count == replySize else { return nil }
        func word(_ i: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
        return Reply(seq: word(0), status: Status(rawValue: word(1)), value: word(2))
    }
}
