import Replication
import Testing
import Topology

@Suite("Fault specs")
struct FaultTests {
    @Test("every kind parses, and prints back as it was given", arguments: [
        "primary-crash@1500ms", "backup-crash@icount:120000000", "partition@1s+200ms", "arbiter-partition@1s+200ms:primary",
        "arbiter-partition@2s+1s:backup", "latency-spike@300ms+100ms:5ms", "slow-backup@1s+500ms:0.25",
        "primary-crash@500ms..1500ms", "partition@icount:1000..2000+50ms",
    ])
    func roundTrip(spec: String) throws {
        #expect(try Fault.parse(spec).description == spec)
    }

    @Test("what each spec means")
    func meanings() throws {
        #expect(try Fault.parse("primary-crash@1.5s") == .crash(.primary, at: .elapsed(nanos: 1_500_000_000)))
        #expect(try Fault.parse("backup-crash@icount:7") == .crash(.backup, at: .instructions(7)))
        #expect(try Fault.parse("arbiter-partition@1s+2s:backup") == .arbiterPartition(at: .elapsed(nanos: 1_000_000_000), duration: 2_000_000_000, side: .b))
        #expect(try Fault.parse("latency-spike@icount:5+1ms:2ms") == .latencySpike(at: .instructions(5), duration: 1_000_000, extra: 2_000_000))
    }

    @Test("a bad spec is refused with the part that is wrong", arguments: [
        ("crash", "expected KIND@TIME"), ("meteor@1s", "unknown fault kind 'meteor'"), ("partition@1s", "partition needs a duration"),
        ("partition@1s+0ms", "duration '0ms' is not a positive duration"), ("primary-crash@1s+1s", "a crash has no duration"),
        ("primary-crash@soon", "time 'soon' is not a duration"), ("primary-crash@icount:0", "is not icount:N"),
        ("primary-crash@2s..1s", "time '2s..1s'"), ("slow-backup@1s+1s:0", "fraction '0' is not a number in (0, 1]"),
        ("slow-backup@1s+1s", "slow-backup needs :FRACTION"), ("arbiter-partition@1s+1s:both", "side 'both'"),
        ("latency-spike@1s+1s:20s", "latency '20s' is not a positive duration up to 10s"), ("partition@1s+1s:x", "partition takes no ':x'"),
    ])
    func refused(spec: String, expected: String) {
        #expect {
            _ = try Fault.parse(spec)
        } throws: { error in
            "\(error)".contains(expected) && "\(error)".hasPrefix("'\(spec)': ")
        }
    }

    @Test("a range draws a point inside it, the same for the same seed and round, and others for other rounds")
    func ranges() throws {
        let fault = try Fault.parse("primary-crash@500ms..1500ms")
        var seen = Set<String>()
        for round in 0..<20 {
            let drawn = Fault.draw([fault], seed: 3, round: round)[0]
            #expect(drawn == Fault.draw([fault], seed: 3, round: round)[0])
            guard case .crash(.primary, .elapsed(let t)) = drawn else { Issue.record("not a point: \(drawn)"); continue }
            #expect((500_000_000...1_500_000_000).contains(t) && t % 1_000_000 == 0)
            seen.insert(drawn.description)
        }
        #expect(seen.count > 10)
    }
}
