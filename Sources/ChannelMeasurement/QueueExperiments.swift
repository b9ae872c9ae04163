import Atomics
import LogChannel
import Topology

/// A single-producer/single-consumer queue of u64 messages padded to a fixed size, as the
/// experiments below drive it: the ring itself, and the mutex-protected deque the benchmarks use
/// as a baseline.
public protocol MessageQueue: AnyObject, Sendable {
    /// Producer: enqueues messages `first..<first+count` (spinning while full), then publishes.
    func send(first: UInt64, count: Int)
    /// Consumer: dequeues up to `limit` available messages, returns how many and the last one.
    func receive(limit: Int) -> (count: Int, last: UInt64)
}

/// `RingBuffer` as a `MessageQueue`: each message is one frame with `payload` bytes, its first 8
/// the message. A 56-byte payload fills a 64-byte slot exactly (8 bytes are the frame header).
public final class RingQueue: MessageQueue, @unchecked Sendable {
    public let ring: RingBuffer
    let producer: RingProducer
    let consumer: RingConsumer
    let payload: Int

    public init(capacity: Int = 1 << 12, payload: Int, node: Int? = nil) {
        ring = RingBuffer(capacity: capacity, node: node, wait: .spin)
        producer = RingProducer(ring)
        consumer = RingConsumer(ring)
        self.payload = payload
    }

    @inline(__always)
    public func send(first: UInt64, count: Int) {
        for i in 0..<UInt64(count) {
            guard let frame = try? producer.reserve(payload: payload) else { return }
            frame.storeBytes(of: first &+ i, as: UInt64.self)
        }
        producer.commit()
    }

    @inline(__always)
    public func receive(limit: Int) -> (count: Int, last: UInt64) {
        var count = 0
        var last: UInt64 = 0
        while count < limit, let frame = consumer.peek() {
            last = frame.bytes.load(as: UInt64.self)
            consumer.advance(past: frame)
            count += 1
        }
        if count > 0 { consumer.release() }
        return (count, last)
    }
}

/// Called on the calling (measuring) thread right around its timed loop (package-benchmark's
/// start/stopMeasurement), once the other thread is running.
public struct MeasurementHooks {
    public var start: () -> Void
    public var stop: () -> Void

    public init(start: @escaping () -> Void = {}, stop: @escaping () -> Void = {}) {
        self.start = start
        self.stop = stop
    }
}

/// Measurements of SPSC queues between two pinned cores: what `ftbench calibrate` reports and
/// what LogChannelBenchmarks runs.
public enum QueueExperiments {
    /// Entries per second from a producer on `cpus.0` to a consumer on `cpus.1`. The producer
    /// publishes every `batch` entries; the consumer releases after each drain.
    public static func throughput(_ queue: MessageQueue, entries: Int, batch: Int, cpus: (Int, Int),
                                  hooks: MeasurementHooks = .init()) -> Double {
        let ready = UnsafeAtomic<Bool>.create(false)
        defer { _ = ready.destroy() }
        let consumer = PinnedThread(cpu: cpus.1) {
            ready.store(true, ordering: .releasing)
            var received = 0
            var expected: UInt64 = 0
            while received < entries {
                let (count, last) = queue.receive(limit: .max)
                if count > 0 {
                    received += count
                    expected &+= UInt64(count)
                    precondition(last == expected - 1, "queue reordered or lost messages")
                } else {
                    cpuRelax()
                }
            }
        }
        try? pinCurrentThread(toCPU: cpus.0)
        while !ready.load(ordering: .acquiring) { cpuRelax() }
        hooks.start()
        let start = monotonicNanos()
        var sent = 0
        while sent < entries {
            let n = min(batch, entries - sent)
            queue.send(first: UInt64(sent), count: n)
            sent += n
        }
        consumer.join()
        let elapsed = monotonicNanos() - start
        hooks.stop()
        return Double(entries) / (Double(elapsed) / 1e9)
    }

    /// Round trips between `cpus.0` (ping) and `cpus.1` (echo) through two queues, timed in
    /// groups of `perSample` so that reading the clock (~20 ns) does not inflate them. Returns
    /// one mean round trip in nanoseconds per group.
    public static func roundTrips(ping: MessageQueue, pong: MessageQueue, samples: Int, perSample: Int = 64,
                                  cpus: (Int, Int), hooks: MeasurementHooks = .init()) -> [Double] {
        let total = samples * perSample
        let echo = PinnedThread(cpu: cpus.1) {
            var echoed = 0
            while echoed < total {
                let (count, last) = ping.receive(limit: 1)
                if count == 1 {
                    pong.send(first: last, count: 1)
                    echoed += 1
                } else {
                    cpuRelax()
                }
            }
        }
        try? pinCurrentThread(toCPU: cpus.0)
        var results = [Double](repeating: 0, count: samples)
        hooks.start()
        results.withUnsafeMutableBufferPointer { results in
            var message: UInt64 = 0
            for s in 0..<samples {
                let start = monotonicNanos()
                for _ in 0..<perSample {
                    ping.send(first: message, count: 1)
                    while pong.receive(limit: 1).count == 0 { cpuRelax() }
                    message &+= 1
                }
                results[s] = Double(monotonicNanos() - start) / Double(perSample)
            }
        }
        hooks.stop()
        echo.join()
        return results
    }

    /// The machine's floor: one cache line bounced between `cpus.0` and `cpus.1` (each side
    /// waits for the other's value and answers with the next), in ns per round trip, timed in
    /// groups of `perSample`.
    public static func cacheLineRoundTrips(samples: Int, perSample: Int = 64, cpus: (Int, Int)) -> [Double] {
        let line = NodeLocalMemory(size: 128, node: nil)
        let word = line.base.bindMemory(to: UInt64.AtomicRepresentation.self, capacity: 1)
        word.initialize(to: .init(0))
        let counter = UnsafeAtomic<UInt64>(at: word)
        let total = UInt64(samples * perSample)
        let echo = PinnedThread(cpu: cpus.1) {
            var expect: UInt64 = 1
            while expect < 2 * total {
                while counter.load(ordering: .acquiring) != expect { cpuRelax() }
                counter.store(expect + 1, ordering: .releasing)
                expect += 2
            }
        }
        try? pinCurrentThread(toCPU: cpus.0)
        var results = [Double](repeating: 0, count: samples)
        var value: UInt64 = 0
        withExtendedLifetime(line) {
            for s in 0..<samples {
                let start = monotonicNanos()
                for _ in 0..<perSample {
                    counter.store(value + 1, ordering: .releasing)
                    while counter.load(ordering: .acquiring) != value + 2 { cpuRelax() }
                    value += 2
                }
                results[s] = Double(monotonicNanos() - start) / Double(perSample)
            }
            echo.join()
        }
        return results
    }
}

/// Percentiles of a sample, by sorting a copy (nearest-rank).
public struct Percentiles: Equatable, Sendable, CustomStringConvertible {
    public var p50: Double
    public var p99: Double
    public var count: Int

    public init(_ samples: [Double]) {
        let sorted = samples.sorted()
        count = sorted.count
        func rank(_ p: Double) -> Double {
            sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
        }
        p50 = rank(0.50)
        p99 = rank(0.99)
    }

    public var description: String { "p50 \(Int(p50.rounded())) ns, p99 \(Int(p99.rounded())) ns" }
}
