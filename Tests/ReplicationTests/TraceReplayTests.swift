import Foundation
import GuestVM
import Harness
import LogChannel
import LogTrace
import Replication
import Testing
import TestScratch

func temporaryTracePath() -> String {
    Scratch.path("trace", suffix: ".fttrace")
}

/// Runs `program` replicated for `duration`, recording the backup's log; returns the trace's
/// path and the run's report.
func recordTrace(_ program: Program, duration: UInt64 = 150_000_000, profile: ChannelProfile = .loopback,
                 sabotage: Sabotage = Sabotage(), seed: UInt64 = 1) throws -> (String, ReplicationReport) {
    var o = options(profile, seed: seed, duration: duration)
    o.sabotage = sabotage
    let vcpus = program.preferredVCPUs
    let header = TraceHeader(isaVersion: Machine.isaVersion, vcpus: vcpus,
                             memorySize: try Machine.memorySize(for: program, vcpus: vcpus), quantum: o.quantum, seed: seed,
                             programHash: program.contentHash, recordedAt: 0, ftbenchVersion: "test", buildRevision: "test",
                             programName: program.name, channelProfile: profile.description, ackPolicy: o.ackPolicy.description)
    let path = temporaryTracePath()
    let writer = try TraceWriter(path: path, header: header)
    let (report, _) = try ReplicatedRun.run(program: program, vcpus: vcpus, options: o, client: client(rate: 20_000, seed: seed),
                                            trace: writer)
    return (path, report)
}

/// Copies a trace through `TraceWriter`, editing its header and entries on the way: the copy
/// is a well-formed trace (checksums and chain intact) that says something else.
func rewriteTrace(_ path: String, header edit: (inout TraceHeader) -> Void = { _ in },
                  entry change: (inout LogEntry) -> Void = { _ in }) throws -> String {
    let file = try TraceFile(path: path)
    var header = file.header
    edit(&header)
    let out = temporaryTracePath()
    let writer = try TraceWriter(path: out, header: header)
    var reader = file.records()
    while let record = try reader.next() {
        var entry = record.entry.owned
        change(&entry)
        LogEntryCodec.encode(entry).withUnsafeBytes { writer.append(encoded: $0) }
    }
    try writer.finish()
    return out
}

/// Traces recorded by a live backup replay offline to the primary's state; the checks that only
/// a replay can make (ISA version, program, final state, every output) each report their
/// defect, and each has a negative control that switches the check off (the `checks` a
/// `TraceFile` is opened with) and shows the defect then gets through.
@Suite("Trace replay")
struct TraceReplayTests {
    @Test("the trace of every built-in workload replays to the primary's state hash", arguments: BuiltinPrograms.all.map(\.name))
    func everyWorkload(name: String) throws {
        let program = try testProgram(name)
        let (path, report) = try recordTrace(program)
        #expect(report.failure == nil && report.divergence == nil, "\(report.failure ?? "") \(report.divergence.map(String.init(describing:)) ?? "")")
        #expect(report.logTrace == path)
        let outcome = try Replay.run(trace: try TraceFile(path: path), program: program)
        #expect(outcome.stateHash == report.primaryStateHash)
        #expect(outcome.stateHash == report.backupStateHash)
        #expect(outcome.instructions > 0)
    }

    /// Negative control for `.programHash`: a program that differs only in its `.vcpus`
    /// request (which replay does not use: the trace says how many vCPUs) has another hash; with
    /// the check off it replays the trace to the end.
    @Test("a trace replayed with another program is refused, and its negative control")
    func otherProgram() throws {
        let program = try testProgram("nondet")
        let (path, _) = try recordTrace(program)
        var other = program
        other.preferredVCPUs = 2
        #expect(throws: TraceError.self) { try Replay.run(trace: try TraceFile(path: path), program: other) }
        do { _ = try Replay.run(trace: try TraceFile(path: path), program: other) } catch let error as TraceError {
            #expect(error.offset == 48 && error.problem.contains("code hash"))
        }
        let unchecked = try TraceFile(path: path, checks: LogChecks.all.subtracting(.programHash))
        _ = try Replay.run(trace: unchecked, program: other)
        #expect(throws: (any Error).self) { try Replay.run(trace: try TraceFile(path: path), program: try testProgram("compute")) }
    }

