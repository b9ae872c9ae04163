import ArgumentParser
import GuestVM

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the built-in guest programs.")

    func run() {
        let width = BuiltinPrograms.all.map(\.name.count).max() ?? 0
        print("Built-in programs (or pass the path of an assembly file anywhere a name is accepted):")
        for entry in BuiltinPrograms.all {
            print("  \(entry.name)\(String(repeating: " ", count: width - entry.name.count))  \(entry.summary)")
        }
    }
}

struct ISA: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the instruction table of the ISA reference (docs/ISA.md), generated from the ISA definition.")

    func run() {
        print(ISAReference.markdownTable())
    }
}
