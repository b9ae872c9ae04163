import LogChannel
import Testing
import Topology

@Suite("RingBuffer")
struct RingBufferTests {
    @Test("empty, publish, read in place, release")
    func basics() {
        let ring = RingBuffer(capacity: 8)
        let producer = RingProducer(ring), consumer = RingConsumer(ring)
        #expect(consumer.peek() == nil)
        let frame = producer.tryReserve(payload: 8)!
        frame.storeBytes(of: UInt64(42), as: UInt64.self)
        #expect(consumer.peek() == nil, "nothing is visible before commit")
        producer.commit()
        let read = consumer.peek()!
        #expect(read.bytes.load(as: UInt64.self) == 42)
        consumer.advance(past: read)
        #expect(consumer.peek() == nil)
        consumer.release()
    }

    @Test("full: the producer gets no room until the consumer releases")
    func full() {
        let ring = RingBuffer(capacity: 4)
        let producer = RingProducer(ring), consumer = RingConsumer(ring)
        for i in 0..<4 { producer.tryReserve(payload: 56)!.storeBytes(of: UInt64(i), as: UInt64.self) }
        #expect(producer.tryReserve(payload: 1) == nil)
        producer.commit()
        let first = consumer.peek()!
        consumer.advance(past: first)
        #expect(producer.tryReserve(payload: 1) == nil, "advanced but not released: still full")
        consumer.release()
        #expect(producer.tryReserve(payload: 1) != nil)
    }

    @Test("frames never wrap: the producer pads to the end and the consumer skips the padding")
    func wrapAround() {
        let ring = RingBuffer(capacity: 8)
        let producer = RingProducer(ring), consumer = RingConsumer(ring)
        var expected: UInt64 = 0
        // 3-slot frames in an 8-slot ring: every third frame needs padding.
        for round in 0..<50 {
            let frame = producer.tryReserve(payload: 150)!
            #expect(frame.count >= 150)
            for i in 0..<150 { frame[i] = UInt8(truncatingIfNeeded: round + i) }
            producer.commit()
            let read = consumer.peek()!
            for i in 0..<150 where read.bytes[i] != UInt8(truncatingIfNeeded: round + i) {
                Issue.record("round \(round): byte \(i) differs")
                break
            }
            consumer.advance(past: read)
            consumer.release()
            expected += 1
        }
        #expect(expected == 50)
    }

    /// Regression: a scan that stops at a frame after padding (not yet due) leaves its cursor
    /// past the padding; `peekScanned` must not hand out that unscanned frame (main did, and the
    /// backup then read it twice).
    @Test("peekScanned stops before an unscanned frame that follows padding")
    func scanStopsAfterPadding() {
        let ring = RingBuffer(capacity: 8)
        let producer = RingProducer(ring), consumer = RingConsumer(ring)
        // Two 3-slot frames fill slots 0-5; the third needs padding (slots 6-7) and lands at 0.
        for _ in 0..<2 { _ = producer.tryReserve(payload: 150)! }
        producer.commit()
        for _ in 0..<2 {
            let frame = consumer.scan()!
            consumer.advanceScan(past: frame)
        }
        for _ in 0..<2 {
            let frame = consumer.peekScanned()!
            consumer.advance(past: frame)
        }
        consumer.release()
        _ = producer.tryReserve(payload: 150)!
        producer.commit()
        // The scan sees the frame after the padding but does not take it (as a delay line does
        // with a frame not yet due).
        #expect(consumer.scan() != nil)
        #expect(consumer.peekScanned() == nil, "the frame after the padding was never scanned")
        let frame = consumer.scan()!
        consumer.advanceScan(past: frame)
        #expect(consumer.peekScanned() != nil)
    }

    @Test("a frame larger than half the ring is refused with an error")
    func tooLarge() {
        let ring = RingBuffer(capacity: 8)
        #expect(throws: ChannelError.frameTooLarge(bytes: 300, maximum: ring.maximumPayload)) {
            _ = try RingProducer(ring).reserve(payload: 300)
        }
    }

    @Test("NUMA placement falls back where the node does not exist", arguments: [nil, 0, 99] as [Int?])
    func placement(node: Int?) {
        let ring = RingBuffer(capacity: 16, node: node)
        #expect(node == 99 ? ring.node == nil : true)
        let producer = RingProducer(ring), consumer = RingConsumer(ring)
        producer.tryReserve(payload: 8)!.storeBytes(of: UInt64(7), as: UInt64.self)
        producer.commit()
        #expect(consumer.peek()?.bytes.load(as: UInt64.self) == 7)
    }

    /// Each side of a ping-pong parks on every exchange (the sender pauses 100 µs first); every
    /// sleep must end by the other side's wake-up, not by the 10 ms safety timeout. A few
    /// timeouts are tolerated: a peer the host deschedules for 10 ms causes one legitimately.
    @Test("a parked side is woken by the other side's publish", arguments: [WakeFence.asymmetric, .full])
    func parkedSideIsWoken(fence: WakeFence) {
        let parking = pingPong(exchanges: 300, fence: fence)
        #expect(parking.parks >= 300, "the receiving side parked on every exchange")
        #expect(parking.timeouts <= 30, "\(parking.timeouts) of \(parking.parks) sleeps ended by the safety timeout")
    }

    /// Negative control for the test above, sabotaged with `WakeFence.neverWake` (a publish never
    /// wakes the parked peer): its sleeps end by the safety timeout, and the check sees it.
    @Test("negative control: a publisher that never wakes its parked peer is caught")
    func neverWakeIsCaught() {
        let parking = pingPong(exchanges: 30, fence: .neverWake)
        #expect(parking.timeouts >= 15, "only \(parking.timeouts) of \(parking.parks) sleeps timed out")
    }

    /// Sends `exchanges` numbers to a thread that echoes them back over a second ring, pausing
    /// before each, and returns both rings' park counters added up.
    private func pingPong(exchanges: Int, fence: WakeFence) -> (parks: UInt64, timeouts: UInt64) {
        let there = RingBuffer(capacity: 64, wait: .spinThenPark(spins: 10), fence: fence)
        let back = RingBuffer(capacity: 64, wait: .spinThenPark(spins: 10), fence: fence)
        let echo = PinnedThread(cpu: nil) {
            let input = RingConsumer(there), output = RingProducer(back)
            for _ in 0..<exchanges {
                guard let frame = input.next() else { return }
                let value = frame.bytes.load(as: UInt64.self)
                input.advance(past: frame)
                input.release()
                output.tryReserve(payload: 8)!.storeBytes(of: value, as: UInt64.self)
                output.commit()
            }
        }
        let output = RingProducer(there), input = RingConsumer(back)
        var wrong = 0
        for i in 0..<UInt64(exchanges) {
            sleepNanos(100_000)
            output.tryReserve(payload: 8)!.storeBytes(of: i, as: UInt64.self)
            output.commit()
            guard let frame = input.next() else { break }
            if frame.bytes.load(as: UInt64.self) != i { wrong += 1 }
            input.advance(past: frame)
            input.release()
        }
        echo.join()
        #expect(wrong == 0)
        return (there.parking.parks + back.parking.parks, there.parking.timeouts + back.parking.timeouts)
    }
}
