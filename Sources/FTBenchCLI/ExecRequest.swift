import Foundation
import ArgumentParser
import GuestVM
import Harness
import Topology

/// An `ftbench exec` line's values, checked and run. `Exec` builds one from the full parser;
/// `quickParse` builds one from the plain lines users type most, without building the parser.
struct ExecRequest: Equatable {
    enum Interleaving: String, CaseIterable {
        case roundrobin, free
    }

    var program: String
    var vcpus: Int?
    var memory: String?
    var quantum: UInt64 = 100_000
    var seed: UInt64?
    var requests: Int = 100_000
    var interleaving: Interleaving = .roundrobin
    var defines: [String] = []
    var stats = false
    var superinstructions = true
    /// Print this many of the commonest dynamic instruction pairs (`PairProfile`).
    var pairs: Int?

    /// The request a plain `exec` line names, or nil when the line needs the full parser: help,
    /// an option this parser does not know, an option given twice, a value that does not parse or
    /// fails `validate()`. The full parser then reads the line, so every message and exit code is
    /// the one it gives. Building that parser (every subcommand's options, each a dynamic cast)
    /// took a third of `ftbench exec`'s CPU time for a trivial program (perf; docs/INTERPRETER.md,
    /// "Start-up").
    static func quickParse(_ arguments: [String]) -> ExecRequest? {
        var request = ExecRequest(program: "")
        var seen: Set<String> = []
        var program: String?
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("-") else {
                guard program == nil else { return nil }
                program = argument
                continue
            }
            if argument == "--stats" {
                guard seen.insert(argument).inserted else { return nil }
                request.stats = true
                continue
            }
            let name: String, value: String
            if let equals = argument.firstIndex(of: "=") {
                (name, value) = (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
            } else {
                guard index < arguments.endIndex else { return nil }
                (name, value) = (argument, arguments[index])
                index += 1
            }
            guard name == "--define" || seen.insert(name).inserted else { return nil }
            switch name {
            case "--define": request.defines.append(value)
            case "--vcpus": guard let n = Int(value) else { return nil }; request.vcpus = n
            case "--quantum": guard let n = UInt64(value) else { return nil }; request.quantum = n
            case "--seed": guard let n = UInt64(value) else { return nil }; request.seed = n
            case "--requests": guard let n = Int(value) else { return nil }; request.requests = n
            case "--memory":
                // Not parsed unconditionally: a value that looks like an option is the full
                // parser's to report.
                guard !value.hasPrefix("-") else { return nil }
                request.memory = value
            case "--interleaving": guard let mode = Interleaving(rawValue: value) else { return nil }; request.interleaving = mode
            default: return nil
            }
        }
        guard let program else { return nil }
        request.program = program
        return (try? request.validate()) == nil ? nil : request
    }

    func validate() throws(ValidationError) {
        _ = try DefineOptions.values(of: defines)
        if let vcpus, !(1...64).contains(vcpus) { throw ValidationError("--vcpus must be 1...64, got \(vcpus)") }
        if let memory, parseByteSize(memory) == nil { throw ValidationError("--memory '\(memory)' is not a size such as 4194304, 64K or 16M") }
        if quantum == 0 { throw ValidationError("--quantum must be positive") }
        if requests < 0 { throw ValidationError("--requests must not be negative, got \(requests)") }
        if let pairs, pairs < 1 { throw ValidationError("--pairs must be positive, got \(pairs)") }
        if pairs != nil, interleaving == .free { throw ValidationError("--pairs single-steps one host thread: it needs --interleaving roundrobin") }
    }

    func run() throws {
        let loaded = try ProgramLoader.load(program, defines: try DefineOptions.values(of: defines))
        let machine: Machine
        do {
            machine = try Machine(program: loaded.program, vcpus: vcpus ?? loaded.program.preferredVCPUs,
                                  memorySize: memory.flatMap(parseByteSize), superinstructions: superinstructions ? .on : .off)
        } catch {
            throw CLIError("\(program): \(error)")
        }
        let seed = self.seed ?? UInt64.random(in: .min ... .max)
        if interleaving == .free { return try runFree(machine, name: loaded.program, seed: seed) }
        var printer = OutputPrinter()
        var client = SplitMix64(seed: seed ^ 0xC1E7)
        var driver = StandaloneDriver(
            requestCount: requests, makeRequest: { Self.clientRequest(number: $0, using: &client) }, seed: seed,
            onOutput: { printer.take($0) })
        if let pairs {
            let table = try profilePairs(machine, driver, name: loaded.program, top: pairs)
            printer.finish()
            return print(table)
        }
        let start = monotonicNanos()
        let summary = try drive(machine, &driver, name: loaded.program, hashingState: stats)
        // The guest's time alone: the state hash at the end (4 MiB by default) is not guest work.
        let seconds = Double(summary.guestStoppedNanos - start) / 1e9
        printer.finish()
        guard stats else { return }
        let instructions = summary.totalInstructions
        let ns = instructions > 0 ? seconds * 1e9 / Double(instructions) : 0
        print("""
            --- \(loaded.program.name): \(machine.vcpuCount) vCPU(s), seed \(seed)
            instructions      \(instructions)
            wall seconds      \(Format.fixed(seconds, 4))
            ns/instruction    \(Format.fixed(ns, 3))
            guest MIPS        \(Format.fixed(seconds > 0 ? Double(instructions) / seconds / 1e6 : 0, 1))
            outputs           \(summary.outputs) (\(summary.outputBytes) bytes)
            requests sent     \(driver.requestsSent)
            timer ticks       \(driver.timerTicks)
            state hash        \(Format.hex(summary.stateHash))
            """)
    }

