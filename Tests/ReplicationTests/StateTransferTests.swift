import GuestVM
import Harness
import LogChannel
import Replication
import Testing
import Topology

let repeatedFailoverPoints = longTests ? 40 : 4

/// Restoring redundancy: a primary without a backup makes a new one by state transfer (pre-copy
/// with dirty-page tracking, then a stop-and-copy), and repeated failures in one run work.
@Suite("State transfer", .serialized)
struct StateTransferTests {
    /// The backup crashes; the primary goes on alone, then transfers its state to the restarted
    /// host, whose replay must end in the primary's final state (the end-of-log check). Over a
    /// 1 Gbit/s link, so the pre-copy takes several rounds.
    @Test("a primary left alone restores a backup by state transfer, which then replays to the primary's state")
    func restoresBackup() throws {
        var scenario = FailoverScenario(seed: 3, faults: [.crash(.backup, at: .elapsed(nanos: 250_000_000))])
        scenario.profile = try ChannelProfile.parse("lan,bw=1gbit")
        let (report, client) = try scenario.run()
        let f = try #require(report.failover)
        #expect(report.failure == nil && report.divergence == nil, "\(report.failure ?? "") — \(scenario.command)")
        let transfer = try #require(f.transfers.first, "no transfer — \(scenario.command)")
        #expect(transfer.from == .a && transfer.to == .b && transfer.abandoned == nil)
        let resumed = try #require(transfer.resumedAt)
        #expect(transfer.rounds >= 2, "4 MiB at 1 Gbit/s takes 34 ms, long enough for the guest to dirty pages")
        #expect(transfer.bytes >= 4 << 20 && transfer.bytesResent > 0)
        #expect(f.events.contains { $0.kind == .restored && $0.side == .a && $0.at == resumed })
        // The restored backup replayed the rest of the run and ended in the primary's state.
        #expect(report.backupStateHash == report.primaryStateHash)
        #expect(f.outputsLost == 0 && f.requestsUnanswered == 0 && client.duplicateReplies == 0)
    }

    /// A second backup crash, due by the time the first new backup is invited, strikes it during
    /// the transfer: the primary gives that transfer up when the host falls silent and restores a
    /// backup on the host's next restart.
    @Test("a backup crash during a state transfer: the transfer is given up and the next one restores the backup")
    func crashDuringTransfer() throws {
        var scenario = FailoverScenario(seed: 5, faults: [
            .crash(.backup, at: .elapsed(nanos: 250_000_000)), .crash(.backup, at: .elapsed(nanos: 260_000_000)),
        ])
        scenario.duration = 1.6
        let (report, _) = try scenario.run()
        let f = try #require(report.failover)
        #expect(report.failure == nil && report.divergence == nil, "\(report.failure ?? "") — \(scenario.command)")
        #expect(f.events.filter { $0.kind == .crashed && $0.side == .b }.count == 2, "\(f.events.map(\.kind))")
        #expect(f.transfers.first?.abandoned != nil, "\(f.transfers)")
        #expect(f.transfers.last?.resumedAt != nil, "\(f.transfers)")
        #expect(report.backupStateHash == report.primaryStateHash)
    }

