import Foundation
import Harness
import GuestVM
import LogChannel
import LogTrace
import Testing
import TestScratch

@testable import FTBenchCLI

/// The `ftbench` executable as a user meets it: real processes, real exit codes.
@Suite("Command line")
struct CommandLineTests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The `ftbench` built next to this test bundle.
    static let executable: URL = {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("ftbench")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: "ftbench-not-built")
    }()

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    func ftbench(_ arguments: String...) throws -> Result { try run(arguments) }

    func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    func temporaryFile(_ contents: [UInt8], name: String) throws -> String {
        let url = URL(fileURLWithPath: Scratch.path("file", suffix: "-" + name))
        try Data(contents).write(to: url)
        return url.path
    }

    @Test("the executable is built next to the tests")
    func executableExists() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.executable.path), "looked for \(Self.executable.path)")
    }

    @Test("list names every built-in program")
    func list() throws {
        let result = try ftbench("list")
        #expect(result.status == 0)
        for entry in BuiltinPrograms.all { #expect(result.stdout.contains(entry.name)) }
    }

    @Test("exec runs a program file and prints its output and statistics")
    func exec() throws {
        let path = try temporaryFile(Array("""
            .data
            msg: .ascii "hello\\n"
            .text
            li r1, msg
            li r2, 6
            out r1, r2
            halt
            """.utf8), name: "hello.s")
        let result = try ftbench("exec", path, "--stats", "--seed", "3")
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("hello\n"))
        #expect(result.stdout.contains("instructions      4"))
        #expect(result.stdout.contains("ns/instruction"))
        #expect(result.stdout.contains("guest MIPS"))
    }

    @Test("exec --pairs prints the commonest instruction pairs; --no-superinstructions changes no result")
    func pairsAndPlainDispatch() throws {
        let result = try ftbench("exec", "loop", "--define", "ITERATIONS=1000", "--seed", "1", "--pairs", "3")
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first == "342612")  // the program's own output comes first
        #expect(lines.count == 5)
        #expect(lines.dropFirst(2).allSatisfy { $0.hasSuffix("%") })
        #expect(result.stdout.contains("add xori"))
        let fused = try ftbench("exec", "sort", "--define", "N=500", "--seed", "1", "--stats")
        let plain = try ftbench("exec", "sort", "--define", "N=500", "--seed", "1", "--stats", "--no-superinstructions")
        func hash(_ r: Result) -> Substring? { r.stdout.split(separator: "\n").first { $0.hasPrefix("state hash") } }
        #expect(fused.status == 0 && plain.status == 0)
        #expect(hash(fused) != nil && hash(fused) == hash(plain))
    }

    @Test("asm prints a listing with one line per instruction")
    func asmListing() throws {
        let result = try ftbench("asm", "fib", "--listing")
        #expect(result.status == 0)
        let program = try #require(try BuiltinPrograms.program(named: "fib"))
        let lines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("  @") }
        #expect(lines.count == program.instructions.count)
        #expect(result.stdout.contains("blti    r1, 2, @"))
    }

    struct BadRun: CustomTestStringConvertible, Sendable {
        var arguments: [String]
        var fileContents: [UInt8]?
        var expected: String
        var testDescription: String { expected }
    }

    static let badRuns: [BadRun] = [
        .init(arguments: ["exec", "no-such-program"], expected: "'no-such-program' is neither a built-in program"),
        .init(arguments: ["exec", "FILE"], fileContents: Array("halt\n  frob r1\n".utf8), expected: ".s:2:3: unknown mnemonic 'frob'"),
        .init(arguments: ["asm", "FILE"], fileContents: [0x68, 0x61, 0xFF, 0x00, 0x01], expected: ".s:1:3: unexpected byte 0xFF"),
        .init(arguments: ["exec", "FILE"], fileContents: Array("li r1, 0\nli r2, 1\ndivu r3, r2, r1\n".utf8), expected: ".s:3: guest fault on vCPU 0 at pc 2 after 2 instructions: divide by zero"),
        .init(arguments: ["exec", "fib", "--vcpus", "0"], expected: "--vcpus must be 1...64, got 0"),
        .init(arguments: ["exec", "fib", "--memory", "12Q"], expected: "--memory '12Q' is not a size"),
        .init(arguments: ["exec", "fib", "--memory", "1K"], expected: "is too small"),
        .init(arguments: ["exec", "fib", "--requests=-1"], expected: "--requests must not be negative"),
        .init(arguments: ["exec", "fib", "--pairs", "0"], expected: "--pairs must be positive, got 0"),
        .init(arguments: ["exec", "fib", "--pairs", "3", "--interleaving", "free"], expected: "--pairs single-steps one host thread"),
        .init(arguments: ["frobnicate"], expected: "Unexpected argument 'frobnicate'"),
        .init(arguments: ["calibrate", "--cpus", "0,0"], expected: "--cpus '0,0' names CPU 0 twice"),
        .init(arguments: ["calibrate", "--cpus", "0"], expected: "--cpus '0' is not two CPU numbers"),
        .init(arguments: ["calibrate", "--cpus", "0,4096"], expected: "CPU 4096 does not exist"),
        .init(arguments: ["calibrate", "--samples", "0"], expected: "--samples must be 1...1000000, got 0"),
        .init(arguments: ["calibrate", "--samples", "1000000000"], expected: "--samples must be 1...1000000"),
        .init(arguments: ["run", "--profile", "moon"], expected: "--profile: unknown channel profile 'moon'"),
        .init(arguments: ["run", "--rate=-5"], expected: "--rate: '-5' is not a number of requests per second from 0.001 to 1e12"),
        // Probing as a new user: each of these trapped, hung or said something misleading on main.
        .init(arguments: ["run", "--profile", ""], expected: "--profile: empty profile in ''"),
        .init(arguments: ["run", "--profile", ";"], expected: "--profile: empty profile in ';'"),
        .init(arguments: ["run", "--profile", ","], expected: "--profile: empty profile in ','"),
        .init(arguments: ["run", "--profile", "", "--ft", "on"], expected: "--profile: empty profile"),
        .init(arguments: ["run", "--ack", ""], expected: "--ack: unknown ACK policy ''"),
        .init(arguments: ["run", "--ack", ","], expected: "--ack: unknown ACK policy ''"),
        .init(arguments: ["run", "--ack", "interval:20s"], expected: "is not a duration from 1us to 10s"),
        .init(arguments: ["run", "--duration", "1e300"], expected: "--duration plus --warmup must be at most 3600 s"),
        .init(arguments: ["run", "--warmup", "1e300"], expected: "--duration plus --warmup must be at most 3600 s"),
        .init(arguments: ["run", "--rate", "1e-300"], expected: "--rate: '1e-300' is not a number of requests per second"),
        .init(arguments: ["run", "--rate", ""], expected: "--rate: '' is not a number"),
        .init(arguments: ["run", "--log-capacity", "1099511627776"], expected: "--log-capacity must be a power of two from 64 to 16777216"),
        .init(arguments: ["run", "--lag-bound", "soon"], expected: "--lag-bound 'soon' is not auto or a positive duration"),
        .init(arguments: ["run", "--profile", "lan,bw=1bit"], expected: "bandwidth '1bit' is below the 100000 bit/s ftbench emulates"),
        .init(arguments: ["run", "--profile", "1000s"], expected: "one-way latency '1000s' is above the 10s ftbench emulates"),
        .init(arguments: ["run", "--profile", "1000000s"], expected: "one-way latency '1000000s' is not a duration from 0 to 10s"),
        .init(arguments: ["run", "--profile", "lan,jitter=normal:1000s"], expected: "jitter 'normal:1000s'"),
        .init(arguments: ["run", "--profile", "2s", "--duration", "1"], expected: "round trip (4s) is not shorter than --duration"),
        .init(arguments: ["run", "--workload", ""], expected: "--workload: empty name in ''"),
        .init(arguments: ["run", "--vcpus", "-1"], expected: "--vcpus must be 1...64, got -1"),
        .init(arguments: ["exec", "fib", "--vcpus", "-1"], expected: "--vcpus must be 1...64, got -1"),
        .init(arguments: ["calibrate", "--samples", "-3"], expected: "--samples must be 1...1000000, got -3"),
        .init(arguments: ["run", "--primary-cpus", "0,0"], expected: "--primary-cpus '0,0' is not a CPU list"),
        .init(arguments: ["run", "--backup-cpus", "1-"], expected: "--backup-cpus '1-' is not a CPU list"),
        .init(arguments: ["run", "--primary-node=-1"], expected: "--primary-node must not be negative"),
        .init(arguments: ["run", "--interleaving", "timeslice:1ns"], expected: "--interleaving: 'timeslice:1ns' is not uni, roundrobin, timeslice"),
        .init(arguments: ["run", "--interleaving", "roundrobin,bogus"], expected: "--interleaving: 'bogus' is not"),
        .init(arguments: ["run", "--interleaving", "uni,uni"], expected: "--interleaving names uni/20000 twice"),
        .init(arguments: ["run", "--workload", "kvstore", "--interleaving", "free"], expected: "--interleaving free: kvstore uses dmapost"),
        .init(arguments: ["exec", "kvstore", "--interleaving", "free"], expected: "kvstore uses dmapost: free interleaving runs guests without devices"),
        .init(arguments: ["exec", "shared-counter", "--define", "NOPE=1"], expected: "shared-counter: --define NOPE: the program has no .const NOPE"),
        .init(arguments: ["run", "--workload", "fib,shared-counter", "--define", "ITERATIONS=5"], expected: "fib: --define ITERATIONS: the program has no .const ITERATIONS"),
        .init(arguments: ["exec", "fib", "--define", "N"], expected: "--define 'N': expected NAME=VALUE"),
        .init(arguments: ["exec", "fib", "--define", "N=1", "--define", "N=2"], expected: "--define names N twice"),
        .init(arguments: ["exec", "fib", "--interleaving", "parallel"], expected: "The value 'parallel' is invalid for '--interleaving"),
        .init(arguments: ["run", "--name", String(repeating: "a", count: 300)], expected: "--name must be 1-100 letters"),
        .init(arguments: ["run", "--name", "../x"], expected: "--name must be 1-100 letters"),
        .init(arguments: ["run", "--output", "/etc/hostname/sub", "--duration", "0.1"], expected: "cannot create output directory /etc/hostname/sub: Not a directory"),
        .init(arguments: ["run", "--repeat", "0"], expected: "--repeat must be 1...1000"),
        .init(arguments: ["run", "--rate", "sweep", "--repeat", "3"], expected: "--rate sweep runs each load once"),
        .init(arguments: ["run", "--memory", "1K"], expected: "--workload kvstore: guest memory of 1024 bytes is too small"),
        .init(arguments: ["asm", "FILE"], fileContents: Array(".memory 65536\n.data\nbig: .zero 70000\n.text\nhalt\n".utf8),
              expected: "guest memory of 65536 bytes is too small"),
        .init(arguments: ["asm", "FILE"], fileContents: Array((".entry 5\nhalt\n").utf8), expected: ".s:1:8: expected an entry label, found '5'"),
        .init(arguments: ["asm", "FILE"], fileContents: Array(("li r1, " + String(repeating: "-", count: 100_000) + "1\n").utf8),
              expected: "expression nested too deeply"),
        .init(arguments: ["asm", "FILE"], fileContents: Array(("li r1, " + String(repeating: "x", count: 2_000_000) + "\n").utf8),
              expected: "(2000000 characters)"),
        .init(arguments: ["exec", "FILE"], fileContents: Array("iret\n".utf8), expected: "iret with no interrupt being handled"),
        .init(arguments: ["run", "--ack", "sometimes"], expected: "--ack: unknown ACK policy 'sometimes'"),
        .init(arguments: ["run", "--ft", "maybe"], expected: "--ft must be on, off or both"),
        .init(arguments: ["run", "--fault", "meteor@1s"], expected: "--fault 'meteor@1s': unknown fault kind 'meteor'"),
        .init(arguments: ["run", "--fault", "partition@1s"], expected: "--fault 'partition@1s': partition needs a duration"),
        .init(arguments: ["run", "--fault", "primary-crash@soon"], expected: "--fault 'primary-crash@soon': time 'soon' is not a duration"),
        .init(arguments: ["run", "--fault", "primary-crash@1s+2s"], expected: "a crash has no duration"),
        .init(arguments: ["run", "--fault", "slow-backup@1s+1s:2"], expected: "fraction '2' is not a number in (0, 1]"),
        .init(arguments: ["run", "--fault", "arbiter-partition@1s+1s:middle"], expected: "side 'middle' is not primary or backup"),
        .init(arguments: ["run", "--fault", "latency-spike@1s+1s"], expected: "latency-spike needs :LATENCY"),
        .init(arguments: ["run", "--fault", "partition@icount:x+1s"], expected: "time 'icount:x' is not icount:N"),
        .init(arguments: ["run", "--fault", "primary-crash@9s", "--duration", "1"], expected: "time 9s is not before the run's end"),
        .init(arguments: ["run", "--fault", "primary-crash@1s", "--fault", "primary-crash@2s", "--restore-after", "never"],
              expected: "a second crash needs restored redundancy"),
        .init(arguments: ["run", "--restore-after", "soon"], expected: "--restore-after 'soon' is not a duration"),
        .init(arguments: ["run", "--ft", "off", "--fault", "primary-crash@1s"], expected: "--fault needs fault tolerance"),
        .init(arguments: ["run", "--heartbeat", "soon"], expected: "--heartbeat 'soon' is not a duration"),
        .init(arguments: ["run", "--failure-timeout", "5ms", "--ft", "on"], expected: "--failure-timeout (5ms) must exceed the heartbeat (10ms)"),
        .init(arguments: ["run", "--output", "/proc/ftbench-nope", "--duration", "0.1"], expected: "cannot create output directory /proc/ftbench-nope"),
        .init(arguments: ["run", "--workload", "nosuch"], expected: "'nosuch' is neither a built-in program"),
        .init(arguments: ["run", "--arrivals", "bursty"], expected: "--arrivals: 'bursty' is not poisson"),
        .init(arguments: ["run", "--backup-cpus", "0,512"], expected: "--backup-cpus: CPU 512 does not exist"),
        // This machine has one NUMA node: node 1 is rejected cleanly (FTBenchCLITests checks
        // node 0 is accepted and recorded).
        .init(arguments: ["run", "--backup-node", "1"], expected: "--backup-node: node 1 does not exist: this machine has 1 NUMA node (0...0)"),
        .init(arguments: ["replay", "FILE"], fileContents: [], expected: "byte offset 0: the file is empty: not a trace"),
        .init(arguments: ["log", "FILE"], fileContents: Array("row,round,status\n0,0,ok\n".utf8), expected: "byte offset 0: not an ftbench trace"),
        .init(arguments: ["replay", "FILE"], fileContents: Array("FTBTRACE".utf8) + [1, 0, 0, 0, 255, 255, 255, 255] + [UInt8](repeating: 0, count: 8),
              expected: "byte offset 12: the trace header claims"),
        .init(arguments: ["replay", "/nonexistent/x.fttrace"], expected: "/nonexistent/x.fttrace: cannot open: No such file"),
        .init(arguments: ["log", "x.fttrace", "--kind", "bogus"], expected: "--kind 'bogus' is not a kind of log entry"),
        .init(arguments: ["log", "x.fttrace", "--around", "-3"], expected: "--around"),
    ]

    @Test("bad input gives a one-line error and a non-zero exit, never a trap", arguments: badRuns)
    func badInput(_ bad: BadRun) throws {
        var arguments = bad.arguments
        if let contents = bad.fileContents, let index = arguments.firstIndex(of: "FILE") {
            arguments[index] = try temporaryFile(contents, name: "bad.s")
        }
        let process = try run(arguments)
        #expect(process.status != 0)
        let firstLine = process.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(firstLine.hasPrefix("Error: "), "stderr: \(process.stderr)")
        #expect(firstLine.contains(bad.expected), "stderr: \(process.stderr.prefix(300))")
        #expect(process.stderr.count < 1_000, "a one-line error, not \(process.stderr.count) bytes")
        #expect(!process.stderr.contains("Fatal error") && !process.stderr.contains("Stack dump"))
    }

    @Test("run writes a whole result set and prints a summary")
    func runWritesResults() throws {
        let dir = Scratch.path("run")
        let result = try ftbench("run", "--workload", "kvstore", "--rate", "5000", "--duration", "0.3", "--warmup", "0.1",
                                 "--profile", "loopback", "--no-calibration", "--failure-timeout", "10s", "--output", dir, "--name", "cli", "--repeat", "1")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("kvstore"))
        #expect(result.stdout.contains("results: \(dir)/cli-"))
        let sets = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(sets.count == 1 && sets[0].hasPrefix("cli-") && !sets[0].hasSuffix(".partial"))
        let runs = try String(contentsOfFile: "\(dir)/\(sets[0])/runs.csv", encoding: .utf8)
        #expect(runs.split(separator: "\n").count == 3, "header, FT off, FT on")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(sets[0])/meta.json"))) as? [String: Any]
        let settings = meta?["settings"] as? [String: String]
        #expect(settings?["duration"] == "0.3" && settings?["lag-bound"] == "auto" && settings?["repeat"] == "1")
        #expect(meta?["complete"] as? Bool == true)
        #expect(meta?["cpus_used"] as? [String: String] == ["primary": "0", "backup": "1"])
    }

    /// Placement on this one-node machine: node 0 for both sides is accepted, placed (or, without
    /// NUMA support, recorded as CPU pinning only) and recorded in meta.json; both sides on one
    /// CPU is run anyway, warned about once, and flagged oversubscribed in every row, with no FT
    /// ratio.
    @Test("run places sides on node 0, records it, and flags both sides on one CPU as oversubscribed")
    func placement() throws {
        let dir = Scratch.path("pl")
        let result = try ftbench("run", "--workload", "loop", "--define", "ITERATIONS=2000000", "--ft", "both", "--duration", "0.2", "--warmup", "0",
                                 "--profile", "loopback", "--no-calibration", "--failure-timeout", "10s", "--primary-node", "0", "--backup-node", "0",
                                 "--primary-cpus", "0", "--backup-cpus", "0", "--output", dir, "--name", "pl", "--repeat", "1")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.components(separatedBy: "oversubscribed").count == 2, "one warning: \(result.stderr)")
        let sets = try FileManager.default.contentsOfDirectory(atPath: dir)
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(sets[0])/meta.json"))) as? [String: Any]
        let placement = try #require(meta?["placement"] as? [String: String])
        #expect(placement["primary_cpus"] == "0" && placement["backup_cpus"] == "0")
        #expect(placement["backup_node"]?.hasPrefix("0") == true, "\(placement)")
        #expect(meta?["oversubscribed"] as? Bool == true)
        let lines = try String(contentsOfFile: "\(dir)/\(sets[0])/runs.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(lines[0], $0)) }
        // FT off runs one thread (not oversubscribed on one CPU); FT on runs two.
        #expect(rows.map { $0["oversubscribed"] ?? "" } == ["no", "yes"])
        #expect(rows[1]["ft_ratio"] == "")
    }

    /// Several interleaving modes in one run: one row each, the mode in the `interleaving` column
    /// and the summary, switches counted under timeslice and none under round robin.
    @Test("run --interleaving runs each mode as its own scenario")
    func interleavingModes() throws {
        let dir = Scratch.path("il")
        let result = try ftbench("run", "--workload", "partitioned", "--vcpus", "2", "--interleaving", "roundrobin,timeslice:20us,uni,free,recorded",
                                 "--ft", "on", "--duration", "5", "--warmup", "0", "--profile", "loopback", "--no-calibration",
                                 "--failure-timeout", "10s", "--output", dir, "--name", "il", "--repeat", "1")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("timeslice:20us/100000000") && result.stdout.contains("interleaving"))
        let sets = try FileManager.default.contentsOfDirectory(atPath: dir)
        let lines = try String(contentsOfFile: "\(dir)/\(sets[0])/runs.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = lines[0]
        let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
        #expect(rows.map { $0["interleaving"] ?? "" } == ["round-robin/20000", "timeslice:20us/100000000", "uni/20000", "free", "recorded"])
        #expect(rows.map { $0["vcpus"] ?? "" } == ["2", "2", "1", "2", "2"])
        // free and recorded with FT on: two vCPU threads a side, four on this 2-CPU machine.
        #expect(rows.map { $0["oversubscribed"] ?? "" } == ["no", "no", "no", "yes", "yes"])
        #expect(rows.allSatisfy { $0["status"] == "ok" && $0["divergences"] == "0" })
        #expect(Double(rows[0]["ordering_entries_per_s"] ?? "") == 0)
        #expect((Double(rows[1]["ordering_entries_per_s"] ?? "") ?? 0) > 0)
        #expect((Double(rows[4]["ordering_entries_per_s"] ?? "") ?? 0) > 0)
        // partitioned is fixed work: it halts long before 5 s, and the row says how long it took.
        #expect(rows.allSatisfy { (Double($0["work_s"] ?? "") ?? 0) > 0 && (Double($0["work_s"] ?? "") ?? 9) < 5 })
    }

    /// A guest with devices under `recorded`, FT off and on: its clients are served (latency and
    /// achieved rate in the row), DMA deliveries and timer ticks are ticketed and logged, and the
    /// FT-on backup replays it.
    @Test("run --interleaving recorded serves a guest with DMA, a timer and wfi")
    func recordedDevices() throws {
        let dir = Scratch.path("rd")
        let result = try ftbench("run", "--workload", "kvstore-split", "--define", "REQUESTS=150", "--interleaving", "recorded", "--ft", "both",
                                 "--rate", "1000", "--duration", "20", "--warmup", "0", "--profile", "lan", "--no-calibration",
                                 "--failure-timeout", "10s", "--output", dir, "--name", "rd", "--repeat", "1")
        #expect(result.status == 0, "\(result.stderr)")
        let set = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first)
        let lines = try String(contentsOfFile: "\(dir)/\(set)/runs.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(lines[0], $0)) }
        #expect(rows.map { $0["ft"] ?? "" } == ["off", "on"])
        #expect(rows[1]["divergences"] == "0")
        for row in rows {
            #expect(row["status"] == "ok" && row["interleaving"] == "recorded", "\(row)")
            #expect((Double(row["p50_us"] ?? "") ?? 0) > 0 && (Double(row["achieved_rps"] ?? "") ?? 0) > 0, "\(row)")
            #expect((Double(row["ordering_entries_per_s"] ?? "") ?? 0) > 0 && row["duplicate_replies"] == "0", "\(row)")
        }
    }

    /// Recording overhead: each fixed-work row's work time against the same round's free FT-off
    /// twin, in runs.csv and, with its interval, in summary.csv.
    @Test("free_ratio pairs each fixed-work row with its free FT-off twin of the same round")
    func freeRatio() throws {
        let dir = Scratch.path("fr")
        let result = try ftbench("run", "--workload", "partitioned", "--vcpus", "2", "--interleaving", "free,recorded,roundrobin",
                                 "--ft", "off", "--duration", "5", "--warmup", "0", "--no-calibration", "--primary-cpus", "0-1",
                                 "--output", dir, "--name", "fr", "--repeat", "2")
        #expect(result.status == 0, "\(result.stderr)")
        let set = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first)
        let lines = try String(contentsOfFile: "\(dir)/\(set)/runs.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(lines[0], $0)) }
        for row in rows {
            let ratio = Double(row["free_ratio"] ?? "")
            if row["interleaving"] == "free" {
                #expect(ratio == nil)
            } else {
                // The twin's work time over this row's, from the same round's work_s columns.
                let twin = try #require(rows.first { $0["interleaving"] == "free" && $0["round"] == row["round"] })
                let expected = (Double(twin["work_s"] ?? "") ?? 0) / (Double(row["work_s"] ?? "") ?? 1)
                #expect(abs((ratio ?? 0) - expected) < 0.001 * expected, "\(row)")
            }
        }
        let summary = try String(contentsOfFile: "\(dir)/\(set)/summary.csv", encoding: .utf8)
        #expect(summary.split(separator: "\n").filter { $0.contains(",free_ratio,") }.count == 2)
    }

    /// The README's failover example: a primary crash, detected, taken over, and reported in
    /// faults.csv and timeline.csv.
    @Test("run --fault crashes the primary; faults.csv and timeline.csv say what the clients saw")
    func failover() throws {
        let dir = Self.temporaryDirectory()
        let result = try ftbench("run", "--workload", "kvstore", "--ft", "on", "--rate", "5000", "--duration", "0.7", "--warmup", "0.1",
                                 "--repeat", "1", "--primary-cpus", "none", "--backup-cpus", "none", "--no-calibration", "--heartbeat", "30ms", "--failure-timeout", "300ms",
                                 "--fault", "primary-crash@300ms", "--output", dir, "--name", "crash")
        #expect(result.status == 0, "\(result.stderr)")
        let set = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix("crash-") })
        let faults = try String(contentsOfFile: "\(dir)/\(set)/faults.csv", encoding: .utf8).split(separator: "\n")
        #expect(faults.count == 2, "\(faults)")
        let row = faults.last.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
        let column = { (name: String) in ResultSet.faultsHeader.firstIndex(of: name).map { row[$0] } ?? "" }
        #expect(column("kind") == "primary-crash" && column("new_owner") == "B" && column("epoch") == "2")
        #expect(column("outputs_lost") == "0" && column("requests_unanswered") == "0" && column("duplicates_to_app") == "0", "\(row)")
        #expect(Double(column("detection_ms")).map { $0 > 0 } == true, "detection comes after the crash: \(row)")
        let timeline = try String(contentsOfFile: "\(dir)/\(set)/timeline.csv", encoding: .utf8).split(separator: "\n")
        #expect(timeline.count > 70 && timeline.contains { $0.hasSuffix(",2") } && timeline.contains { $0.hasSuffix(",1") })
    }

    /// The README's trace workflow: record, list, replay; then a replay that diverges prints
    /// where, with the entries before it, and a corrupt trace names the byte offset and seq.
    @Test("run --record-log writes traces that log lists and replay replays")
    func traces() throws {
        let dir = Self.temporaryDirectory()
        let result = try ftbench("run", "--workload", "nondet", "--ft", "on", "--duration", "0.2", "--warmup", "0", "--repeat", "1",
                                 "--profile", "loopback", "--no-calibration", "--failure-timeout", "10s", "--output", dir, "--record-log", "\(dir)/traces")
        #expect(result.status == 0, "\(result.stderr)")
        let traces = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/traces")
        #expect(traces == ["nondet-loopback-output-aware:64-r1.fttrace"])
        let trace = "\(dir)/traces/\(traces[0])"
        let sets = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("run-") }
        let runs = try String(contentsOfFile: "\(dir)/\(sets[0])/runs.csv", encoding: .utf8)
        #expect(runs.split(separator: "\n").last?.contains(",\(trace),") == true)

        let replay = try ftbench("replay", trace)
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains("guest MIPS") && replay.stdout.contains("matches the end-of-log entry"))
        let log = try ftbench("log", trace, "--around", "20")
        #expect(log.status == 0)
        let lines = log.stdout.split(separator: "\n").filter { $0.hasPrefix("#") && !$0.hasPrefix("# ") }
        #expect(lines.count == 17 && lines.first?.hasPrefix("#12 ") == true, "\(lines)")
        #expect(log.stdout.contains("clockRead") && log.stdout.contains("100.0%"))

        // The same log with another final state hash: a divergence at the end-of-log entry.
        let file = try TraceFile(path: trace)
        let edited = "\(dir)/edited.fttrace"
        let writer = try TraceWriter(path: edited, header: file.header)
        var reader = file.records()
        var last: UInt64 = 0
        while let record = try reader.next() {
            var entry = record.entry.owned
            if entry.header.kind == .endOfLog { entry = LogEntry(header: entry.header, value: 1); last = entry.header.seq }
            LogEntryCodec.encode(entry).withUnsafeBytes { writer.append(encoded: $0) }
        }
        try writer.finish()
        let diverged = try ftbench("replay", edited)
        #expect(diverged.status != 0)
        #expect(diverged.stdout.contains("replay diverged at log entry #\(last) (endOfLog)"))
        #expect(diverged.stdout.split(separator: "\n").filter { $0.hasPrefix("  #") }.count == 8, "\(diverged.stdout)")
        #expect(diverged.stderr.hasPrefix("Error: ") && diverged.stderr.split(separator: "\n").count == 1)

        // A flipped bit: the error names the byte offset and the seq.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: trace)))
        bytes[bytes.count / 2] ^= 1
        let corrupt = try temporaryFile(bytes, name: "corrupt.fttrace")
        for command in ["replay", "log"] {
            let failed = try ftbench(command, corrupt)
            #expect(failed.status != 0)
            #expect(failed.stderr.contains("byte offset") && failed.stderr.contains("entry #"), "\(failed.stderr)")
            #expect(failed.stderr.split(separator: "\n").count == 1 && !failed.stderr.contains("Fatal error"))
        }
    }

    static func temporaryDirectory() -> String {
        Scratch.path("run")
    }

    /// Main threw away every completed scenario when one failed, and skipped the rest.
    @Test("a failing scenario is recorded with its error, the others still run, and the exit is non-zero")
    func failingScenario() throws {
        let dir = Self.temporaryDirectory()
        let faulting = try temporaryFile(Array("li r1, 0\nli r2, 1\ndivu r3, r2, r1\nhalt\n".utf8), name: "fault.s")
        let result = try ftbench("run", "--workload", "compute,\(faulting),kvstore", "--rate", "5000", "--ft", "off", "--duration", "0.2",
                                 "--warmup", "0.05", "--no-calibration", "--failure-timeout", "10s", "--output", dir, "--name", "partly", "--repeat", "1")
        #expect(result.status != 0)
        #expect(result.stderr.contains("1 of 3 scenario(s) failed"), "\(result.stderr)")
        let sets = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(sets.count == 1 && !sets[0].hasSuffix(".partial"))
        let runs = try String(contentsOfFile: "\(dir)/\(sets[0])/runs.csv", encoding: .utf8).split(separator: "\n")
        #expect(runs.count == 4)
        #expect(runs[2].contains(",failed,") && runs[2].contains("divide by zero"))
        #expect(runs[1].contains(",ok,") && runs[3].contains(",ok,"))
    }

    /// Main wrote progress with carriage returns into logs and CI output.
    @Test("progress is whole lines when standard error is not a terminal")
    func progressLines() throws {
        let result = try ftbench("run", "--workload", "fib", "--ft", "off", "--duration", "0.1", "--warmup", "0",
                                 "--no-calibration", "--failure-timeout", "10s", "--output", Self.temporaryDirectory(), "--repeat", "1")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("\r"))
        #expect(result.stderr.contains("[1/1, ") && result.stderr.contains(" left] fib FT off: "), "scenario i of n and the time left")
    }

    /// Main built every request up front: --requests 1000000000 aborted for lack of memory.
    @Test("exec makes client requests only when the guest takes them")
    func lazyRequests() throws {
        let fib = try ftbench("exec", "fib", "--requests", "1000000000")
        #expect(fib.status == 0, "\(fib.stderr)")
        let kvstore = try ftbench("exec", "kvstore", "--requests", "50", "--stats", "--seed", "1")
        #expect(kvstore.status == 0, "\(kvstore.stderr)")
        #expect(kvstore.stdout.contains("requests sent     50"))
    }

    /// Main lost every finished scenario on SIGINT or SIGTERM.
    @Test("SIGINT keeps the finished scenarios in a set marked incomplete", arguments: [SIGINT, SIGTERM])
    func interrupted(signal: Int32) throws {
        let dir = Self.temporaryDirectory()
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = ["run", "--workload", "fib", "--ft", "off", "--duration", "0.3", "--warmup", "0", "--repeat", "20",
                             "--no-calibration", "--failure-timeout", "10s", "--output", dir, "--name", "cut"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        usleep(900_000)
        kill(process.processIdentifier, signal)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(stderr)")
        let sets = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(sets.count == 1 && sets[0].hasSuffix("-incomplete"), "\(sets)")
        let runs = try String(contentsOfFile: "\(dir)/\(sets[0])/runs.csv", encoding: .utf8).split(separator: "\n")
        #expect(runs.count >= 2 && runs.count < 21, "some scenarios finished, not all")
        let meta = try String(contentsOfFile: "\(dir)/\(sets[0])/meta.json", encoding: .utf8)
        #expect(meta.contains("\"complete\" : false"))
    }

    @Test("calibrate reports the floor, the channel and the interpreter")
    func calibrate() throws {
        let result = try ftbench("calibrate", "--samples", "50", "--entries", "200000")
        #expect(result.status == 0, "\(result.stderr)")
        for line in ["floor (cache-line round trip)", "channel round trip, 8-byte entry", "channel round trip, 64-byte entry",
                     "one at a time", "batches of 64", "interpreter (fib)", "production path", "round trip, 8-byte payload",
                     "round trip, 64-byte payload"] {
            #expect(result.stdout.contains(line))
        }
    }

    @Test("calibrate --machine-readable prints one positive figure per name, raw ring and production path")
    func calibrateMachineReadable() throws {
        let result = try ftbench("calibrate", "--samples", "50", "--entries", "200000", "--machine-readable")
        #expect(result.status == 0, "\(result.stderr)")
        var figures: [String: Double] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ")
            #expect(parts.count == 2, "line '\(line)'")
            if parts.count == 2 { figures[String(parts[0])] = Double(parts[1]) }
        }
        for name in ["floor_p50", "raw_rt8_p50", "raw_rt64_p50", "raw_batched64", "path_rt8_p50", "path_rt64_p50", "path_batched64"] {
            #expect((figures[name] ?? 0) > 0, "\(name) in \(result.stdout)")
        }
        // Each channel figure with the floor just before and just after it, chained: one
        // measurement's floor after is the next one's before.
        let measured = ["raw_rt8", "raw_rt64", "raw_single64", "raw_batched64", "path_rt8", "path_rt64", "path_batched64"]
        for name in measured {
            #expect((figures["\(name)_floor_before"] ?? 0) > 0 && (figures["\(name)_floor_after"] ?? 0) > 0, "\(name) in \(result.stdout)")
        }
        #expect(figures["raw_rt8_floor_before"] == figures["floor_p50"])
        for (earlier, later) in zip(measured, measured.dropFirst()) {
            #expect(figures["\(earlier)_floor_after"] == figures["\(later)_floor_before"])
        }
    }

    /// `exec` is parsed by its own parser on the fast start-up path; help and errors must still
    /// be the full command line's.
    @Test("exec --help and a bad exec option read as the full command line's")
    func execThroughFullParser() throws {
        let help = try ftbench("exec", "--help")
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: ftbench exec"), "\(help.stdout.prefix(200))")
        let bad = try ftbench("exec", "fib", "--quantum", "lots")
        #expect(bad.status == 64)
        #expect(bad.stderr.hasPrefix("Error: "), "\(bad.stderr)")
        #expect(bad.stderr.contains("Usage: ftbench exec"), "\(bad.stderr)")
    }

    @Test("docs/ISA.md carries the instruction table generated from the ISA definition")
    func isaReferenceIsCurrent() throws {
        let doc = try String(contentsOf: Self.repositoryRoot.appendingPathComponent("docs/ISA.md"), encoding: .utf8)
        #expect(doc.contains(ISAReference.markdownTable()), "regenerate it: swift run ftbench isa")
        let result = try ftbench("isa")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == ISAReference.markdownTable())
    }

    @Test("byte sizes", arguments: [("4096", 4096), ("64K", 65536), ("16M", 16 << 20), ("1G", 1 << 30), ("2MiB", 2 << 20), ("12Q", nil), ("-1", nil), ("K", nil)] as [(String, Int?)])
    func byteSizes(_ text: String, _ expected: Int?) {
        #expect(parseByteSize(text) == expected)
    }
}
