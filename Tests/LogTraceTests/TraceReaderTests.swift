import Foundation
import LogChannel
import LogTrace
import Testing
import TestScratch

/// A trace of `count` heartbeats (seq 1...count) and an end-of-log entry, written by
/// `TraceWriter`; `seqs` overrides the sequence numbers the writer is given.
func writeTrace(count: Int = 20, seqs: [UInt64]? = nil, traceID: UInt64 = 7, endOfLog: Bool = true) throws -> String {
    let path = Scratch.path("trace", suffix: ".fttrace")
    let header = TraceHeader(isaVersion: 1, vcpus: 1, memorySize: 1 << 20, quantum: 1_000, seed: 3, programHash: 0xfeed,
                             recordedAt: 1, traceID: traceID, ftbenchVersion: "test", buildRevision: "none",
                             programName: "test", channelProfile: "lan", ackPolicy: "every")
    let writer = try TraceWriter(path: path, header: header, bufferSize: 256)
    var numbers = seqs ?? (1...UInt64(count)).map { $0 }
    if endOfLog { numbers.append((numbers.max() ?? 0) + 1) }
    for (i, seq) in numbers.enumerated() {
        let last = endOfLog && i == numbers.count - 1
        let entry = LogEntry(header: LogEntryHeader(seq: seq, instructionCount: UInt64(i) * 10, kind: last ? .endOfLog : .heartbeat),
                             value: UInt64(i) * 1_000)
        LogEntryCodec.encode(entry).withUnsafeBytes { writer.append(encoded: $0) }
    }
    try writer.finish()
    return path
}

/// Every record's offset in a well-formed trace.
func recordOffsets(_ path: String) throws -> [Int] {
    var reader = try TraceFile(path: path).records()
    var offsets: [Int] = []
    while let record = try reader.next() { offsets.append(record.offset) }
    return offsets
}

/// Reads a trace to its end: nil if it reads clean, else the error.
func readError(_ path: String, checks: LogChecks = .all) -> TraceError? {
    do {
        var reader = try TraceFile(path: path, checks: checks).records()
        while try reader.next() != nil {}
        return nil
    } catch { return error }
}

func mutate(_ path: String, _ change: (inout [UInt8]) -> Void) throws -> String {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    change(&bytes)
    let out = path + "-mutated-\(UUID().uuidString)"
    try Data(bytes).write(to: URL(fileURLWithPath: out))
    return out
}

/// Each defect of a trace file is reported at its byte offset and seq, and each check has a
/// negative control: the same defect with that check switched off (the `checks` argument) is
/// read without the error, which shows the check is what catches it.
@Suite("Trace reader")
struct TraceReaderTests {
    @Test("a trace reads back entry for entry, ending at its end-of-log entry")
    func roundTrip() throws {
        let path = try writeTrace(count: 50)
        var reader = try TraceFile(path: path).records()
        var seqs: [UInt64] = []
        while let record = try reader.next() { seqs.append(record.entry.header.seq) }
        #expect(seqs == Array(1...51))
        #expect(reader.ended)
        #expect(try TraceFile(path: path).header.programHash == 0xfeed)
    }

    @Test("an empty file, a file that is not a trace, and a cut header are refused at offset 0 or where they end")
    func notATrace() throws {
        let empty = try mutate(try writeTrace()) { $0 = [] }
        #expect(readError(empty)?.description.contains("empty") == true)
        let text = try mutate(try writeTrace()) { $0 = Array("runs.csv,row,round\n1,2,3\n".utf8) }
        #expect(readError(text)?.problem.contains("not an ftbench trace") == true)
        #expect(readError(text)?.offset == 0)
        let cut = try mutate(try writeTrace()) { $0.removeLast($0.count - 30) }
        #expect(readError(cut)?.problem.contains("cut off") == true)
    }

    /// Negative control for `.magic`: only the magic is wrong; with the check off (and the
    /// header checksum's, which covers the magic too) the trace reads clean.
    @Test("the magic check, and its negative control")
    func magic() throws {
        let path = try mutate(try writeTrace()) { $0[0] = UInt8(ascii: "X") }
        #expect(readError(path)?.problem.contains("not an ftbench trace") == true)
        #expect(readError(path, checks: LogChecks.all.subtracting(.headerChecksum))?.problem.contains("not an ftbench trace") == true)
        #expect(readError(path, checks: LogChecks.all.subtracting([.magic, .headerChecksum])) == nil)
    }

    /// Negative control for `.formatVersion`: version 2 reads clean with the check off (and the
    /// header checksum's, which covers the version too).
    @Test("an unknown format version, and its negative control")
    func formatVersion() throws {
        let path = try mutate(try writeTrace()) { $0[8] = 2 }
        let error = try #require(readError(path))
        #expect(error.offset == 8 && error.problem.contains("format version 2"))
        #expect(readError(path, checks: LogChecks.all.subtracting(.headerChecksum))?.offset == 8)
        #expect(readError(path, checks: LogChecks.all.subtracting([.formatVersion, .headerChecksum])) == nil)
    }

    /// Negative control for `.headerChecksum`: a flipped bit in the channel profile's name is
    /// invisible with the check off.
    @Test("a flipped bit in the header, and its negative control")
    func headerChecksum() throws {
        let original = try writeTrace()
        let size = try recordOffsets(original)[0]
        let path = try mutate(original) { $0[size - 6] ^= 0x04 }
        #expect(readError(path)?.problem.contains("header is corrupt") == true)
        #expect(readError(path, checks: LogChecks.all.subtracting(.headerChecksum)) == nil)
    }