    /// Negative control for the restored state's equality. Sabotage: `untrackedWrites`, the
    /// pre-copy never learns which pages the guest wrote, so the new backup starts from a stale
    /// copy of memory; the transfer-end hash check must catch it.
    @Test("negative control: with writes untracked the restored state differs, and the transfer says so")
    func untrackedWritesCaught() throws {
        let sabotage = Sabotage.only(\.untrackedWrites)
        let scenario = FailoverScenario(seed: 3, faults: [.crash(.backup, at: .elapsed(nanos: 250_000_000))], sabotage: sabotage)
        let (report, _) = try scenario.run()
        #expect(report.failure?.contains("the transfer missed a write") == true,
                "\(report.failure ?? "no failure"); transfers: \(report.failover?.transfers ?? [])")
    }

    /// Repeated failures at random points: the primary crashes, the backup takes over and
    /// restores a backup on the restarted host, then the new primary crashes and the newest
    /// backup takes over. Nothing is lost, no request goes unanswered, no duplicate reaches the
    /// application, no epoch has two owners, and the epochs go 1, 2, 3.
    ///
    /// The premise is that the restore ended before the second crash (a primary crashing during
    /// a transfer leaves no backup: the VM is lost, by design). A starved host can stretch a
    /// transfer past it; such a run is checked for what must hold whatever happens (no
    /// divergence, no epoch with two owners) and the point is drawn again, up to three times.
    @Test("repeated primary crashes: each newest backup takes over, and nothing is lost")
    func repeatedFailovers() throws {
        for point in 0..<repeatedFailoverPoints {
            _ = try Self.underPremise("point \(point): a restore ended before the second crash") { attempt -> Bool? in
                let seed = UInt64(point + 1 + 1_000 * attempt)
                var points = FaultPoints(seed ^ 0x2E57)
                var scenario = FailoverScenario(seed: seed, faults: [
                    .crash(.primary, at: .elapsed(nanos: points.time(0.25, 0.45))),
                    .crash(.primary, at: .elapsed(nanos: points.time(1.15, 1.35))),
                ])
                scenario.duration = 1.9
                scenario.failureTimeout = 200_000_000
                let (report, client) = try scenario.run()
                let f = try #require(report.failover)
                let context = "point \(point), seed \(seed): \(scenario.command)"
                #expect(report.divergence == nil && f.epochsWithTwoOwners.isEmpty, "\(context)")
                guard let restored = f.transfers.lazy.compactMap(\.resumedAt).first, let second = f.faultTimes[1],
                      restored < second else { return nil }
                #expect(report.failure == nil, "\(report.failure ?? "") — \(context)")
                #expect(f.finalEpoch == 3 && f.survivor == .a, "\(context)")
                #expect(f.events.filter { $0.kind == .restored }.count >= 1, "\(context)")
                #expect(f.outputsLost == 0 && f.requestsUnanswered == 0 && client.duplicateReplies == 0, "\(context)")
                return true
            }
        }
    }

    /// Runs `attempt` (numbered from 0) until it returns a value, at most `attempts` times. Each
    /// attempt checks what must hold whatever the timing, and returns nil when a starved host
    /// broke the test's timing premise; if every attempt did, an issue says so (never a pass).
    static func underPremise<T>(_ premise: String, attempts: Int = 3, _ attempt: (Int) throws -> T?) throws -> T? {
        for n in 0..<attempts {
            if let value = try attempt(n) { return value }
        }
        Issue.record("in \(attempts) runs this premise never held: \(premise); the host was too starved for the test")
        return nil
    }

    /// Two failovers, the second one a partition that the restored backup wins: side B takes
    /// over from a crashed A and restores a backup on A's host; then B is cut from A and, for
    /// longer, from the arbiter, so A takes over (epoch 3) while B still takes requests it can
    /// neither log nor answer.
    ///
    /// That premise needs the first state transfer done before the cut. On a starved host (two
    /// cores shared with other suites' spinning pairs) it may still run then: B is paused in its
    /// stop-and-copy, takes nothing, and the restored A, holding the whole state, rightly takes
    /// over with nothing to re-send (the likeliest cause of a CI run that ended in epoch 3 with
    /// no re-send); or the cut ends the transfer and B goes on alone. Such a run is checked for
    /// safety all the same, and the scenario is run again, up to three times.
    static func restoredBackupWinsPartition(sabotage: Sabotage = Sabotage()) throws -> FailoverReport? {
        var scenario = FailoverScenario(seed: 11, faults: [
            .crash(.primary, at: .elapsed(nanos: 300_000_000)),
            .partition(at: .elapsed(nanos: 1_000_000_000), duration: 400_000_000),
            .arbiterPartition(at: .elapsed(nanos: 1_000_000_000), duration: 600_000_000, side: .b),
        ], sabotage: sabotage)
        scenario.duration = 1.9
        return try underPremise("the first state transfer ended before the partition") { _ -> FailoverReport? in
            let (report, client) = try scenario.run()
            let f = try #require(report.failover)
            #expect(report.failure == nil, "\(report.failure ?? "") — \(scenario.command)")
            #expect(f.outputsLost == 0 && client.duplicateReplies == 0 && f.epochsWithTwoOwners.isEmpty, "\(scenario.command)")
            let cut = try #require(f.faultTimes[1])
            guard let restored = f.transfers.first?.resumedAt, restored < cut else { return nil }
            #expect(f.finalEpoch == 3 && f.survivor == .a, "\(scenario.command)")
            return f
        }
    }

    @Test("a partition the restored backup wins, after a first failover: the requests the cut-off primary took are re-sent, nothing is lost")
    func restoredBackupWinsPartition() throws {
        guard let f = try Self.restoredBackupWinsPartition() else { return }
        #expect(f.requestsUnanswered == 0)
        #expect(f.retransmissions > 0, "the cut-off primary took requests that only a re-send answers; transfers: \(f.transfers)")
    }

    /// Negative control for "no request unanswered" across repeated failovers. Sabotage:
    /// `noClientResend`, clients never re-send, so the requests the cut-off primary took stay
    /// unanswered; the count must see them.
    @Test("negative control: without client re-sends, the second failover leaves requests unanswered, and the count sees them")
    func restoredBackupWinsPartitionWithoutResend() throws {
        guard let f = try Self.restoredBackupWinsPartition(sabotage: .only(\.noClientResend)) else { return }
        #expect(f.requestsUnanswered > 0)
    }
}
