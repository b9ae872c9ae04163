import ArgumentParser
import GuestVM

struct Asm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Assemble and validate a guest program; optionally print a listing.")

    @Argument(help: "A built-in program (see `ftbench list`) or an assembly file.")
    var program: String

    @OptionGroup var defines: DefineOptions

    @Flag(help: "Print every instruction: index, source line, disassembly and source text.")
    var listing = false

    func run() throws {
        let loaded = try ProgramLoader.load(program, defines: try defines.values())
        let p = loaded.program
        do { _ = try Machine.memorySize(for: p, vcpus: p.preferredVCPUs) } catch { throw CLIError("\(program): \(error)") }
        let dataBytes = p.data.reduce(0) { $0 + $1.bytes.count }
        print("\(p.name): \(p.instructions.count) instructions, \(p.data.count) data segment(s) with \(dataBytes) initialised bytes, entry @\(p.entry), memory \(p.minimumMemory) bytes, \(p.preferredVCPUs) vCPU(s)")
        guard listing else { return }
        let labels = Dictionary(grouping: p.symbols.compactMap { name, symbol -> (Int, String)? in
            if case .code(let index) = symbol { return (index, name) } else { return nil }
        }, by: \.0).mapValues { $0.map(\.1).sorted() }
        for (index, instruction) in p.instructions.enumerated() {
            for label in labels[index] ?? [] { print("\(label):") }
            let line = p.sourceLines[index]
            let source = line - 1 < loaded.sourceLines.count ? loaded.sourceLines[line - 1].trimmingCharacters(in: .whitespaces) : ""
            let disassembly = instruction.description
            let pad = String(repeating: " ", count: max(1, 28 - disassembly.count))
            print("  @\(index)\t\(p.name):\(line)\t\(disassembly)\(pad); \(source)")
        }
    }
}
