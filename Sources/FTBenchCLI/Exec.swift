import Foundation
import ArgumentParser
import GuestVM
import Harness
import Topology

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a guest program alone (no replication) and print its output.",
        discussion: """
            Inputs are real: the host clock for rdclock, a seeded generator for rdrand, a timer \
            in host time, and for programs that post a DMA buffer (kvstore) a client that sends \
            --requests requests, one at a time. Text outputs are printed as they come; binary \
            outputs (kvstore replies) are counted.
            """)

    @Argument(help: "A built-in program (see `ftbench list`) or an assembly file.")
    var program: String

    @Option(parsing: .unconditional, help: "Number of vCPUs (default: the program's .vcpus, else 1).")
    var vcpus: Int?

    @Option(help: "Guest memory size, e.g. 4M or 16MiB (default: the program's .memory, else 4 MiB).")
    var memory: String?

    @Option(parsing: .unconditional, help: "Instructions per vCPU slice before the next vCPU runs and events are injected.")
    var quantum: UInt64 = 100_000

    @Option(parsing: .unconditional, help: "Seed for rdrand and for the synthetic client's requests (default: random).")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "Requests the synthetic client sends to a program that posts a DMA buffer.")
    var requests: Int = 100_000

    @Option(help: "How vCPUs interleave: roundrobin (one host thread, turns of --quantum instructions) or free (a host thread per vCPU, in parallel, nothing recorded; programs without devices only).")
    var interleaving: ExecInterleaving = .roundrobin

    @OptionGroup var defines: DefineOptions

    @Flag(help: "Print instructions executed, wall seconds, ns per instruction and guest MIPS.")
    var stats = false

    enum ExecInterleaving: String, ExpressibleByArgument, CaseIterable {
        case roundrobin, free
    }

    func validate() throws {
        if let vcpus, !(1...64).contains(vcpus) { throw ValidationError("--vcpus must be 1...64, got \(vcpus)") }
        if let memory, parseByteSize(memory) == nil { throw ValidationError("--memory '\(memory)' is not a size such as 4194304, 64K or 16M") }
        if quantum == 0 { throw ValidationError("--quantum must be positive") }
        if requests < 0 { throw ValidationError("--requests must not be negative, got \(requests)") }
    }

    func run() throws {
        let loaded = try ProgramLoader.load(program, defines: try defines.values())
        let machine: Machine
        do {
            machine = try Machine(program: loaded.program, vcpus: vcpus ?? loaded.program.preferredVCPUs,
                                  memorySize: memory.flatMap(parseByteSize))
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
        let start = monotonicNanos()
        let summary: RunSummary
        do {
            summary = try machine.drive(&driver, quantum: quantum, hashingState: stats)
        } catch let fault as GuestFault {
            throw Self.error(fault, in: loaded.program)
        } catch {
            throw CLIError("\(program): \(error)")
        }
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

/// Prints text outputs as they come and counts binary ones.
struct OutputPrinter {
    private var binaryOutputs = 0
    private var binaryBytes = 0

    mutating func take(_ bytes: UnsafeRawBufferPointer) {
        let isText = bytes.allSatisfy { $0 == 0x0A || $0 == 0x09 || ($0 >= 0x20 && $0 < 0x7F) }
        if isText {
            print(String(decoding: bytes, as: UTF8.self), terminator: "")
        } else {
            binaryOutputs += 1
            binaryBytes += bytes.count
        }
    }

    func finish() {
        if binaryOutputs > 0 { print("(\(binaryOutputs) binary outputs, \(binaryBytes) bytes)") }
    }
}
