import GuestVM
import Harness
import LogChannel
import Replication
import Testing

/// The output rule, checked from outside the primary: releases timed on the primary against the
/// ACKs the backup actually sent, timed by the channel's delivery stamps (`OutputRuleAudit`).
@Suite("Output rule audit")
struct OutputRuleAuditTests {
    static let jittered = try! ChannelProfile.parse("100us,jitter=normal:20us")

    static func audited(_ profile: ChannelProfile, sabotage: Sabotage = Sabotage(), ack: AckPolicy = .everyEntry)
        throws -> (OutputRuleAudit, ReplicationReport) {
        var o = options(profile, ack: ack)
        o.traceOutputs = true
        o.sabotage = sabotage
        let (report, _) = try ReplicatedRun.run(program: try testProgram("kvstore"), vcpus: 1, options: o, client: client(rate: 10_000))
        let releases = try #require(report.outputReleases)
        let acks = try #require(report.ackDeliveries)
        return (OutputRuleAudit(releases: releases, acks: acks), report)
    }

    @Test("the audit's arithmetic: covered late, covered in time, never covered")
    func arithmetic() {
        let acks: [(received: UInt64, deliveredAt: UInt64)] = [(3, 100), (5, 200), (9, 300)]
        let audit = OutputRuleAudit(releases: [(3, 100), (4, 150), (5, 250), (9, 300), (10, 400)], acks: acks)
        #expect(audit.outputsChecked == 5)
        #expect(audit.violations.map(\.tag) == [4, 10])
        #expect(audit.violations[0].coveredAt == 200)
        #expect(audit.violations[1].coveredAt == nil)
    }

    /// The property itself, on an immediate, a LAN and a jittered channel. The negative controls
    /// below run the same audit with the rule broken.
    @Test("every output leaves after the delivery of an ACK that covers it",
          arguments: [ChannelProfile.loopback, .lan, OutputRuleAuditTests.jittered], [AckPolicy.everyEntry, .outputAware(batch: 64)])
    func holds(profile: ChannelProfile, ack: AckPolicy) throws {
        let (audit, report) = try Self.audited(profile, ack: ack)
        #expect(report.divergence == nil && report.failure == nil)
        #expect(audit.outputsChecked == report.outputs, "every output was released by the end")
        #expect(audit.outputsChecked > 100)
        #expect(audit.violations.isEmpty, "\(audit.violations.prefix(3))")
    }

    enum Breakage: String, CaseIterable, Sendable { case releaseOnHold, releaseOneEntryEarly, bumpAcknowledged }

    /// Negative controls: the primary is sabotaged through `Sabotage` (releasing each output as
    /// it is produced; releasing when the entry before its marker is acknowledged; believing
    /// every ACK covers one entry more than it does) and the audit must report violations.
    /// On `lan` an ACK takes 45 µs, so a release that does not wait for its own ACK is early.
    @Test("negative control: a sabotaged output rule is caught by the audit", arguments: Breakage.allCases)
    func sabotaged(breakage: Breakage) throws {
        var sabotage = Sabotage()
        switch breakage {
        case .releaseOnHold: sabotage.releaseOnHold = true
        case .releaseOneEntryEarly: sabotage.releaseOneEntryEarly = true
        case .bumpAcknowledged: sabotage.bumpAcknowledged = true
        }
        let (audit, report) = try Self.audited(.lan, sabotage: sabotage)
        #expect(report.outputs > 100)
        #expect(!audit.violations.isEmpty, "the audit let \(breakage) through")
    }
}
