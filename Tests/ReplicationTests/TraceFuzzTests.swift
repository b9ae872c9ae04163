import Foundation
import GuestVM
import LogTrace
import Replication
import Testing

/// A seeded generator (SplitMix64), so that a failing mutation can be found again from its seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Mutates real traces (truncation, bit flips, blocks cut out or moved, splices of two
/// traces) and replays each mutant: replay must never trap (a trap ends the test process) and
/// never report success. 300 mutants here; 5,000 with FTBENCH_LONG_TESTS=1.
@Suite("Trace fuzzing")
struct TraceFuzzTests {
    enum Mutation: CaseIterable { case truncate, flipBit, cutBlock, moveBlock, splice }

    @Test("no mutated trace replays as a success, and none traps")
    func mutants() throws {
        let program = try testProgram("kvstore")
        let (a, _) = try recordTrace(program, duration: 60_000_000, seed: 1)
        let (b, _) = try recordTrace(program, duration: 60_000_000, seed: 1)
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: a)))
        let other = [UInt8](try Data(contentsOf: URL(fileURLWithPath: b)))
        _ = try Replay.run(trace: try TraceFile(path: a), program: program)
        var rng = SplitMix(state: 42)
        let path = temporaryTracePath()
        var counts: [Mutation: Int] = [:]
        for i in 0 ..< (longTests ? 5_000 : 300) {
            let mutation = Mutation.allCases[i % Mutation.allCases.count]
            let mutant = mutate(original, other: other, mutation, &rng)
            guard mutant != original else { continue }
            try Data(mutant).write(to: URL(fileURLWithPath: path))
            counts[mutation, default: 0] += 1
            do {
                _ = try Replay.run(trace: try TraceFile(path: path), program: program)
                Issue.record("mutant \(i) (\(mutation)) replayed as a success")
            } catch {
                // Every mutant must end here: a defect found, with its location.
            }
        }
        #expect(counts.values.allSatisfy { $0 > 0 } && counts.count == Mutation.allCases.count)
    }

    func mutate(_ bytes: [UInt8], other: [UInt8], _ mutation: Mutation, _ rng: inout SplitMix) -> [UInt8] {
        var out = bytes
        let n = bytes.count
        switch mutation {
        case .truncate:
            out.removeLast(Int.random(in: 1 ... n, using: &rng))
        case .flipBit:
            out[Int.random(in: 0 ..< n, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0 ..< 8, using: &rng)
        case .cutBlock:
            let start = Int.random(in: 0 ..< n, using: &rng)
            out.removeSubrange(start ..< min(n, start + Int.random(in: 1 ... 4_096, using: &rng)))
        case .moveBlock:
            let start = Int.random(in: 0 ..< n, using: &rng)
            let block = Array(out[start ..< min(n, start + Int.random(in: 1 ... 4_096, using: &rng))])
            out.removeSubrange(start ..< start + block.count)
            out.insert(contentsOf: block, at: Int.random(in: 0 ... out.count, using: &rng))
        case .splice:
            let cut = Int.random(in: 0 ... n, using: &rng)
            let from = Int.random(in: 0 ... other.count, using: &rng)
            out = Array(bytes[..<cut]) + other[from...]
        }
        return out
    }
}