    /// Negative control for `.entryChecksums`: a flipped bit in entry #7's payload goes
    /// unnoticed with the check off (the chain covers only the stored checksum, which is intact).
    @Test("a flipped bit in an entry is reported at its seq and offset, and its negative control")
    func entryChecksum() throws {
        let original = try writeTrace()
        let offsets = try recordOffsets(original)
        let path = try mutate(original) { $0[offsets[6] + LogEntryCodec.headerSize + 2] ^= 0x10 }
        let error = try #require(readError(path))
        #expect(error.seq == 7 && error.offset == offsets[6] && error.problem.contains("corrupt"))
        #expect(readError(path, checks: LogChecks.all.subtracting(.entryChecksums)) == nil)
    }

    @Test("a trace cut inside an entry is reported at that entry's seq and offset")
    func truncatedMidEntry() throws {
        let original = try writeTrace()
        let offsets = try recordOffsets(original)
        let path = try mutate(original) { $0.removeLast($0.count - (offsets[9] + 20)) }
        let error = try #require(readError(path))
        #expect(error.offset == offsets[9] && error.problem.contains("cut off"))
        let chainless = try mutate(original) { $0.removeLast($0.count - (offsets[9] + 40)) }
        let second = try #require(readError(chainless))
        #expect(second.seq == 10 && second.offset == offsets[9])
    }

    /// Negative control for `.endOfLog`: a trace cut at an entry boundary, with no end-of-log
    /// entry, reads as complete when the check is off; so do bytes after the end.
    @Test("a trace cut at an entry boundary, or with bytes after its end, and their negative control")
    func truncatedAtBoundary() throws {
        let original = try writeTrace()
        let offsets = try recordOffsets(original)
        let path = try mutate(original) { $0.removeLast($0.count - offsets[12]) }
        let error = try #require(readError(path))
        #expect(error.offset == offsets[12] && error.problem.contains("after entry #12 without an end-of-log entry"))
        #expect(readError(path, checks: LogChecks.all.subtracting(.endOfLog)) == nil)
        let extra = try mutate(original) { $0 += [1, 2, 3] }
        #expect(readError(extra)?.problem.contains("3 bytes follow the end-of-log entry") == true)
        #expect(readError(extra, checks: LogChecks.all.subtracting(.endOfLog)) == nil)
    }

    /// Negative control for `.sequence`: a log recorded with a gap, a repeat or a swap (as a
    /// backup would have received it, so its chain is intact) reads clean with the check off.
    @Test("a missing, duplicated or swapped entry is reported at the seq due, and its negative control",
          arguments: [([1, 2, 3, 4, 6, 7, 8] as [UInt64], 5 as UInt64, "#5 is missing"),
                      ([1, 2, 3, 4, 4, 5, 6], 5, "#4 comes again"),
                      ([1, 2, 3, 5, 4, 6, 7], 4, "#4 is missing")])
    func sequence(seqs: [UInt64], due: UInt64, message: String) throws {
        let path = try writeTrace(seqs: seqs)
        let error = try #require(readError(path))
        #expect(error.seq == due && error.problem.contains(message), "\(error)")
        #expect(readError(path, checks: LogChecks.all.subtracting(.sequence)) == nil)
    }

    @Test("records removed, repeated, swapped, cut out or moved in a file are reported at the first seq out of place")
    func blockDefects() throws {
        let original = try writeTrace()
        let offsets = try recordOffsets(original)
        func record(_ i: Int, _ b: [UInt8]) -> ArraySlice<UInt8> { b[offsets[i] ..< offsets[i + 1]] }
        let removed = try mutate(original) { $0.removeSubrange(offsets[4] ..< offsets[5]) }
        #expect(readError(removed)?.seq == 5)
        let repeated = try mutate(original) { b in b.insert(contentsOf: record(4, b), at: offsets[5]) }
        #expect(readError(repeated)?.seq == 6)
        let swapped = try mutate(original) { b in
            let (r4, r5) = (Array(record(4, b)), Array(record(5, b)))
            b.replaceSubrange(offsets[4] ..< offsets[6], with: r5 + r4)
        }
        #expect(readError(swapped)?.seq == 5)
        let cut = try mutate(original) { $0.removeSubrange(offsets[3] + 10 ..< offsets[8] + 10) }
        #expect(readError(cut)?.offset == offsets[3])
        let moved = try mutate(original) { b in
            let block = Array(b[offsets[2] ..< offsets[5]])
            b.removeSubrange(offsets[2] ..< offsets[5])
            b.insert(contentsOf: block, at: offsets[10] - block.count)
        }
        #expect(readError(moved)?.seq == 3)
    }

    /// Negative control for `.chain`: entries spliced in from another trace of the same entries
    /// (another trace ID) are caught at the first of them, and read clean with the check off.
    @Test("entries spliced from another trace are reported at the first of them, and its negative control")
    func splice() throws {
        let a = try writeTrace(traceID: 1), b = try writeTrace(traceID: 2)
        let offsets = try recordOffsets(a)
        let bBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: b)))
        let path = try mutate(a) { $0.replaceSubrange(offsets[8]..., with: bBytes[offsets[8]...]) }
        let error = try #require(readError(path))
        #expect(error.seq == 9 && error.offset == offsets[8] && error.problem.contains("does not belong here"))
        #expect(readError(path, checks: LogChecks.all.subtracting(.chain)) == nil)
    }
}
