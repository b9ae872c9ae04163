#if canImport(Glibc)
import Glibc
#endif

/// A whole file mapped read-only into memory, for reading traces of any size without copying
/// them.
///
/// Ownership: the instance owns the mapping and unmaps it in `deinit`; `bytes` is valid while
/// the instance lives. The mapping is private and read-only, so nothing is ever written through
/// it; a file truncated by another process while mapped would raise SIGBUS on access, which
/// ftbench does not guard against (it reads its own, finished traces).
public final class MappedFile {
    public let path: String
    public let bytes: UnsafeRawBufferPointer

    /// Maps `path`; an empty file maps to an empty buffer.
    public init(path: String) throws(FileError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, "cannot open", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(path: path, "cannot stat", errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw FileError(path: path, "is not a regular file") }
        let size = Int(info.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw FileError(path: path, "cannot map", errno: errno)
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
