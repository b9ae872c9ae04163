import Foundation
import GuestVM
import Harness
import LogChannel
import Replication
import Testing

/// Built-in programs shrunk to test size (the same code, smaller constants).
func testProgram(_ name: String) throws -> Program {
    var source = try #require(BuiltinPrograms.named(name)).source
    for (from, to) in [(".const N = 32", ".const N = 16"), (".const PASSES = 8192", ".const PASSES = 200"),
                       (".const ITERATIONS = 200000", ".const ITERATIONS = 3000"), (".const ITERATIONS = 100000000", ".const ITERATIONS = 200000"),
                       (".const ITERATIONS = 100000", ".const ITERATIONS = 3000"), (".const PASSES = 32", ".const PASSES = 2"),
                       (".const N = 10000000", ".const N = 50000"), ("li r1, 1000\n    settimer r1", "li r1, 100\n    settimer r1")] {
        source = source.split(separator: from, omittingEmptySubsequences: false).joined(separator: to)
    }
    return try Assembler.assemble(source, file: name)
}

func options(_ profile: ChannelProfile = .loopback, ack: AckPolicy = .outputAware(batch: 64), seed: UInt64 = 1,
             duration: UInt64 = 300_000_000) -> ReplicationOptions {
    var o = ReplicationOptions()
    o.profile = profile
    o.ackPolicy = ack
    o.seed = seed
    o.durationNanos = duration
    o.warmupNanos = 0
    o.quantum = 5_000
    return o
}

let longTests = ProcessInfo.processInfo.environment["FTBENCH_LONG_TESTS"] == "1"

func client(rate: Double = 20_000, seed: UInt64 = 1) -> KVClient {
    KVClient(rate: rate, arrivals: .poisson, seed: seed)
}

@Suite("Replicated runs")
struct ReplicatedRunTests {
    static let workloads = ["kvstore", "compute", "nondet", "shared-counter", "partitioned", "fib", "sieve", "loop"]

    /// The core promise: for every workload and several seeds the backup replays the primary
    /// exactly. The state hashes compared cover registers, devices and all of memory.
    /// Three seeds normally; the 20 the issue asks for with FTBENCH_LONG_TESTS=1.
    static let seeds: [UInt64] = longTests ? Array(1...20) : [1, 2, 3]

    @Test("replay equality: every built-in workload, several seeds", arguments: workloads, seeds)
    func replayEquality(workload: String, seed: UInt64) throws {
        let program = try testProgram(workload)
        let (report, _) = try ReplicatedRun.run(program: program, vcpus: program.preferredVCPUs,
                                                options: options(seed: seed), client: client(seed: seed))
        #expect(report.failure == nil)
        #expect(report.divergence == nil, "\(report.divergence.map(String.init(describing:)) ?? "")")
        #expect(report.backupStateHash == report.primaryStateHash)
        #expect(report.backupOutputsChecked == report.outputs)
        #expect(report.backupEntriesReplayed > 0)
        if workload == "kvstore" { #expect(report.requestsSent > 100) }
    }

    @Test("FT off: no log, no backup, outputs released at once")
    func faultToleranceOff() throws {
        var o = options()
        o.faultTolerance = false
        let program = try testProgram("kvstore")
        let (report, used) = try ReplicatedRun.run(program: program, vcpus: 1, options: o, client: client())
        #expect(report.logEntries == 0)
        #expect(report.backupStateHash == nil)
        #expect(report.outputs > 100)
        #expect(used.repliesReceived == report.outputs)
    }

    /// The output rule, instrumented: every release is covered by the ACK that triggered it,
    /// and outputs leave in the order the guest produced them.
    @Test("no output is released before its acknowledgement, and outputs leave in order", arguments: [ChannelProfile.loopback, .lan])
    func outputRule(profile: ChannelProfile) throws {
        var o = options(profile)
        o.traceOutputs = true
        let (report, _) = try ReplicatedRun.run(program: try testProgram("kvstore"), vcpus: 1, options: o, client: client())
        let releases = try #require(report.outputReleases)
        #expect(releases.count == report.outputs, "every output was released by the end")
        #expect(releases.count > 100)
        #expect(releases.allSatisfy { $0.tag <= $0.acknowledged })
        #expect(zip(releases, releases.dropFirst()).allSatisfy { $0.tag < $1.tag })
    }

    @Test("every ACK policy keeps the backup equal and releases every output",
          arguments: [AckPolicy.everyEntry, .everyN(8), .interval(nanos: 200000), .outputAware(batch: 16)])
    func ackPolicies(policy: AckPolicy) throws {
        let (report, used) = try ReplicatedRun.run(program: try testProgram("kvstore"), vcpus: 1,
                                                   options: options(.lan, ack: policy), client: client(rate: 5_000))
        #expect(report.divergence == nil)
        #expect(report.acksSent > 0)
        #expect(report.acksSent <= 2 * report.logEntries + 1, "at most a policy ACK and a progress report per entry")
        #expect(used.repliesReceived == report.outputs)
        // How many ACKs a policy sends depends on how entries arrive in batches, which depends on
        // timing; the policies' decisions are tested exactly in AckPolicyTests.
    }

    @Test("flow control: a tiny log ring stalls the primary, and replay stays exact")
    func smallRing() throws {
        var o = options()
        o.logCapacity = 64
        let program = try testProgram("nondet")
        let (report, _) = try ReplicatedRun.run(program: program, vcpus: 1, options: o, client: client())
        #expect(report.divergence == nil)
        #expect(report.backupStateHash == report.primaryStateHash)
        #expect(report.primaryStallFraction > 0)
    }

    @Test("flow control: a lag bound the backup cannot meet slows the primary")
    func lagBound() throws {
        var o = options(.lan, ack: .everyN(4))
        o.lagBoundNanos = 1_000
        let (report, _) = try ReplicatedRun.run(program: try testProgram("compute"), vcpus: 1, options: o, client: client())
        #expect(report.divergence == nil)
        #expect(report.primaryStallFraction > 0.01)
    }

    @Test("scheduling entries vouch for every slice: the backup never runs past them")
    func progressEntries() throws {
        let program = try testProgram("compute")
        let (report, _) = try ReplicatedRun.run(program: program, vcpus: 1, options: options(), client: client(), recordLog: true)
        let log = try #require(report.recordedLog)
        let slices = log.filter { $0.header.kind == .scheduling }
        #expect(slices.count > 10)
        // Each slice starts where the previous one was vouched to end (or where the guest stopped).
        for (a, b) in zip(slices, slices.dropFirst()) {
            let until = a.payload.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            #expect(b.header.instructionCount <= until)
        }
        let lastUntil = slices.last!.payload.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(report.primaryInstructions <= lastUntil)
    }
}
