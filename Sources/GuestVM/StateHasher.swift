/// A fast, non-cryptographic 64-bit hash for comparing primary and backup state.
///
/// Four independent multiply-rotate lanes over 32-byte blocks keep the multiplier busy (one lane
/// would serialise on the multiply's latency), then the lanes are mixed with a final avalanche.
/// It detects divergence, not tampering: the inputs come from the replicas themselves.
public struct StateHasher {
    private var lanes: (UInt64, UInt64, UInt64, UInt64) =
        (0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F, 0x1656_67B1_9E37_79F9, 0x85EB_CA77_C2B2_AE63)
    private var length: UInt64 = 0

    public init() {}

    @inline(__always)
    private static func round(_ lane: UInt64, _ word: UInt64) -> UInt64 {
        ((lane ^ word) &* 0x9FB2_1C65_1E98_DF25).rotatedLeft(by: 29)
    }

    public mutating func combine(_ value: UInt64) {
        lanes.0 = Self.round(lanes.0, value)
        length &+= 8
    }

    public mutating func combine(bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let n = bytes.count
        var i = 0
        var (a, b, c, d) = lanes
        while i + 32 <= n {
            a = Self.round(a, base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            b = Self.round(b, base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
            c = Self.round(c, base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))
            d = Self.round(d, base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
            i += 32
        }
        while i < n {
            a = Self.round(a, UInt64(base.load(fromByteOffset: i, as: UInt8.self)) &+ UInt64(i))
            i += 1
        }
        lanes = (a, b, c, d)
        length &+= UInt64(n)
    }

    public func finalize() -> UInt64 {
        var h = lanes.0 ^ lanes.1.rotatedLeft(by: 17) ^ lanes.2.rotatedLeft(by: 31) ^ lanes.3.rotatedLeft(by: 47) ^ length
        h ^= h >> 33
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h &*= 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }
}

extension UInt64 {
    @inline(__always)
    func rotatedLeft(by n: UInt64) -> UInt64 { (self << n) | (self >> (64 - n)) }
}
