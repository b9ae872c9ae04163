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
    /// The floor again right before and right after each channel measurement, by its
    /// machine-readable name (`raw_rt8`, `raw_batched64`, `path_rt8`, ...), in measuring order.
    public var brackets: [FloorBracket] = []

    /// The cache-line floor (p50) just before and just after one measurement. The host moves the
    /// two vCPUs between placements while a process runs: in one peers run here the processes'
    /// floors were 29, 62-68 and 315-334 ns, and the ring's 8-byte round trip 82, 209-221 and
    /// 719-726 ns in them (results/reference/peers-20261129T052147Z). A figure is comparable with
    /// its floor only if the floor held around it.
    public struct FloorBracket: Sendable {
        public var name: String
        public var before: Double
        public var after: Double
        /// The floor changed by more than a quarter across the measurement: the placement moved.
        public var moved: Bool { max(before, after) > 1.25 * min(before, after) }
    }

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
        // A short floor (a tenth of the samples, at least 50: a few milliseconds) between
        // measurements; the first bracket starts with the full floor just taken.
        let shortSamples = max(50, samples / 10)
        var brackets: [FloorBracket] = []
        var lastFloor = floor.p50
        func bracketed<T>(_ name: String, _ measurement: () -> T) -> T {
            let figure = measurement()
            let after = Percentiles(QueueExperiments.cacheLineRoundTrips(samples: shortSamples, cpus: cpus)).p50
            brackets.append(FloorBracket(name: name, before: lastFloor, after: after))
            lastFloor = after
            return figure
        }
        func roundTrip(_ name: String, _ payload: Int) -> Percentiles {
            bracketed(name) {
                Percentiles(QueueExperiments.roundTrips(
                    ping: RingQueue(payload: payload), pong: RingQueue(payload: payload), samples: samples, cpus: cpus))
            }
        }
        let rt8 = roundTrip("raw_rt8", 8), rt64 = roundTrip("raw_rt64", 56)
        let single = bracketed("raw_single64") { QueueExperiments.throughput(RingQueue(payload: 56), entries: entries / 4, batch: 1, cpus: cpus) }
        let batched = bracketed("raw_batched64") { QueueExperiments.throughput(RingQueue(payload: 56), entries: entries, batch: 64, cpus: cpus) }
        var path: ProductionPathFigures?
        if productionPath {
            func pathRoundTrip(_ name: String, _ payload: Int) -> Percentiles {
                bracketed(name) {
                    let path = ProductionPath(payload: payload)
                    return Percentiles(QueueExperiments.roundTrips(ping: path.log, pong: path.acks, samples: samples, cpus: cpus))
                }
            }
            let rt8 = pathRoundTrip("path_rt8", 8), rt64 = pathRoundTrip("path_rt64", 64)
            let batched = bracketed("path_batched64") {
                QueueExperiments.throughput(ProductionPath(payload: 8).log, entries: entries, batch: 64, cpus: cpus)
            }
            path = ProductionPathFigures(roundTrip8: rt8, roundTrip64: rt64, throughputBatched: batched)
        }
        return Calibration(
            floor: floor, roundTrip8: rt8, roundTrip64: rt64, throughputOneAtATime: single,
            throughputBatched: batched, interpreterNanosPerInstruction: CoreSpeed.nanosPerInstruction(samples: 1, instructions: nil),
            productionPath: path, brackets: brackets)
    }

    /// ` (floor 66 -> 68 ns)`, or with the floor moved ` (floor 66 -> 310 ns: the placement moved)`.
    func bracketNote(_ name: String) -> String {
        guard let b = brackets.first(where: { $0.name == name }) else { return "" }
        return " (floor \(Format.fixed(b.before, 0)) -> \(Format.fixed(b.after, 0)) ns\(b.moved ? ": the placement moved" : ""))"
    }

    public var report: String {
        let moved = brackets.filter(\.moved).count
        return """
        floor (cache-line round trip)      \(floor)
        channel round trip, 8-byte entry   \(roundTrip8)\(bracketNote("raw_rt8"))
        channel round trip, 64-byte entry  \(roundTrip64)\(bracketNote("raw_rt64"))
        throughput, 64-byte, one at a time \(Format.fixed(throughputOneAtATime / 1e6, 1)) M entries/s\(bracketNote("raw_single64"))
        throughput, 64-byte, batches of 64 \(Format.fixed(throughputBatched / 1e6, 1)) M entries/s\(bracketNote("raw_batched64"))
        interpreter (fib)                  \(Format.fixed(interpreterNanosPerInstruction, 3)) ns/instruction
        """ + (productionPath.map { path in
            """

            production path (encode, CRC-32C, decode and verify, ACK back; loopback):
            round trip, 8-byte payload         \(path.roundTrip8)\(bracketNote("path_rt8"))
            round trip, 64-byte payload        \(path.roundTrip64)\(bracketNote("path_rt64"))
            throughput, batches of 64          \(Format.fixed(path.throughputBatched / 1e6, 1)) M entries/s\(bracketNote("path_batched64"))
            """
        } ?? "") + (moved == 0 ? "" : """

            the floor moved by more than a quarter across \(moved) of \(brackets.count) measurements: \
            those figures are of another placement than the floor's; measure again
            """)
    }

    /// One `name value` line per figure, for scripts (scripts/peers/compare.py): `floor_p50`,
    /// `raw_rt8_p50`, `raw_batched64` (M entries/s), `path_rt8_p50` and so on, then each
    /// measurement's floor bracket (`raw_rt8_floor_before`, `raw_rt8_floor_after`, ...).
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
        for bracket in brackets {
            lines += [("\(bracket.name)_floor_before", bracket.before), ("\(bracket.name)_floor_after", bracket.after)]
        }
        return lines.map { "\($0.0) \(Format.fixed($0.1, 3))" }.joined(separator: "\n")
    }
}
