import Foundation
import GuestVM
import Harness
import LogChannel
@testable import Replication
import Testing
import Topology

/// Built-in programs shrunk to test size (the same code, smaller constants).
func testProgram(_ name: String) throws -> Program {
    var source = try #require(BuiltinPrograms.named(name)).source
    for (from, to) in [(".const N = 32", ".const N = 16"), (".const PASSES = 8192", ".const PASSES = 200"),
                       (".const ITERATIONS = 200000", ".const ITERATIONS = 3000"), (".const ITERATIONS = 100000000", ".const ITERATIONS = 200000"),
                       (".const ITERATIONS = 100000", ".const ITERATIONS = 3000"), (".const PASSES = 32", ".const PASSES = 2"),
                       (".const N = 10000000", ".const N = 50000"),
                       (".const SECTIONS = 20000", ".const SECTIONS = 500"), (".const ITERATIONS = 5000000", ".const ITERATIONS = 3000"), (".const ITEMS = 100000", ".const ITEMS = 3000"), ("li r1, 1000\n    settimer r1", "li r1, 100\n    settimer r1")] {
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
    // Tests run side by side on two cores, where a thread can wait far longer than a heartbeat
    // for a CPU: a generous timeout keeps a slow thread from being declared failed in tests
    // that are not about failures (FailoverTests set their own).
    o.failureTimeoutNanos = 10_000_000_000
    return o
}

let longTests = ProcessInfo.processInfo.environment["FTBENCH_LONG_TESTS"] == "1"

func client(rate: Double = 20_000, seed: UInt64 = 1) -> KVClient {
    KVClient(rate: rate, arrivals: .poisson, seed: seed)
}

@Suite("Replicated runs")
struct ReplicatedRunTests {
    static let workloads = ["kvstore", "compute", "nondet", "shared-counter", "partitioned", "fib", "sieve", "loop",
                            "lock-heavy", "producer-consumer", "racy-counter"]

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
        #expect(report.divergence == nil, "\(report.failure ?? "")")
        #expect(report.backupStateHash == report.primaryStateHash)
        #expect(report.primaryStallFraction > 0)
    }

    @Test("the default lag bound is 5 ms beyond the link's one-way latency, a slowed primary goes on at 2.5 ms beyond it; a given bound replaces both")
    func defaultLagBound() {
        var o = ReplicationOptions()
        o.profile = .crossCity
        #expect(o.lagBound == o.profile.oneWayLatencyNanos + 5_000_000)
        #expect(o.lagResume == o.profile.oneWayLatencyNanos + 2_500_000)
        o.profile = .lan
        #expect(o.lagBound == o.profile.oneWayLatencyNanos + 5_000_000)
        o.lagBoundNanos = 100_000_000
        #expect(o.lagBound == 100_000_000 && o.lagResume == 50_000_000)
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

    /// The slices' lengths as logged (`until` less the start), in instructions.
    static func sliceLengths(_ log: [LogEntry]) -> [UInt64] {
        log.filter { $0.header.kind == .scheduling }.map {
            $0.payload.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } - $0.header.instructionCount
        }
    }

    /// `SliceStretcher`: one vCPU, no timer, no client buffer, no outputs held. The backup follows
    /// the logged ends, so its state still matches.
    @Test("a single-vCPU guest with nothing to inject runs slices of several quanta, replayed exactly")
    func stretchedSlices() throws {
        let o = options()
        let (report, _) = try ReplicatedRun.run(program: try testProgram("fib"), vcpus: 1, options: o, client: client(), recordLog: true)
        #expect(report.divergence == nil)
        #expect(report.backupStateHash == report.primaryStateHash)
        let lengths = Self.sliceLengths(try #require(report.recordedLog))
        #expect(lengths.allSatisfy { $0 <= SliceStretcher.maximumQuanta * o.quantum })
        #expect(lengths.contains { $0 > o.quantum }, "some slice ran more than a quantum")
    }

    /// Turns of several vCPUs, and a guest that waits for client requests, keep their quantum.
    @Test("several vCPUs and a guest with a receive buffer posted keep slices of one quantum", arguments: ["partitioned", "kvstore"])
    func quantumKept(workload: String) throws {
        let program = try testProgram(workload)
        let o = options()
        let (report, _) = try ReplicatedRun.run(program: program, vcpus: program.preferredVCPUs, options: o, client: client(), recordLog: true)
        #expect(report.divergence == nil)
        let lengths = Self.sliceLengths(try #require(report.recordedLog))
        #expect(!lengths.isEmpty)
        if workload == "partitioned" { #expect(lengths.allSatisfy { $0 <= o.quantum }) }
        // kvstore waits for requests with its buffer posted; only a slice begun while it handles
        // one (the buffer taken, nothing injected at that start) may stretch: few of them.
        if workload == "kvstore" { #expect(lengths.filter { $0 > o.quantum }.count * 10 <= lengths.count) }
    }
}

/// Defects found on main, each with the test that failed before its fix.
@Suite("Replicated runs: fixed defects")
struct ReplicatedRunDefectTests {
    /// Main's backup waited for room on a full ACK ring while its primary, inside a slice,
    /// waited for room on the full log ring and took no ACKs off: neither moved until the
    /// watchdog closed the channel (seen with 64-slot rings and slices of thousands of entries).
    @Test("a backup that finds the ACK ring full goes on replaying: tiny rings, long slices, an ACK per entry")
    func fullAckRing() throws {
        var o = options(ack: .everyEntry)
        o.logCapacity = 64
        o.quantum = 200_000
        let (report, _) = try ReplicatedRun.run(program: try testProgram("nondet"), vcpus: 1, options: o, client: client())
        #expect(report.failure == nil)
        #expect(report.divergence == nil)
        #expect(report.backupStateHash == report.primaryStateHash)
    }

    /// Main divided every ACK of the run (warm-up and final drain included) by the window.
    /// With a warm-up twice the window, that is about three times the ACKs the window saw, which
    /// breaks both the exclusion and the bound of one ACK per logged entry of the window.
    @Test("ACKs are counted over the measurement window only")
    func acksInWindow() throws {
        var o = options(.lan, ack: .everyEntry, duration: 300_000_000)
        o.warmupNanos = 200_000_000
        let (report, _) = try ReplicatedRun.run(program: try testProgram("kvstore"), vcpus: 1, options: o, client: client(rate: 10_000))
        #expect(report.acksInWindow > 0)
        // The warm-up's ACKs are left out. How many arrive in each part depends on how the host
        // schedules the backup (CI once saw 62% of them in the window), so only the exclusion and
        // the per-entry bound below are asserted, not a proportion.
        #expect(UInt64(report.acksInWindow) < report.acksSent, "the warm-up's ACKs are not counted")
        // At most one policy ACK per entry plus one progress report per millisecond.
        let windowMillis = Int(report.windowNanos / 1_000_000)
        #expect(report.acksInWindow <= Int(report.logEntries) + windowMillis + 16)
    }

    /// Two vCPUs, the timer on vCPU 1 ticking every microsecond: the run usually ends (at its
    /// duration) in vCPU 0's slice, and main then still logged vCPU 1's tick in the same round,
    /// after the last slice, which the backup reported as a divergence.
    static let timerOnSecondVCPU = try! Assembler.assemble("""
        .vcpus 2
        .text
        start:
            setivec tick
            bnei r0, 1, .spin
            li r1, 1
            settimer r1
            ei
        .spin:
            addi r3, r3, 1
            jmp .spin
        tick:
            iret
        """, file: "timer-on-vcpu-1")

    @Test("a run that ends mid-round logs nothing for the remaining vCPUs", arguments: Array(UInt64(1)...8))
    func multiVCPUEnd(seed: UInt64) throws {
        let o = options(seed: seed, duration: 30_000_000)
        let (report, _) = try ReplicatedRun.run(program: Self.timerOnSecondVCPU, vcpus: 2, options: o, client: client())
        #expect(report.timerTicks > 10)
        #expect(report.divergence == nil, "\(report.divergence.map(String.init(describing:)) ?? "")")
        #expect(report.backupStateHash == report.primaryStateHash)
    }

    /// Main swallowed a failure to pin: the run went on unpinned and said nothing.
    @Test("a thread that cannot be pinned fails the run, and pinned CPUs are reported")
    func pinning() throws {
        var o = options(duration: 50_000_000)
        o.primaryCPUs = [0]
        o.backupCPUs = [1]
        let (pinned, _) = try ReplicatedRun.run(program: try testProgram("loop"), vcpus: 1, options: o, client: client())
        #expect(pinned.failure == nil)
        #expect(pinned.primaryCPUs == [0] && pinned.backupCPUs == [1])
        o.backupCPUs = [4_096]
        let (unpinnable, _) = try ReplicatedRun.run(program: try testProgram("loop"), vcpus: 1, options: o, client: client())
        #expect(unpinnable.failure?.contains("could not be pinned to CPU 4096") == true, "\(unpinnable.failure ?? "no failure")")
    }

    /// Main ran a whole quantum of outputs before checking the clock: 4 MB outputs took 40 s
    /// for a 0.5 s scenario. A slice now ends after 1 MiB of outputs, on both sides alike.
    @Test("a guest writing large outputs still ends at its duration, and replays exactly")
    func largeOutputs() throws {
        let program = try Assembler.assemble("""
            .memory 8388608
            .text
            start:
                li r1, 4096
                li r2, 4000000
            .loop:
                out r1, r2
                jmp .loop
            """, file: "large-outputs")
        let started = monotonicNanos()
        let (report, _) = try ReplicatedRun.run(program: program, vcpus: 1, options: options(.lan, duration: 200_000_000), client: client())
        let seconds = Double(monotonicNanos() - started) / 1e9
        #expect(report.outputs > 1)
        #expect(report.divergence == nil && report.failure == nil, "\(report.failure ?? "")")
        #expect(seconds < 5, "a 0.2 s run took \(seconds) s")
    }

    /// Main measured a guest that halted during warm-up over its warm-up, without a flag.
    @Test("a guest that stops during warm-up is flagged")
    func endedDuringWarmup() throws {
        var o = options(duration: 200_000_000)
        o.warmupNanos = 100_000_000
        let program = try Assembler.assemble("li r1, 5\nhalt\n", file: "short")
        let (short, _) = try ReplicatedRun.run(program: program, vcpus: 1, options: o, client: client())
        #expect(short.endedDuringWarmup)
        let spin = try Assembler.assemble("start:\n    jmp start\n", file: "spin")
        let (long, _) = try ReplicatedRun.run(program: spin, vcpus: 1, options: o, client: client())
        #expect(!long.endedDuringWarmup)
    }

    /// A link far too slow for the log: main's primary waited for ring space forever.
    @Test("a channel that cannot carry the log fails the run after its duration, not never")
    func watchdog() throws {
        let slow = try ChannelProfile.parse("lan,bw=100kbit")
        let started = monotonicNanos()
        let (report, _) = try ReplicatedRun.run(program: try #require(try BuiltinPrograms.program(named: "nondet")), vcpus: 1, options: options(slow, duration: 200_000_000), client: client())
        let seconds = Double(monotonicNanos() - started) / 1e9
        // The watchdog closes the channel while the primary waits for ring space; a guest that
        // halts first ends after the final drain instead, with its entries still in flight.
        let failure = report.failure ?? "no failure"
        #expect(failure.contains("watchdog") || failure.contains("in flight"), "\(failure)")
        #expect(seconds < 10)
    }
}
