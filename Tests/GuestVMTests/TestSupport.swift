import GuestVM
import Topology
import Testing

/// Assembles `source`, failing the test with the assembler's message if it does not assemble.
func assemble(_ source: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Program {
    do {
        return try Assembler.assemble(source, file: "test.s")
    } catch {
        Issue.record("does not assemble: \(error)", sourceLocation: sourceLocation)
        throw error
    }
}

/// Runs vCPU 0 of a fresh machine to its first exit other than reaching a limit.
func runToExit(_ source: String, vcpus: Int = 1, memory: Int? = nil) throws -> (Machine, Exit) {
    let machine = try Machine(program: try assemble(source), vcpus: vcpus, memorySize: memory)
    let exit = machine.run(vcpu: 0, until: .max)
    return (machine, exit)
}

/// Records a standalone run of `program` (real clock, timer and seeded random), then replays the
/// recording on a fresh machine. Returns both summaries.
func recordAndReplay(_ program: Program, vcpus: Int? = nil, requests: [[UInt8]] = [], seed: UInt64,
                     quantum: UInt64 = 10_000) throws -> (recorded: RunSummary, replayed: RunSummary, script: EventScript) {
    let n = vcpus ?? program.preferredVCPUs
    let primary = try Machine(program: program, vcpus: n)
    var recorder = StandaloneDriver(requests: requests, seed: seed, record: true)
    let recorded = try primary.drive(&recorder, quantum: quantum)
    let script = try #require(recorder.recording)
    let backup = try Machine(program: program, vcpus: n)
    var replayer = ScriptDriver(script)
    let replayed = try backup.drive(&replayer, quantum: quantum)
    #expect(replayer.isExhausted, "replay left part of the script unused")
    return (recorded, replayed, script)
}

/// Collects the outputs of a standalone run as text lines.
final class OutputCollector: @unchecked Sendable {
    var outputs: [[UInt8]] = []
    var text: String { outputs.map { String(decoding: $0, as: UTF8.self) }.joined() }
}

/// Should long stress runs be used? Set FTBENCH_LONG_TESTS=1.
let longTests: Bool = {
    #if canImport(Glibc)
    return getenv("FTBENCH_LONG_TESTS").map { String(cString: $0) == "1" } ?? false
    #else
    return false
    #endif
}()

#if canImport(Glibc)
import Glibc
#endif
