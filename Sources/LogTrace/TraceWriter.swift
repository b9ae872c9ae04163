import CPlatform
import LogChannel
import Topology
#if canImport(Glibc)
import Glibc
#endif

/// Streams a log into a trace file as the backup receives it: each entry's encoded bytes,
/// exactly as they crossed the channel, then its chain checksum.
///
/// Ownership and cost: the instance is used by one thread at a time (created by the caller,
/// then handed to the backup's thread, which appends and finishes). It owns a buffer allocated
/// once (1 MiB by default, freed in `deinit`) and the file's descriptor (closed by `finish`, or
/// `deinit`). `append` copies into the buffer and allocates nothing; a full buffer is written
/// out with one `write(2)` on the appending thread, so the backup pays for the disk where the
/// trace is recorded. A failed write is kept as `failure`, and later entries are dropped: the
/// trace then has no end-of-log entry and reads as truncated, never as whole.
public final class TraceWriter: @unchecked Sendable {
    public let path: String
    private var fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    private var chain: UInt32
    public private(set) var entries: UInt64 = 0
    /// Bytes in the file once everything appended is written, header included.
    public private(set) var bytes: UInt64
    /// The first write that failed; nothing is written after it.
    public private(set) var failure: TraceError?

    /// Creates `path`, which must not exist, and writes the header.
    public init(path: String, header: TraceHeader, bufferSize: Int = 1 << 20) throws(TraceError) {
        self.path = path
        do { fd = try createExclusively(path) } catch { throw TraceError(path: path, offset: nil, error.description) }
        let head = header.encoded()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bufferSize, head.count), alignment: 64)
        head.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        self.buffer = buffer
        used = head.count
        bytes = UInt64(head.count)
        chain = UInt32(littleEndian: head.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: head.count - 4, as: UInt32.self) })
    }

    deinit {
        buffer.deallocate()
        if fd >= 0 { close(fd) }
    }

    /// Appends one entry: `entry` holds exactly its encoded bytes (`LogEntryCodec`).
    @inline(__always)
    public func append(encoded entry: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        chain = ftb_crc32c(chain, entry.baseAddress! + LogEntryCodec.checksumOffset, 4)
        var link = chain.littleEndian
        if used + entry.count + 4 > buffer.count {
            writeBuffer()
            if entry.count + 4 > buffer.count {
                // Larger than the buffer: straight to the file.
                write(entry)
                withUnsafeBytes(of: &link) { write($0) }
                entries += 1
                bytes += UInt64(entry.count + 4)
                return
            }
        }
        (buffer.baseAddress! + used).copyMemory(from: entry.baseAddress!, byteCount: entry.count)
        (buffer.baseAddress! + used + entry.count).storeBytes(of: link, as: UInt32.self)
        used += entry.count + 4
        entries += 1
        bytes += UInt64(entry.count + 4)
    }

    /// Writes what is buffered, syncs and closes the file; throws the first write failure.
    public func finish() throws(TraceError) {
        guard fd >= 0 else { return }
        writeBuffer()
        if failure == nil, fsync(fd) != 0 { fail(errno) }
        close(fd)
        fd = -1
        if let failure { throw failure }
    }

    private func writeBuffer() {
        write(UnsafeRawBufferPointer(rebasing: buffer[0 ..< used]))
        used = 0
    }

    private func write(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, let error = writeAll(fd, bytes) else { return }
        fail(error)
    }

    private func fail(_ error: Int32) {
        failure = TraceError(path: path, offset: nil, "recording failed: \(String(cString: strerror(error)))")
    }
}
