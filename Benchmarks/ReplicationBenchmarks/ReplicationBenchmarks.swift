import Benchmark
import Foundation
import LogTrace
import Topology
import GuestVM
import Harness
import LogChannel
import Replication

/// What replication costs per event: on the primary, the event-dense `nondet` guest (a clock
/// read and a random read every 11 instructions) with FT on against FT off, in ns per guest
/// event; on the backup, replaying a recorded kvstore log, in ns per log entry; and recording
/// the log to a trace file as the backup receives it (`--record-log`), in ns per entry, with
/// its allocations counted.
///
/// Run on an idle machine: `swift package benchmark --target ReplicationBenchmarks`.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .milliseconds,
        warmupIterations: 1,
        maxDuration: .seconds(10),
        maxIterations: 10
    )

    for ft in [false, true] {
        Benchmark("Replication.primary.nondet.ft\(ft ? "On" : "Off")",
                  configuration: .init(metrics: [.wallClock, Metrics.nanosPerEvent])) { benchmark in
            let program = try BuiltinPrograms.program(named: "nondet")!
            var options = ReplicationOptions()
            options.faultTolerance = ft
            options.profile = .loopback
            options.warmupNanos = 0
            options.durationNanos = 60_000_000_000
            let (report, _) = try ReplicatedRun.run(program: program, vcpus: 1, options: options,
                                                    client: KVClient(rate: 1, arrivals: .closed(outstanding: 0), seed: 1))
            precondition(report.divergence == nil, "nondet diverged")
            // 200,000 iterations, each one clock read and one random read.
            benchmark.measurement(Metrics.nanosPerEvent, Int(report.windowNanos / 400_000))
        }
    }

    Benchmark("Replication.backup.replay.kvstore",
              configuration: .init(metrics: [.wallClock, .mallocCountTotal, Metrics.nanosPerEntry])) { benchmark in
        let program = try BuiltinPrograms.program(named: "kvstore")!
        let log = try recordedKVStoreLog(program)
        let source = RecordedLogSource(log)
        let machine = try Machine(program: program)
        benchmark.startMeasurement()
        let start = monotonicNanos()
        let outcome = try Replay.run(machine: machine, source: source, quantum: 20_000)
        let elapsed = monotonicNanos() - start
        benchmark.stopMeasurement()
        benchmark.measurement(Metrics.nanosPerEntry, Int(elapsed / max(1, outcome.entriesReplayed)))
    }

    Benchmark("Replication.backup.record.kvstore",
              configuration: .init(metrics: [.wallClock, .mallocCountTotal, Metrics.nanosPerEntry])) { benchmark in
        let program = try BuiltinPrograms.program(named: "kvstore")!
        let encoded = try recordedKVStoreLog(program).map(LogEntryCodec.encode)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ftbench-bench-\(UUID().uuidString).fttrace").path
        defer { unlink(path) }
        let header = TraceHeader(isaVersion: Machine.isaVersion, vcpus: 1, memorySize: 4 << 20, quantum: 20_000, seed: 1,
                                 programHash: program.contentHash, recordedAt: 0, ftbenchVersion: "bench", buildRevision: "bench",
                                 programName: "kvstore", channelProfile: "loopback", ackPolicy: "output-aware:64")
        let writer = try TraceWriter(path: path, header: header)
        let rounds = 20
        benchmark.startMeasurement()
        let start = monotonicNanos()
        for _ in 0..<rounds {
            for entry in encoded { entry.withUnsafeBytes { writer.append(encoded: $0) } }
        }
        let elapsed = monotonicNanos() - start
        benchmark.stopMeasurement()
        try writer.finish()
        benchmark.measurement(Metrics.nanosPerEntry, Int(elapsed / UInt64(max(1, rounds * encoded.count))))
    }

    // The recorded interleaving's ticket path (leave the interpreter, take a ticket, perform the
    // instruction, encode and flush its entry, publish the log position), one vCPU and FT off
    // so that no other thread takes part: ns per ticket, and allocations at two sizes (a run
    // 10 times longer must allocate exactly as often: the per-ticket path allocates nothing).
    for tickets in [100_000, 1_000_000] {
        Benchmark("Replication.recorded.ticket.\(tickets / 1_000)k",
                  configuration: .init(metrics: [.wallClock, .mallocCountTotal, Metrics.nanosPerTicket])) { benchmark in
            let program = try Assembler.assemble("""
                .data
                .align 8
                counter: .u64 0
                .text
                start:
                    li r1, counter
                    li r2, 1
                    li r10, \(tickets)
                .loop:
                    xadd r3, [r1], r2
                    addi r10, r10, -1
                    bnei r10, 0, .loop
                    halt
                """, file: "xadd-loop")
            var options = ReplicationOptions()
            options.faultTolerance = false
            options.warmupNanos = 0
            options.durationNanos = 60_000_000_000
            options.primaryCPUs = nil
            benchmark.startMeasurement()
            let report = try RecordedReplication.run(program: program, vcpus: 1, options: options)
            benchmark.stopMeasurement()
            precondition(report.orderingEntries == UInt64(tickets), "expected one ticket per xadd")
            benchmark.measurement(Metrics.nanosPerTicket, Int((report.workNanos ?? 0) / UInt64(tickets)))
        }
    }

    // The clients' path through the network on every request: take it (the owner check, the
    // retransmission queue, the client writing its bytes) and deliver its reply (deduplication,
    // the application's latency, the timeline). It must allocate nothing.
    Benchmark("Replication.network.requestAndReply",
              configuration: .init(metrics: [.wallClock, .mallocCountTotal, Metrics.nanosPerRequest])) { benchmark in
        let network = ClientNetwork(client: KVClient(rate: 1e9, arrivals: .constant, seed: 1, start: 0),
                                    durationNanos: 1_000_000_000, retryNanos: 100_000_000)
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: 4_096, alignment: 64)
        let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: KVStoreProtocol.replySize, alignment: 8)
        defer {
            request.deallocate()
            reply.deallocate()
        }
        reply.initializeMemory(as: UInt8.self, repeating: 0)
        let requests = 200_000
        // The first reply notes its sender's epoch (one dictionary insertion): outside the count.
        var now: UInt64 = 1_000
        func serve() {
            guard case .taken(_, let seq) = network.takeRequest(for: .a, epoch: 1, into: request, now: now) else { fatalError("no request") }
            reply.storeBytes(of: seq.littleEndian, as: UInt64.self)
            network.deliver(UnsafeRawBufferPointer(reply), from: .a, epoch: 1, now: now + 500)
            now += 1_000
        }
        serve()
        benchmark.startMeasurement()
        let start = monotonicNanos()
        for _ in 0..<requests { serve() }
        let elapsed = monotonicNanos() - start
        benchmark.stopMeasurement()
        benchmark.measurement(Metrics.nanosPerRequest, Int(elapsed / UInt64(requests)))
    }
}

enum Metrics {
    static let nanosPerRequest = BenchmarkMetric.custom("ns per request and reply", polarity: .prefersSmaller, useScalingFactor: false)
    static let nanosPerEvent = BenchmarkMetric.custom("ns per guest event", polarity: .prefersSmaller, useScalingFactor: false)
    static let nanosPerEntry = BenchmarkMetric.custom("ns per log entry replayed", polarity: .prefersSmaller, useScalingFactor: false)
    static let nanosPerTicket = BenchmarkMetric.custom("ns per ticket (with its instruction and loop)", polarity: .prefersSmaller, useScalingFactor: false)
}

/// Half a second of kvstore at 50,000 requests/s on a loopback channel, as the backup replayed it.
func recordedKVStoreLog(_ program: Program) throws -> [LogEntry] {
    var options = ReplicationOptions()
    options.profile = .loopback
    options.warmupNanos = 0
    options.durationNanos = 500_000_000
    let (report, _) = try ReplicatedRun.run(program: program, vcpus: 1, options: options,
                                            client: KVClient(rate: 50_000, arrivals: .poisson, seed: 1), recordLog: true)
    return report.recordedLog ?? []
}
