import ArgumentParser
import GuestVM
import Harness

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the built-in guest programs or suites.")

    @Argument(help: "programs or suites.")
    var what = "programs"

    func validate() throws {
        guard ["programs", "suites"].contains(what) else { throw ValidationError("ftbench list: '\(what)' is not programs or suites") }
    }

    func run() throws {
        if what == "suites" {
            print("Built-in suites (ftbench suite NAME; ftbench suite NAME --print shows one as a file to edit):")
            let width = BuiltinSuites.names.map(\.count).max() ?? 0
            for name in BuiltinSuites.names {
                let suite = try Suite.parse(BuiltinSuites.text(of: name)!, name: name, file: name, source: "built-in")
                print("  \(name)\(String(repeating: " ", count: width - name.count))  \(suite.description)")
            }
            return
        }
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
