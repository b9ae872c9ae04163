import ChannelMeasurement
@testable import Harness
import Testing

@Suite("Calibration")
struct CalibrationTests {
    static func calibration(brackets: [Calibration.FloorBracket]) -> Calibration {
        let figure = Percentiles([200, 210])
        return Calibration(floor: Percentiles([66, 70]), roundTrip8: figure, roundTrip64: figure, throughputOneAtATime: 3e7,
                           throughputBatched: 1e8, interpreterNanosPerInstruction: 1, productionPath: nil, brackets: brackets)
    }

    @Test("a floor that changes by more than a quarter across a measurement marks the placement as moved")
    func moved() {
        #expect(!Calibration.FloorBracket(name: "raw_rt8", before: 66, after: 82).moved)
        #expect(Calibration.FloorBracket(name: "raw_rt8", before: 66, after: 83).moved)
        #expect(Calibration.FloorBracket(name: "raw_rt8", before: 310, after: 66).moved)
    }

    @Test("the report shows each figure's floor bracket and says when the placement moved")
    func report() {
        let steady = Self.calibration(brackets: [.init(name: "raw_rt8", before: 66, after: 68)])
        #expect(steady.report.contains("p50 200 ns, p99 210 ns (floor 66 -> 68 ns)"))
        #expect(!steady.report.contains("moved"))
        let moved = Self.calibration(brackets: [.init(name: "raw_rt8", before: 66, after: 68), .init(name: "raw_batched64", before: 68, after: 310)])
        #expect(moved.report.contains("M entries/s (floor 68 -> 310 ns: the placement moved)"))
        #expect(moved.report.contains("the floor moved by more than a quarter across 1 of 2 measurements"))
        #expect(moved.machineReadable.contains("raw_batched64_floor_after 310.000"))
    }
}
