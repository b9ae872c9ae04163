import Atomics
import ChannelMeasurement
import LogChannel
import Testing
import Topology

@Suite("LogChannel end to end")
struct LogChannelTests {
    /// Lamport's SPSC queue invariants under load (order, no loss, no corruption), through a
    /// ring small enough to wrap thousands of times, with frames of 1 to 8 slots.
    @Test("stress: entries of random sizes through a small ring, order and contents verified")
    func stress() throws {
        let count = longTests ? 20_000_000 : 500_000
        let channel = LogChannel(profile: .loopback, capacity: 64, wait: .spinThenYield(spins: 200))
        let primary = channel.openPrimaryEnd(), backup = channel.openBackupEnd()
        let sender = primary.log
        let producer = PinnedThread(cpu: nil) {
            var rng = SplitMix64(seed: 11)
            var payload = [UInt8](repeating: 0, count: 512)
            for seq in 0..<UInt64(count) {
                let length = Int(rng.next() % 400)
                for i in 0..<length { payload[i] = UInt8(truncatingIfNeeded: seq &* 31 &+ UInt64(i) &* 7) }
                let kind = LogEntryKind.allCases[Int(seq % UInt64(LogEntryKind.allCases.count))]
                try? payload.withUnsafeBytes { bytes in
                    try sender.append(LogEntryHeader(seq: seq, instructionCount: seq * 3, kind: kind),
                                      payload: UnsafeRawBufferPointer(rebasing: bytes[..<length]))
                }
                if rng.next() % 8 == 0 { sender.flush() }
            }
            sender.flush()
        }
        var expected: UInt64 = 0
        var rng = SplitMix64(seed: 11)
        var bad = 0
        while expected < UInt64(count) {
            _ = try backup.log.receive { entry in
                let length = Int(rng.next() % 400)
                _ = rng.next() % 8
                if entry.header.seq != expected || entry.header.instructionCount != expected * 3 || entry.payload.count != length {
                    bad += 1
                } else {
                    for i in 0..<length where entry.payload[i] != UInt8(truncatingIfNeeded: expected &* 31 &+ UInt64(i) &* 7) {
                        bad += 1
                        break
                    }
                }
                expected += 1
            }
        }
        producer.join()
        #expect(bad == 0)
        #expect(expected == UInt64(count))
        #expect(sender.entriesSent == UInt64(count))
    }

    @Test("closing wakes a consumer parked on an empty channel")
    func closeWakesConsumer() throws {
        let channel = LogChannel(profile: .loopback, capacity: 64, wait: .spinThenPark(spins: 100))
        let backup = channel.openBackupEnd()
        let finished = UnsafeAtomic<Bool>.create(false)
        defer { _ = finished.destroy() }
        let receiver = backup.log
        let consumer = PinnedThread(cpu: nil) {
            let result = try? receiver.receive { _ in }
            finished.store(result?.count == 0, ordering: .releasing)
        }
        sleepNanos(50_000_000)
        let finishedEarly = finished.load(ordering: .acquiring)
        #expect(!finishedEarly, "it waits while the channel is open and empty")
        channel.close()
        consumer.join()
        let finishedAfterClose = finished.load(ordering: .acquiring)
        #expect(finishedAfterClose, "receive returned an empty result after close")
    }

    @Test("closing wakes a producer blocked on a full ring, which counts the stall")
    func closeWakesProducer() throws {
        let channel = LogChannel(profile: .loopback, capacity: 16, wait: .spinThenPark(spins: 100))
        let primary = channel.openPrimaryEnd()
        let sender = primary.log
        let outcome = UnsafeAtomic<Int>.create(0)
        defer { _ = outcome.destroy() }
        let producer = PinnedThread(cpu: nil) {
            do throws(ChannelError) {
                for seq in 0..<UInt64(1_000) { try sender.append(.init(seq: seq, instructionCount: seq, kind: .progress)) }
                outcome.store(1, ordering: .releasing)
            } catch {
                outcome.store(error == .closed ? 2 : 3, ordering: .releasing)
            }
        }
        sleepNanos(50_000_000)
        let before = outcome.load(ordering: .acquiring)
        #expect(before == 0, "blocked: nobody consumes")
        channel.close()
        producer.join()
        let after = outcome.load(ordering: .acquiring)
        #expect(after == 2, "the append threw ChannelError.closed")
        #expect(sender.stalls.count >= 1)
        #expect(sender.stalls.nanos >= 40_000_000)
    }

