import Testing

@testable import Harness

@Suite("Suite")
struct SuiteTests {
    func parse(_ text: String) throws(SuiteError) -> Suite { try Suite.parse(text, name: "t", file: "t.toml", source: "t.toml") }

    func error(_ text: String) -> String {
        do {
            _ = try parse(text)
            return "parsed"
        } catch {
            return error.description
        }
    }

    @Test("every built-in suite parses, with at least one group")
    func builtins() throws {
        for name in BuiltinSuites.names {
            let suite = try Suite.parse(BuiltinSuites.text(of: name)!, name: name, file: name, source: "built-in")
            #expect(!suite.groups.isEmpty && !suite.description.isEmpty)
        }
        let full = try Suite.parse(BuiltinSuites.text(of: "full")!, name: "full", file: "full", source: "built-in")
        #expect(full.groups.count == ["quick", "latency", "batching", "failover"].map {
            (try? Suite.parse(BuiltinSuites.text(of: $0)!, name: $0, file: $0, source: "built-in").groups.count) ?? 0
        }.reduce(0, +))
    }

    @Test("a group's keys become run options; defaults apply unless the group sets the key")
    func options() throws {
        let suite = try parse("""
            repeat = 3
            seed-per-round = true
            [defaults]
            duration = 1.5
            rate = 1000
            [[scenarios]]
            title = "t"
            workload = ["kvstore", "compute"]
            profile = ["lan", "3ms,bw=1gbit"]
            rate = [5000, 10000.5]
            fault = ["primary-crash@1s", "partition@1s+10ms"]
            """)
        #expect(suite.repeats == 3 && suite.seedPerRound)
        let args = suite.groups[0].arguments
        #expect(args.contains("--duration") && args[args.firstIndex(of: "--duration")! + 1] == "1.5")
        #expect(args[args.firstIndex(of: "--rate")! + 1] == "5000,10000.5")
        #expect(args.filter { $0 == "--rate" }.count == 1, "the group's rate replaces the default")
        #expect(args[args.firstIndex(of: "--profile")! + 1] == "lan;3ms,bw=1gbit")
        #expect(args.filter { $0 == "--fault" }.count == 2)
        #expect(suite.groups[0].title == "t")
        #expect(suite.groups[0].location == "t.toml: scenarios[1]")
    }

    @Test("bad files are refused with the file, the key path and the problem", arguments: [
        ("repeat = 0\n[[scenarios]]\nworkload = \"x\"", "t.toml: repeat: expected an integer from 1 to 1000, got 0"),
        ("colour = 1", "t.toml: colour: unknown key"),
        ("[[scenarios]]\nrate = true", "t.toml: scenarios[1].rate: expected a string, a number or an array of them, got a boolean"),
        ("[[scenarios]]\nworkload = \"a\"\n[[scenarios]]\nrate = [1, {x = 1}]", "t.toml: scenarios[2].rate[2]: expected a string or a number"),
        ("[[scenarios]]\nname = \"x\"", "t.toml: scenarios[1].name: not allowed in a suite"),
        ("[[scenarios]]\nrate = \"sweep\"", "t.toml: scenarios[1].rate: a sweep is not allowed"),
        ("[defaults]\nrepeat = 2\n[[scenarios]]\nworkload = \"x\"", "t.toml: defaults.repeat: not allowed in a suite"),
        ("include = [\"quick\", \"slow\"]", "t.toml: include[2]: 'slow' is not a built-in suite"),
        ("description = \"nothing\"", "t.toml: no scenarios"),
        ("[[scenarios]]\nworkload = ", "t.toml:2:"),
        ("[[scenarios]]\nrate = []", "t.toml: scenarios[1].rate: empty array"),
    ])
    func bad(_ text: String, _ expected: String) {
        let message = error(text)
        #expect(message.hasPrefix(expected), "\(message)")
        #expect(!message.contains("\n"))
    }
}