    /// Negative control for `.isaVersion`: the same trace labelled ISA version 0 replays with the
    /// check off.
    @Test("a trace of another ISA version is refused, and its negative control")
    func otherISA() throws {
        let program = try testProgram("nondet")
        let (original, _) = try recordTrace(program)
        let path = try rewriteTrace(original, header: { $0.isaVersion = 0 })
        do {
            _ = try Replay.run(trace: try TraceFile(path: path), program: program)
            Issue.record("a trace of ISA version 0 replayed")
        } catch let error as TraceError {
            #expect(error.offset == 16 && error.problem.contains("ISA version 0"))
        }
        _ = try Replay.run(trace: try TraceFile(path: path, checks: LogChecks.all.subtracting(.isaVersion)), program: program)
    }

    /// Negative control for `.finalState`: an end-of-log entry carrying another state hash is a
    /// divergence at its seq; with the check off the replay ends clean.
    @Test("a final state that differs is a divergence at the end-of-log entry, and its negative control")
    func finalState() throws {
        let program = try testProgram("nondet")
        let (original, _) = try recordTrace(program)
        var endSeq: UInt64 = 0
        let path = try rewriteTrace(original, entry: { entry in
            guard entry.header.kind == .endOfLog else { return }
            endSeq = entry.header.seq
            entry = LogEntry(header: entry.header, value: 12345)
        })
        do {
            _ = try Replay.run(trace: try TraceFile(path: path), program: program)
            Issue.record("a wrong final state hash went unnoticed")
        } catch let d as Divergence {
            #expect(d.seq == endSeq && d.kind == .endOfLog && d.logged == "state hash 0x3039")
        }
        _ = try Replay.run(trace: try TraceFile(path: path, checks: LogChecks.all.subtracting(.finalState)), program: program)
    }

    /// A clock value changed in a well-formed trace: the guest echoes it, so the output marker
    /// right after it is where replay diverges, with the logged and replayed output hashes.
    @Test("an altered value in a trace is a divergence at the output it changes")
    func alteredValue() throws {
        let (original, _) = try recordTrace(ReplaySabotageTests.clockEcho)
        var altered: UInt64?
        let path = try rewriteTrace(original, entry: { entry in
            guard altered == nil, entry.header.kind == .clockRead, entry.header.seq > 50 else { return }
            altered = entry.header.seq
            entry = LogEntry(header: entry.header, value: 1)
        })
        do {
            _ = try Replay.run(trace: try TraceFile(path: path), program: ReplaySabotageTests.clockEcho)
            Issue.record("an altered clock value replayed clean")
        } catch let d as Divergence {
            #expect(d.seq == (altered ?? 0) + 1 && d.kind == .outputMarker)
            #expect(d.logged?.hasPrefix("output hash 0x") == true && d.replayed?.contains("bytes") == true)
        }
    }

    /// Negative control for the live `.endOfLog` check: the backup never sees the end-of-log
    /// entry (sabotage `dropEndOfLog`) and reports its log cut short; with the check skipped too,
    /// the run passes as whole.
    @Test("a live log without its end-of-log entry is reported, and its negative control")
    func liveEndOfLog() throws {
        var sabotage = Sabotage()
        sabotage.dropEndOfLog = true
        let program = try testProgram("nondet")
        let (_, cut) = try recordTrace(program, sabotage: sabotage)
        #expect(cut.failure?.contains("without an end-of-log entry") == true, "\(cut.failure ?? "no failure")")
        sabotage.skipChecks = [.endOfLog, .finalState]
        let (_, unchecked) = try recordTrace(program, sabotage: sabotage)
        #expect(unchecked.failure == nil && unchecked.divergence == nil)
    }

    /// Negative control for the live `.sequence` check: the backup skips entry #40 (sabotage
    /// `dropEntry`) with the check off, and the gap is not reported at #40 (whatever the entry
    /// did is caught later, or not at all).
    @Test("negative control: with the live sequence check off, a dropped entry is not reported at its seq")
    func liveSequence() throws {
        var sabotage = Sabotage()
        sabotage.dropEntry = 40
        sabotage.skipChecks = .sequence
        let (_, report) = try recordTrace(try testProgram("nondet"), sabotage: sabotage)
        #expect(report.sabotagedSeq == 40)
        #expect(report.divergence.map { $0.seq == 40 && $0.reason.contains("missing") } != true)
    }

    @Test("a divergence names the entry kind and both sides")
    func divergenceDescription() {
        let d = Divergence(seq: 9, vcpu: 1, instructionCount: 500, kind: .clockRead, reason: "the value reads differ",
                           logged: "clockRead for vCPU 1 at instruction 510", replayed: "has a clockRead of vCPU 1 at instruction 500")
        #expect(d.description == "divergence at log entry #9 (clockRead), vCPU 1, instruction 500: the value reads differ; the log has clockRead for vCPU 1 at instruction 510, the replay has a clockRead of vCPU 1 at instruction 500")
    }
}
