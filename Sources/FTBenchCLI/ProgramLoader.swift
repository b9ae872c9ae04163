import Foundation
import GuestVM

/// Resolves a PROGRAM argument: a built-in name, or the path of an assembly file.
enum ProgramLoader {
    struct Loaded {
        var program: Program
        var sourceLines: [Substring]
    }

    static func load(_ argument: String) throws -> Loaded {
        if let entry = BuiltinPrograms.named(argument) {
            let program = try Assembler.assemble(entry.source, file: entry.name)
            return Loaded(program: program, sourceLines: entry.source.split(separator: "\n", omittingEmptySubsequences: false))
        }
        guard let data = FileManager.default.contents(atPath: argument) else {
            let names = BuiltinPrograms.all.map(\.name).joined(separator: ", ")
            throw CLIError("'\(argument)' is neither a built-in program (\(names)) nor a readable file")
        }
        let bytes = [UInt8](data)
        let program = try Assembler.assemble(bytes: bytes, file: argument)
        let text = String(decoding: bytes, as: UTF8.self)
        return Loaded(program: program, sourceLines: text.split(separator: "\n", omittingEmptySubsequences: false))
    }
}

/// Parses a byte size: `4194304`, `64K`, `16M`, `1G` (binary multiples; `KiB`, `MiB`, `GiB` too).
func parseByteSize(_ text: String) -> Int? {
    let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        guard let n = Int(text.dropLast(suffix.count)) else { return nil }
        let (v, overflow) = n.multipliedReportingOverflow(by: scale)
        return overflow || n < 0 ? nil : v
    }
    return Int(text).flatMap { $0 >= 0 ? $0 : nil }
}
