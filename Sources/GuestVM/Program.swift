/// An assembled guest program: pre-decoded code, an initial memory image and its symbols.
///
/// Code lives outside guest memory (a Harvard layout): branch targets and return addresses are
/// instruction indices, so a guest cannot overwrite its own code and the pre-decoded form is
/// always valid.
public struct Program: Sendable {
    /// Initialised bytes placed into guest memory before the first instruction runs.
    public struct DataSegment: Sendable, Equatable {
        public var address: Int
        public var bytes: [UInt8]
    }

    public enum Symbol: Sendable, Equatable {
        /// A label in `.text`: an instruction index.
        case code(Int)
        /// A label in `.data` or a `.const`: a value (usually a guest address).
        case value(Int64)
    }

    public var name: String
    public var instructions: [Instruction]
    public var data: [DataSegment]
    /// Index of the first instruction every vCPU executes (`.entry`, else the label `start`, else 0).
    public var entry: Int
    public var symbols: [String: Symbol]
    /// Source line of each instruction, for listings and fault reports.
    public var sourceLines: [Int]
    /// Guest memory the program asks for (`.memory`); the machine uses at least this much.
    public var minimumMemory: Int
    /// vCPUs the program is written for (`.vcpus`); `exec` uses it unless told otherwise.
    public var preferredVCPUs: Int

    /// Default guest memory: 4 MiB, enough for every built-in program but `sieve`.
    public static let defaultMemory = 4 << 20
    /// First address of `.data` unless `.org` says otherwise; the page below is left unused so a
    /// null pointer dereference reads zeros instead of a program's variables.
    public static let dataOrigin = 0x1000
    /// Stack bytes reserved per vCPU at the top of memory: vCPU i starts with
    /// sp = memorySize - i * stackSize.
    public static let stackSize = 64 << 10
}

extension Program {
    /// A hash of everything that decides what the program does: its instructions, initial data,
    /// entry point, memory and vCPU requests. Two programs with equal hashes run identically.
    public var contentHash: UInt64 {
        var hasher = StateHasher()
        for i in instructions {
            hasher.combine(UInt64(i.op.rawValue) | UInt64(i.rd) << 8 | UInt64(i.ra) << 16 | UInt64(i.rb) << 24 | UInt64(i.target) << 32)
            hasher.combine(UInt64(bitPattern: i.imm))
        }
        for segment in data {
            hasher.combine(UInt64(segment.address))
            segment.bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
        hasher.combine(UInt64(entry))
        hasher.combine(UInt64(minimumMemory))
        hasher.combine(UInt64(preferredVCPUs))
        return hasher.finalize()
    }
}