    /// `machine.drive` with this line's quantum; a guest fault is reported at its source line,
    /// any other error named for the program.
    private func drive<D: HostDriver>(_ machine: Machine, _ driver: inout D, name program: Program, hashingState: Bool) throws -> RunSummary {
        do {
            return try machine.drive(&driver, quantum: quantum, hashingState: hashingState)
        } catch let fault as GuestFault {
            throw Self.error(fault, in: program)
        } catch {
            throw CLIError("\(self.program): \(error)")
        }
    }

    /// `--pairs`: the run single-stepped under a `PairProfile`, then the `top` commonest pairs,
    /// each with its share of all instructions executed, as lines to print after the outputs.
    private func profilePairs(_ machine: Machine, _ driver: StandaloneDriver, name program: Program, top: Int) throws -> String {
        var profile = PairProfile(driver, machine: machine)
        let summary = try drive(machine, &profile, name: program, hashingState: false)
        let total = max(summary.totalInstructions, 1)
        var lines = ["--- \(program.name): \(summary.totalInstructions) instructions; commonest pairs whose first falls through"]
        for pair in profile.pairs.prefix(top) {
            let name = "\(pair.first.mnemonic) \(pair.second.mnemonic)", count = String(pair.count)
            let share = Format.fixed(Double(pair.count) * 100 / Double(total), 2)
            lines.append(name + String(repeating: " ", count: max(1, 16 - name.count)) + String(repeating: " ", count: max(0, 12 - count.count))
                         + count + "  " + share + "%")
        }
        return lines.joined(separator: "\n")
    }

    /// A free run: every vCPU on its own thread; outputs are printed per vCPU, in vCPU order,
    /// once all have halted (their interleaving in time is not recorded).
    private func runFree(_ machine: Machine, name program: Program, seed: UInt64) throws {
        let cpus = HostTopology.current().cpuCount
        let oversubscribed = machine.vcpuCount > cpus
        if oversubscribed {
            FileHandle.standardError.write(Data("ftbench: warning: \(machine.vcpuCount) vCPU threads on \(cpus) CPUs: oversubscribed, spinning vCPUs wait for each other's time slices\n".utf8))
        }
        let summary: FreeRun.Summary
        do { summary = try FreeRun.run(machine, seed: seed, namePrefix: "exec") } catch { throw CLIError("\(program.name): \(error)") }
        var printer = OutputPrinter()
        for vcpu in summary.vcpus {
            for output in vcpu.outputs { output.withUnsafeBytes { printer.take($0) } }
        }
        printer.finish()
        if let fault = summary.firstFault { throw Self.error(fault, in: program) }
        guard stats else { return }
        let instructions = summary.totalInstructions
        let seconds = Double(summary.wallNanos) / 1e9
        print("""
            --- \(program.name): \(machine.vcpuCount) vCPU(s) on \(machine.vcpuCount) threads (free\(oversubscribed ? ", oversubscribed" : "")), seed \(seed)
            instructions      \(instructions) (\(summary.vcpus.map { String($0.instructions) }.joined(separator: " + ")))
            wall seconds      \(Format.fixed(seconds, 4))
            guest MIPS        \(Format.fixed(seconds > 0 ? Double(instructions) / seconds / 1e6 : 0, 1)) (spin-waits count too)
            outputs           \(summary.vcpus.reduce(0) { $0 + $1.outputCount })
            state hash        \(Format.hex(summary.stateHash))
            """)
    }

    static func error(_ fault: GuestFault, in program: Program) -> CLIError {
        let line = program.sourceLines.indices.contains(fault.pc) ? ":\(program.sourceLines[fault.pc])" : ""
        return CLIError("\(program.name)\(line): \(fault)")
    }

    /// The synthetic client's request `number` (from 0), drawn from `rng` in order: half GETs,
    /// half PUTs over 10,000 keys.
    static func clientRequest(number: Int, using rng: inout SplitMix64) -> [UInt8] {
        let key = rng.next() % 10_000 + 1
        let op: KVStoreProtocol.Operation = rng.next() & 1 == 0 ? .get : .put
        return KVStoreProtocol.request(seq: UInt64(number + 1), op: op, key: key, value: rng.next())
    }
}