    @Test("64 KiB DMA payloads span slots and are read in place, without copying")
    func largePayloads() throws {
        let channel = LogChannel(profile: .loopback, capacity: 4096)
        let primary = channel.openPrimaryEnd(), backup = channel.openBackupEnd()
        let big = pattern(seq: 5, length: 65_536)
        for seq in 0..<UInt64(5) {
            try big.withUnsafeBytes { try primary.log.append(.init(seq: seq, instructionCount: seq, kind: .dmaData), payload: $0) }
            primary.log.flush()
            var seen = 0
            _ = try backup.log.drain { entry in
                #expect(entry.payload.count == 65_536)
                #expect(Array(entry.payload) == big)
                let ring = channel.logRing
                #expect(ring.contains(entry.payload.baseAddress!), "the payload points into ring memory")
                seen += 1
            }
            #expect(seen == 1)
        }
        #expect(throws: ChannelError.frameTooLarge(bytes: 8 + 32 + 200_000, maximum: channel.logRing.maximumPayload)) {
            try [UInt8](repeating: 0, count: 200_000).withUnsafeBytes {
                try primary.log.append(.init(seq: 9, instructionCount: 9, kind: .dmaData), payload: $0)
            }
        }
    }

    @Test("the backup reads ahead: scanned entries are acknowledged before they are consumed")
    func scanAhead() throws {
        let channel = LogChannel(profile: .loopback, capacity: 64)
        let primary = channel.openPrimaryEnd(), backup = channel.openBackupEnd()
        for seq in 1...UInt64(5) { try primary.log.append(.init(seq: seq, instructionCount: seq, kind: .progress)) }
        primary.log.flush()
        #expect(try backup.log.peekScanned() == nil, "nothing scanned yet")
        var scanned: [UInt64] = []
        _ = try backup.log.scan { scanned.append($0.header.seq) }
        #expect(scanned == [1, 2, 3, 4, 5])
        _ = try backup.log.scan { scanned.append($0.header.seq) }
        #expect(scanned.count == 5, "a scan reads each entry once")
        var consumed: [UInt64] = []
        while let entry = try backup.log.peekScanned() {
            consumed.append(entry.header.seq)
            backup.log.consume()
        }
        backup.log.release()
        #expect(consumed == scanned)
    }

    @Test("ACKs travel back cumulatively")
    func acks() throws {
        let channel = LogChannel(profile: .loopback, capacity: 64)
        let primary = channel.openPrimaryEnd(), backup = channel.openBackupEnd()
        #expect(primary.acks.poll() == nil)
        try backup.acks.acknowledge(.init(received: 3, executed: 1))
        try backup.acks.acknowledge(.init(received: 9, executed: 2))
        #expect(primary.acks.poll() == .init(received: 9, executed: 2))
        #expect(primary.acks.poll() == nil)
    }

    /// The primary passes the clock reading it already took: entries are due one latency after
    /// it (not after the flush), and an ACK polled with a reading before its delivery time
    /// stays on the ring.
    @Test("a flush and a poll given a clock reading use it")
    func givenClockReadings() throws {
        let channel = LogChannel(profile: try ChannelProfile.parse("1ms"), capacity: 64)
        let primary = channel.openPrimaryEnd(), backup = channel.openBackupEnd()
        try primary.log.append(.init(seq: 1, instructionCount: 1, kind: .progress))
        primary.log.flush(sentAt: monotonicNanos() - 2_000_000)
        #expect(try backup.log.drain { _ in }.count == 1, "sent 2 ms ago over a 1 ms link: already due")

        let sentAt = monotonicNanos() + 60_000_000_000
        try primary.log.append(.init(seq: 2, instructionCount: 2, kind: .progress))
        primary.log.flush(sentAt: sentAt)
        let early = try backup.log.drain { _ in }
        #expect(early.count == 0)
        #expect(early.nextDue == sentAt + 1_000_000, "due one latency after the given reading")

        try backup.acks.acknowledge(.init(received: 2, executed: 1))
        var arrived = 0
        #expect(primary.acks.poll(counting: &arrived, now: monotonicNanos() - 1) == nil, "not due at an earlier reading")
        #expect(primary.acks.poll(counting: &arrived, now: monotonicNanos() + 2_000_000) == .init(received: 2, executed: 1))
        #expect(arrived == 1)
    }

    /// The emulated latency must be what the profile says: delivery delay p50 within 5%.
    @Test("emulated one-way latency is accurate", arguments: ["1ms", "5ms"])
    func latencyAccuracy(profile spec: String) throws {
        let profile = try ChannelProfile.parse(spec)
        let channel = LogChannel(profile: profile, capacity: 1024)
        let primary = channel.openPrimaryEnd(), backup = channel.openBackupEnd()
        let entries = 60
        let sender = primary.log
        let producer = PinnedThread(cpu: nil) {
            for seq in 0..<UInt64(entries) {
                try? sender.append(.init(seq: seq, instructionCount: seq, kind: .heartbeat), value: monotonicNanos())
                sender.flush()
                sleepNanos(profile.oneWayLatencyNanos / 4)
            }
        }
        var delays: [Double] = []
        while delays.count < entries {
            _ = try backup.log.receive { entry in
                delays.append(Double(monotonicNanos() - entry.value!))
            }
        }
        producer.join()
        let p50 = Percentiles(delays).p50
        let target = Double(profile.oneWayLatencyNanos)
        #expect(abs(p50 - target) <= 0.05 * target, "p50 \(p50) ns for a \(target) ns profile")
        #expect(delays.allSatisfy { $0 >= target }, "nothing arrives early")
    }

    @Test("bandwidth limits what the log carries")
    func bandwidthShape() throws {
        // 1000-byte payloads (1032 bytes on the wire) at 10 Mbit/s: ~826 µs each, back to back.
        let channel = LogChannel(profile: try ChannelProfile.parse("0ns,bw=10mbit"), capacity: 1024)
        let primary = channel.openPrimaryEnd(), backup = channel.openBackupEnd()
        let payload = [UInt8](repeating: 1, count: 1000)
        let start = monotonicNanos()
        for seq in 0..<UInt64(20) {
            try payload.withUnsafeBytes { try primary.log.append(.init(seq: seq, instructionCount: seq, kind: .dmaData), payload: $0) }
        }
        primary.log.flush()
        var received = 0
        while received < 20 { received += try backup.log.receive { _ in }.count }
        let elapsed = Double(monotonicNanos() - start)
        let expected = 20.0 * 1032 * 8 / 10e6 * 1e9
        #expect(elapsed >= expected)
        #expect(elapsed < expected * 1.25)
    }
}

extension RingBuffer {
    /// Whether `pointer` lies inside this ring's slots.
    func contains(_ pointer: UnsafeRawPointer) -> Bool {
        let base = UnsafeRawPointer(slotBase)
        return pointer >= base && pointer < base + capacity * RingBuffer.slotSize
    }
}
