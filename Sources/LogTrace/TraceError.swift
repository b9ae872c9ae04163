/// Why a trace cannot be read or replayed: one line naming the file, the byte offset and, when
/// the defect is in an entry, the entry's sequence number.
public struct TraceError: Error, Equatable, CustomStringConvertible, Sendable {
    public var path: String
    /// Where in the file the defect was found (nil for a file that could not be opened).
    public var offset: Int?
    /// The sequence number of the entry at fault, when there is one to name.
    public var seq: UInt64?
    public var problem: String

    public init(path: String, offset: Int?, seq: UInt64? = nil, _ problem: String) {
        self.path = path
        self.offset = offset
        self.seq = seq
        self.problem = problem
    }

    public var description: String {
        let place = [offset.map { "byte offset \($0)" }, seq.map { "entry #\($0)" }].compactMap { $0 }
        return "\(path): " + (place.isEmpty ? "" : place.joined(separator: ", ") + ": ") + problem
    }
}
