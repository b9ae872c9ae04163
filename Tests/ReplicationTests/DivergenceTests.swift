import GuestVM
import Harness
import LogChannel
import Replication
import Testing

/// Divergence is never silent: a log that does not match the guest is reported with the first
/// diverging entry. These tests replay a real recorded log, changed in one place.
@Suite("Divergence detection")
struct DivergenceTests {
    static func recorded(_ workload: String) throws -> (Program, [LogEntry], UInt64) {
        let program = try testProgram(workload)
        let (report, _) = try ReplicatedRun.run(program: program, vcpus: program.preferredVCPUs, options: options(),
                                                client: client(), recordLog: true)
        #expect(report.divergence == nil)
        return (program, try #require(report.recordedLog), report.primaryStateHash)
    }

    @Test("the unchanged recorded log replays to the primary's state")
    func unchanged() throws {
        let (program, log, hash) = try Self.recorded("kvstore")
        let outcome = try Replay.run(program: program, vcpus: 1, source: RecordedLogSource(log), quantum: 5_000)
        #expect(outcome.stateHash == hash)
    }

    @Test("a corrupted request (the value of a PUT) is caught at the output that echoes it")
    func corruptedRequest() throws {
        let (program, original, _) = try Self.recorded("kvstore")
        var log = original
        let index = try #require(log.indices.first { log[$0].header.kind == .clientRequest && log[$0].payload[8] == 2 })
        log[index].payload[24] ^= 0xFF  // the PUT's value, echoed in its reply
        do {
            _ = try Replay.run(program: program, vcpus: 1, source: RecordedLogSource(log), quantum: 5_000)
            Issue.record("a corrupted request replayed without divergence")
        } catch let divergence as Divergence {
            #expect(divergence.reason.contains("output differs"))
            #expect(divergence.seq > log[index].header.seq)
        }
    }

    @Test("a changed clock value is caught")
    func changedValue() throws {
        let (program, original, hash) = try Self.recorded("nondet")
        var log = original
        let index = try #require(log.indices.first { log[$0].header.kind == .randomRead })
        log[index].payload[0] ^= 1
        do {
            let outcome = try Replay.run(program: program, vcpus: 1, source: RecordedLogSource(log), quantum: 5_000)
            #expect(outcome.stateHash != hash, "replay must not reach the primary's state")
        } catch is Divergence {
            // Caught at the output marker: also correct.
        }
    }

    @Test("two entries swapped are caught at the first of them", arguments: [LogEntryKind.clientRequest, .scheduling])
    func reordered(kind: LogEntryKind) throws {
        let (program, original, _) = try Self.recorded("kvstore")
        var log = original
        let index = try #require(log.indices.first { $0 > 10 && log[$0].header.kind == kind })
        log.swapAt(index, index + 1)
        #expect(throws: Divergence.self) {
            _ = try Replay.run(program: program, vcpus: 1, source: RecordedLogSource(log), quantum: 5_000)
        }
    }

    @Test("a truncated log is caught: the guest waits for entries that never come, or outruns the log")
    func truncated() throws {
        let (program, original, hash) = try Self.recorded("kvstore")
        let log = Array(original.prefix(original.count / 2))
        let outcome = try? Replay.run(program: program, vcpus: 1, source: RecordedLogSource(log), quantum: 5_000)
        #expect(outcome?.stateHash != hash)
    }
}
