import CPlatform
#if canImport(Glibc)
import Glibc
#endif

/// A file that could not be opened, read, created or written, with the system's reason.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(path: String, _ what: String, errno code: Int32? = nil) {
        description = "\(path): \(what)" + (code.map { ": \(String(cString: strerror($0)))" } ?? "")
    }
}

/// Creates `path`, which must not exist (and is never a followed link), for writing; returns
/// its descriptor.
public func createExclusively(_ path: String) throws(FileError) -> Int32 {
    let fd = ftb_create_exclusive(path)
    guard fd >= 0 else { throw FileError(path: path, "cannot create", errno: -fd) }
    return fd
}

/// Writes all of `bytes` to `fd`, retrying interrupted and partial writes; returns the errno
/// of a failed write, or nil. Allocates nothing.
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0, errno == EINTR { continue }
        guard n > 0 else { return n < 0 ? errno : ENOSPC }
        offset += n
    }
    return nil
}
