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

    public static func measure(cpus: (Int, Int), samples: Int, entries: Int) -> Calibration {
        let floor = Percentiles(QueueExperiments.cacheLineRoundTrips(samples: samples, cpus: cpus))
        func roundTrip(_ payload: Int) -> Percentiles {
            Percentiles(QueueExperiments.roundTrips(
                ping: RingQueue(payload: payload), pong: RingQueue(payload: payload), samples: samples, cpus: cpus))
        }
        let rt8 = roundTrip(8), rt64 = roundTrip(56)
        let single = QueueExperiments.throughput(RingQueue(payload: 56), entries: entries / 4, batch: 1, cpus: cpus)
        let batched = QueueExperiments.throughput(RingQueue(payload: 56), entries: entries, batch: 64, cpus: cpus)
        return Calibration(
            floor: floor, roundTrip8: rt8, roundTrip64: rt64, throughputOneAtATime: single,
            throughputBatched: batched, interpreterNanosPerInstruction: interpreterSpeed())
    }

    /// ns per guest instruction on the built-in `fib`.
    static func interpreterSpeed() -> Double {
        guard let program = try? BuiltinPrograms.program(named: "fib"), let machine = try? Machine(program: program) else { return .nan }
        let start = monotonicNanos()
        while !machine.isHalted(vcpu: 0) { _ = machine.run(vcpu: 0, until: .max) }
        return Double(monotonicNanos() - start) / Double(machine.instructionCount(vcpu: 0))
    }

    public var report: String {
        """
        floor (cache-line round trip)      \(floor)
        channel round trip, 8-byte entry   \(roundTrip8)
        channel round trip, 64-byte entry  \(roundTrip64)
        throughput, 64-byte, one at a time \(Format.fixed(throughputOneAtATime / 1e6, 1)) M entries/s
        throughput, 64-byte, batches of 64 \(Format.fixed(throughputBatched / 1e6, 1)) M entries/s
        interpreter (fib)                  \(Format.fixed(interpreterNanosPerInstruction, 3)) ns/instruction
        """
    }
}
