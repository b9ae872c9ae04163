import GuestVM
import Harness
import LogChannel
import Replication
import Testing

/// Replay over real (emulated) channels, and the divergence checks that guard it: each property
/// has a negative control that breaks the backup through `Sabotage` and asserts that the break
/// is reported, at the seq where it is first detectable.
@Suite("Replay over channels, with sabotage")
struct ReplaySabotageTests {
    static let profiles = [ChannelProfile.lan, .crossCity, try! ChannelProfile.parse("200us,jitter=normal:50us")]

    /// A guest that reads the clock and outputs the value at once, 2,000 times: an altered clock
    /// value changes the very next output.
    static let clockEcho = try! Assembler.assemble("""
        .data
        buffer: .zero 8
        .text
        start:
            li r10, 2000
            li r5, buffer
            li r2, 8
        .loop:
            rdclock r1
            st64 [r5], r1
            out r5, r2
            addi r10, r10, -1
            bnei r10, 0, .loop
            halt
        """, file: "clock-echo")

    static func run(_ program: Program, profile: ChannelProfile = .lan, sabotage: Sabotage = Sabotage(), seed: UInt64 = 1) throws -> ReplicationReport {
        var o = options(profile, seed: seed)
        o.sabotage = sabotage
        return try ReplicatedRun.run(program: program, vcpus: program.preferredVCPUs, options: o, client: client(rate: 10_000, seed: seed)).0
    }

    /// Replay equality where entries arrive late, in batches and with jitter, not only on
    /// loopback: the state hashes compared cover registers, devices and all of memory.
    @Test("the backup reaches the primary's state over lan, cross-city and a jittered channel",
          arguments: profiles, ["kvstore", "nondet", "compute"])
    func equality(profile: ChannelProfile, workload: String) throws {
        let report = try Self.run(try testProgram(workload), profile: profile)
        #expect(report.failure == nil && report.divergence == nil, "\(report.failure ?? "") \(report.divergence.map(String.init(describing:)) ?? "")")
        #expect(report.backupStateHash == report.primaryStateHash)
        #expect(report.backupEntriesReplayed > 10)
    }

    /// Negative control: the backup skips entry #40 (sabotage `dropEntry`); the sequence check
    /// reports the gap at exactly that seq.
    @Test("negative control: a dropped entry is reported at its seq", arguments: profiles)
    func dropped(profile: ChannelProfile) throws {
        let report = try Self.run(try testProgram("nondet"), profile: profile, sabotage: { var s = Sabotage(); s.dropEntry = 40; return s }())
        #expect(report.sabotagedSeq == 40)
        let divergence = try #require(report.divergence, "a dropped entry went unnoticed")
        #expect(divergence.seq == 40)
        #expect(divergence.reason.contains("missing"))
    }

    /// Negative control: the backup reads one clock value with a bit flipped (sabotage
    /// `alterValue`). The value itself carries nothing to check it against; the guest echoes it,
    /// so the output marker right after it is where it becomes detectable, and is reported.
    @Test("negative control: an altered clock value is reported at the output it changes", arguments: profiles)
    func alteredClock(profile: ChannelProfile) throws {
        let report = try Self.run(Self.clockEcho, profile: profile, sabotage: { var s = Sabotage(); s.alterValue = 100; return s }())
        let altered = try #require(report.sabotagedSeq)
        #expect(altered >= 100)
        let divergence = try #require(report.divergence, "an altered clock value went unnoticed")
        #expect(divergence.seq == altered + 1, "the output marker follows the clock entry")
        #expect(divergence.reason.contains("output differs"))
    }

    /// Negative control: the backup injects one client request one instruction late (sabotage
    /// `lateInjection`); the position check reports it at that request's seq.
    @Test("negative control: an injection one instruction late is reported at its seq", arguments: profiles)
    func lateInjection(profile: ChannelProfile) throws {
        let report = try Self.run(try testProgram("kvstore"), profile: profile, sabotage: { var s = Sabotage(); s.lateInjection = 30; return s }())
        let late = try #require(report.sabotagedSeq)
        let divergence = try #require(report.divergence, "a late injection went unnoticed")
        #expect(divergence.seq == late)
    }
}
