import CPlatform
import Topology

/// Flat, little-endian guest memory.
///
/// Ownership: the instance owns one zero-filled, page-aligned allocation of `size` bytes for its
/// whole life (a `NodeLocalMemory` it keeps, which frees it); `base`
/// never changes, so the interpreter copies it into a local for the duration of a run. Shared as
/// the guest shares it: under `FreeRun` several host threads run vCPUs on it at once, with guest
/// atomics as host atomics and plain accesses as plain ones (docs/ISA.md, "Memory model"). The
/// host-side writers (`write`, `store64`, the device paths) and write tracking are used only by
/// one-thread hosts.
public final class GuestMemory {
    public let size: Int
    let base: UnsafeMutableRawPointer
    /// Present while writes are tracked (a state transfer runs): every write marks its page.
    public private(set) var dirtyPages: DirtyPageLog?

    /// The allocation `base` lies in: placed on a NUMA node, or an anonymous mapping whose pages
    /// the kernel zero-fills on first touch. (A heap allocation cleared with memset wrote all of
    /// it up front: for the default 4 MiB that was a fifth of `ftbench exec`'s start-up,
    /// docs/INTERPRETER.md.)
    private let allocation: NodeLocalMemory

    /// - Parameter node: the NUMA node to place memory on (`--primary-node`/`--backup-node`); nil,
    ///   or a machine without NUMA placement, gives an ordinary allocation.
    init(size: Int, node: Int? = nil) {
        self.size = size
        allocation = NodeLocalMemory(size: size, node: node)
        base = allocation.base
    }

    /// The NUMA node guest memory was placed on, or nil if it was not placed.
    public var node: Int? { allocation.node }

    /// Whether `[address, address + count)` lies inside guest memory.
    public func contains(address: UInt64, count: UInt64) -> Bool {
        address <= UInt64(size) && count <= UInt64(size) - address
    }

    /// Copies `bytes` to `address`; false (and nothing written) if the range is outside memory.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer, at address: UInt64) -> Bool {
        guard contains(address: address, count: UInt64(bytes.count)) else { return false }
        if let source = bytes.baseAddress {
            (base + Int(address)).copyMemory(from: source, byteCount: bytes.count)
            dirtyPages?.mark(address: address, count: UInt64(bytes.count))
        }
        return true
    }

    @discardableResult
    public func write(_ bytes: [UInt8], at address: UInt64) -> Bool {
        bytes.withUnsafeBytes { write($0, at: address) }
    }

    /// Lends the bytes `[address, address + count)` without copying; nil if outside memory.
    public func withBytes<R>(at address: UInt64, count: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        guard contains(address: address, count: count) else { return nil }
        return try body(UnsafeRawBufferPointer(start: base + Int(address), count: Int(count)))
    }

    public func bytes(at address: UInt64, count: UInt64) -> [UInt8]? {
        withBytes(at: address, count: count) { Array($0) }
    }

    public func load64(at address: UInt64) -> UInt64? {
        guard contains(address: address, count: 8) else { return nil }
        return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: Int(address), as: UInt64.self))
    }

    @discardableResult
    public func store64(_ value: UInt64, at address: UInt64) -> Bool {
        guard contains(address: address, count: 8) else { return false }
        base.storeBytes(of: value.littleEndian, toByteOffset: Int(address), as: UInt64.self)
        dirtyPages?.mark(address: address, count: 8)
        return true
    }

    /// Stores `value` at an 8-byte-aligned `address` with release ordering (as the guest's
    /// `strel`): how another host thread signals vCPUs running in parallel, which read it with
    /// `ldacq`. False (nothing written) if the address is outside memory or unaligned.
    @discardableResult
    public func publish(_ value: UInt64, at address: UInt64) -> Bool {
        guard contains(address: address, count: 8), address & 7 == 0 else { return false }
        ftb_guest_store_release64(base + Int(address), value)
        return true
    }

    /// Starts marking every page written, by the guest or by a device, from now on.
    public func startTrackingWrites() -> DirtyPageLog {
        let log = DirtyPageLog(pageCount: pageCount)
        dirtyPages = log
        return log
    }

    public func stopTrackingWrites() { dirtyPages = nil }

    public var pageCount: Int { (size + DirtyPageLog.pageSize - 1) >> DirtyPageLog.pageShift }

    /// The bytes of page `index` (the last page may be short).
    public func page(_ index: Int) -> UnsafeRawBufferPointer {
        let offset = index << DirtyPageLog.pageShift
        return UnsafeRawBufferPointer(start: base + offset, count: min(DirtyPageLog.pageSize, size - offset))
    }

    /// Folds the whole memory into `hasher`.
    func hash(into hasher: inout StateHasher) {
        hasher.combine(bytes: UnsafeRawBufferPointer(start: base, count: size))
    }
}
