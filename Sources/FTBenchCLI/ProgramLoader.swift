import ArgumentParser
import Foundation
import GuestVM

/// Resolves a PROGRAM argument: a built-in name, or the path of an assembly file.
enum ProgramLoader {
    struct Loaded {
        var program: Program
        var sourceLines: [Substring]
    }

    /// - Parameter defines: `.const` values to override (`--define`).
    static func load(_ argument: String, defines: [String: Int64] = [:]) throws -> Loaded {
        if let entry = BuiltinPrograms.named(argument) {
            let program = try Assembler.assemble(entry.source, file: entry.name, defines: defines)
            return Loaded(program: program, sourceLines: entry.source.split(separator: "\n", omittingEmptySubsequences: false))
        }
        guard let data = FileManager.default.contents(atPath: argument) else {
            let names = BuiltinPrograms.all.map(\.name).joined(separator: ", ")
            throw CLIError("'\(argument)' is neither a built-in program (\(names)) nor a readable file")
        }
        let bytes = [UInt8](data)
        let program = try Assembler.assemble(bytes: bytes, file: argument, defines: defines)
        let text = String(decoding: bytes, as: UTF8.self)
        return Loaded(program: program, sourceLines: text.split(separator: "\n", omittingEmptySubsequences: false))
    }
}

/// `--define NAME=VALUE`, repeatable: overrides a program's `.const` (built-ins and files alike).
struct DefineOptions: ParsableArguments {
    @Option(name: .customLong("define"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Override the program's .const NAME with an integer VALUE (repeatable).", valueName: "NAME=VALUE"))
    var texts: [String] = []

    /// The overrides by name.
    func values() throws(ValidationError) -> [String: Int64] { try Self.values(of: texts) }

    /// The overrides `texts` (each `NAME=VALUE`) name, by name.
    static func values(of texts: [String]) throws(ValidationError) -> [String: Int64] {
        var values: [String: Int64] = [:]
        for text in texts {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
                  let value = integer(parts[1]) else {
                throw ValidationError("--define '\(text)': expected NAME=VALUE with an integer VALUE (decimal, or 0x hex)")
            }
            guard values[parts[0]] == nil else { throw ValidationError("--define names \(parts[0]) twice") }
            values[parts[0]] = value
        }
        return values
    }

    func validate() throws { _ = try values() }

    /// As the row and meta.json record them: `NAME=VALUE` sorted by name, space-separated.
    var canonical: String {
        ((try? values()) ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    static func integer(_ text: String) -> Int64? {
        let negative = text.hasPrefix("-")
        let digits = negative ? String(text.dropFirst()) : text
        let magnitude = digits.lowercased().hasPrefix("0x") ? UInt64(digits.dropFirst(2), radix: 16) : UInt64(digits)
        guard let magnitude, magnitude <= (negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)) else { return nil }
        return negative ? Int64(bitPattern: 0 &- magnitude) : Int64(magnitude)
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
