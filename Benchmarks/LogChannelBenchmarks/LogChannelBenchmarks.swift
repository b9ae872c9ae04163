import Benchmark
import DequeModule
import ChannelMeasurement
import LogChannel
import Synchronization
import Topology

/// The logging channel between two pinned cores (CPUs 0 and 1), against a mutex-protected deque.
/// Malloc counts cover only the push/pop loops (both threads), which must allocate nothing.
///
/// Run on an idle machine: `swift package benchmark --target LogChannelBenchmarks`.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .milliseconds,
        warmupIterations: 1,
        maxDuration: .seconds(10),
        maxIterations: 15
    )
    let cpus = (0, 1)
    let entries = 10_000_000

    func hooks(_ benchmark: Benchmark) -> MeasurementHooks {
        MeasurementHooks(start: { benchmark.startMeasurement() }, stop: { benchmark.stopMeasurement() })
    }

    let queues: [(String, @Sendable (Int) -> MessageQueue)] = [
        ("SPSC", { RingQueue(payload: $0) }),
        ("Baseline.MutexDeque", { MutexDequeQueue(payloadWords: max(1, $0 / 8)) }),
    ]

    for (name, make) in queues {
        for (label, batch) in [("batched64", 64), ("oneAtATime", 1)] {
            let count = name == "SPSC" ? entries : entries / 10
            Benchmark("\(name).OneToOne.\(label).64B.throughput", configuration: .init(metrics: [.wallClock, .mallocCountTotal, Metrics.entriesPerSecond])) { benchmark in
                let rate = QueueExperiments.throughput(make(56), entries: count, batch: batch, cpus: cpus, hooks: hooks(benchmark))
                benchmark.measurement(Metrics.entriesPerSecond, Int(rate))
            }
        }
        for (label, payload) in [("8B", 8), ("64B", 56)] {
            Benchmark("\(name).PingPong.\(label).latency", configuration: .init(metrics: [.mallocCountTotal, Metrics.roundTripP50, Metrics.roundTripP99])) { benchmark in
                let samples = QueueExperiments.roundTrips(ping: make(payload), pong: make(payload), samples: 2_000, cpus: cpus, hooks: hooks(benchmark))
                let p = Percentiles(samples)
                benchmark.measurement(Metrics.roundTripP50, Int(p.p50.rounded()))
                benchmark.measurement(Metrics.roundTripP99, Int(p.p99.rounded()))
            }
        }
    }

    Benchmark("Floor.CacheLine.PingPong.latency", configuration: .init(metrics: [Metrics.roundTripP50, Metrics.roundTripP99])) { benchmark in
        let p = Percentiles(QueueExperiments.cacheLineRoundTrips(samples: 2_000, cpus: cpus))
        benchmark.measurement(Metrics.roundTripP50, Int(p.p50.rounded()))
        benchmark.measurement(Metrics.roundTripP99, Int(p.p99.rounded()))
    }

    // The full path a log entry takes on a loopback profile: encode with CRC-32C, ring, decode
    // and verify, in batches of 64 (8-byte clock values: 48 bytes, one slot each).
    Benchmark("LogChannel.OneToOne.clockEntries.batched64.throughput", configuration: .init(metrics: [.wallClock, .mallocCountTotal, Metrics.entriesPerSecond])) { benchmark in
        let rate = QueueExperiments.throughput(ProductionPath(payload: 8).log, entries: entries, batch: 64, cpus: cpus, hooks: hooks(benchmark))
        benchmark.measurement(Metrics.entriesPerSecond, Int(rate))
    }
}

enum Metrics {
    static let entriesPerSecond = BenchmarkMetric.custom("entries/s", polarity: .prefersLarger, useScalingFactor: false)
    static let roundTripP50 = BenchmarkMetric.custom("round trip p50 (ns)", polarity: .prefersSmaller, useScalingFactor: false)
    static let roundTripP99 = BenchmarkMetric.custom("round trip p99 (ns)", polarity: .prefersSmaller, useScalingFactor: false)
}

/// The baseline: a `Deque` behind a `Mutex`, messages of `payloadWords` u64s.
final class MutexDequeQueue: MessageQueue, @unchecked Sendable {
    private let deque: Mutex<Deque<UInt64>>
    private let payloadWords: Int
    private let capacity = 1 << 12

    init(payloadWords: Int) {
        self.payloadWords = payloadWords
        var d = Deque<UInt64>()
        d.reserveCapacity(capacity * payloadWords)
        deque = Mutex(d)
    }

    func send(first: UInt64, count: Int) {
        var sent = 0
        while sent < count {
            let pushed = deque.withLock { d -> Int in
                var n = 0
                while n < count - sent, d.count < capacity * payloadWords {
                    d.append(first &+ UInt64(sent + n))
                    for _ in 1..<payloadWords { d.append(0) }
                    n += 1
                }
                return n
            }
            if pushed == 0 { cpuRelax() }
            sent += pushed
        }
    }

    func receive(limit: Int) -> (count: Int, last: UInt64) {
        deque.withLock { d in
            var n = 0
            var last: UInt64 = 0
            while n < limit, let value = d.popFirst() {
                for _ in 1..<payloadWords { _ = d.popFirst() }
                last = value
                n += 1
            }
            return (n, last)
        }
    }
}
