import ChannelMeasurement
import GuestVM
import LogChannel
import Topology

/// This machine's reference figures, stored with results so runs from different machines can be
/// read side by side.
public struct Calibration: Sendable {
    public var floor: Percentiles
    public var roundTrip8: Percentiles
    public var roundTrip64: Percentiles
    public var throughputOneAtATime: Double
    public var throughputBatched: Double
    public var interpreterNanosPerInstruction: Double
    /// The production path beside the raw ring (`ftbench calibrate` measures it; result sets do not).
    public var productionPath: ProductionPathFigures?

    /// Round trips and batched throughput through `ProductionPath` (encode, checksum, ACK on
    /// `loopback`), by the same method as the raw ring's.
    public struct ProductionPathFigures: Sendable {
        /// An entry with an 8-byte payload: one 64-byte slot with its headers.
        public var roundTrip8: Percentiles
        /// An entry with a 64-byte payload: two slots.
        public var roundTrip64: Percentiles
        /// Entries with an 8-byte payload, appended in batches of 64 and flushed once per batch.
        public var throughputBatched: Double
    }

    public static func measure(cpus: (Int, Int), samples: Int, entries: Int, productionPath: Bool = false) -> Calibration {
        let floor = Percentiles(QueueExperiments.cacheLineRoundTrips(samples: samples, cpus: cpus))
        func roundTrip(_ payload: Int) -> Percentiles {
            Percentiles(QueueExperiments.roundTrips(
                ping: RingQueue(payload: payload), pong: RingQueue(payload: payload), samples: samples, cpus: cpus))
        }
        let rt8 = roundTrip(8), rt64 = roundTrip(56)
        let single = QueueExperiments.throughput(RingQueue(payload: 56), entries: entries / 4, batch: 1, cpus: cpus)
        let batched = QueueExperiments.throughput(RingQueue(payload: 56), entries: entries, batch: 64, cpus: cpus)
        var path: ProductionPathFigures?
        if productionPath {
            func pathRoundTrip(_ payload: Int) -> Percentiles {
                let path = ProductionPath(payload: payload)
                return Percentiles(QueueExperiments.roundTrips(ping: path.log, pong: path.acks, samples: samples, cpus: cpus))
            }
            path = ProductionPathFigures(
                roundTrip8: pathRoundTrip(8), roundTrip64: pathRoundTrip(64),
                throughputBatched: QueueExperiments.throughput(ProductionPath(payload: 8).log, entries: entries, batch: 64, cpus: cpus))
        }
        return Calibration(
            floor: floor, roundTrip8: rt8, roundTrip64: rt64, throughputOneAtATime: single,
            throughputBatched: batched, interpreterNanosPerInstruction: CoreSpeed.nanosPerInstruction(samples: 1, instructions: nil), productionPath: path)
    }

    public var report: String {
        """
        floor (cache-line round trip)      \(floor)
        channel round trip, 8-byte entry   \(roundTrip8)
        channel round trip, 64-byte entry  \(roundTrip64)
        throughput, 64-byte, one at a time \(Format.fixed(throughputOneAtATime / 1e6, 1)) M entries/s
        throughput, 64-byte, batches of 64 \(Format.fixed(throughputBatched / 1e6, 1)) M entries/s
        interpreter (fib)                  \(Format.fixed(interpreterNanosPerInstruction, 3)) ns/instruction
        """ + (productionPath.map { path in
            """

            production path (encode, CRC-32C, decode and verify, ACK back; loopback):
            round trip, 8-byte payload         \(path.roundTrip8)
            round trip, 64-byte payload        \(path.roundTrip64)
            throughput, batches of 64          \(Format.fixed(path.throughputBatched / 1e6, 1)) M entries/s
            """
        } ?? "")
    }

    /// One `name value` line per figure, for scripts (scripts/peers/compare.py): `floor_p50`,
    /// `raw_rt8_p50`, `raw_batched64` (M entries/s), `path_rt8_p50` and so on.
    public var machineReadable: String {
        var lines = [
            ("floor_p50", floor.p50), ("floor_p99", floor.p99),
            ("raw_rt8_p50", roundTrip8.p50), ("raw_rt8_p99", roundTrip8.p99),
            ("raw_rt64_p50", roundTrip64.p50), ("raw_rt64_p99", roundTrip64.p99),
            ("raw_single64", throughputOneAtATime / 1e6), ("raw_batched64", throughputBatched / 1e6),
            ("interpreter_ns", interpreterNanosPerInstruction),
        ]
        if let path = productionPath {
            lines += [("path_rt8_p50", path.roundTrip8.p50), ("path_rt8_p99", path.roundTrip8.p99),
                      ("path_rt64_p50", path.roundTrip64.p50), ("path_rt64_p99", path.roundTrip64.p99),
                      ("path_batched64", path.throughputBatched / 1e6)]
        }
        return lines.map { "\($0.0) \(Format.fixed($0.1, 3))" }.joined(separator: "\n")
    }
}
