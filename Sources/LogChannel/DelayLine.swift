import Topology

/// The sending end of an emulated link over a `RingBuffer`.
///
/// Every frame starts with its delivery time (u64 nanoseconds of the monotonic clock). While a
/// frame is reserved that field holds its size on the wire; `flush()` reads the clock once,
/// computes each unpublished frame's delivery time with the `LinkModel`, writes it, and commits
/// all of them with one release store. With an immediate profile (loopback) no clock is read and
/// delivery times are 0.
///
/// Ownership: the sender's mutable state (link model, counters) lives in one allocation it owns
/// and frees in `deinit`, reached through a pointer so the hot path pays no exclusivity checks.
/// The allocation is 128-byte aligned and padded: its counters change on every message, so it
/// must not share a cache line with anything the consumer reads. Use from one thread only.
@usableFromInline final class DelayLineSender: @unchecked Sendable {
    @usableFromInline static let stampSize = 8

    @usableFromInline struct State {
        @usableFromInline var link: LinkModel?
        @usableFromInline var messages: UInt64 = 0
        @usableFromInline var wireBytes: UInt64 = 0
    }

    @usableFromInline let producer: RingProducer
    @usableFromInline let state: UnsafeMutablePointer<State>

    static let stateBytes = (MemoryLayout<State>.stride + 127) / 128 * 128

    init(_ producer: RingProducer, profile: ChannelProfile, seed: UInt64) {
        self.producer = producer
        state = UnsafeMutableRawPointer.allocate(byteCount: Self.stateBytes, alignment: 128).bindMemory(to: State.self, capacity: 1)
        state.initialize(to: State(link: profile.isImmediate ? nil : LinkModel(profile: profile, seed: seed)))
    }

    deinit {
        state.deinitialize(count: 1)
        UnsafeMutableRawPointer(state).deallocate()
    }

    /// Reserves a frame for a message of `wireBytes`, waiting while the ring is full.
    @inlinable @inline(__always)
    func reserve(wireBytes: Int) throws(ChannelError) -> UnsafeMutableRawPointer {
        let frame = try producer.reserve(payload: Self.stampSize + wireBytes)
        let base = frame.baseAddress!
        base.storeBytes(of: state.pointee.link == nil ? 0 : UInt64(wireBytes), as: UInt64.self)
        state.pointee.messages &+= 1
        state.pointee.wireBytes &+= UInt64(wireBytes)
        return base + Self.stampSize
    }

    /// Stamps the delivery time of every frame reserved since the last flush and publishes them.
    @inlinable @inline(__always)
    func flush() { flush(sentAt: state.pointee.link != nil ? monotonicNanos() : 0) }

    /// `flush()` with the frames sent at `now`, a clock reading the caller took before it
    /// reserved them (so that a caller which has just read the clock need not read it again).
    @inlinable @inline(__always)
    func flush(sentAt now: UInt64) {
        if state.pointee.link != nil { _ = stamp(sentAt: now) }
        producer.commit()
    }

    /// Like `flush()`, and returns a time at or before which nothing flushed can be received:
    /// the last frame's stamped delivery time, or, with an immediate profile, the clock read
    /// just before the commit that made the frames visible (a lower bound, so that an audit of
    /// the output rule built on it never blames a release that came after the delivery).
    func flushReportingDelivery() -> UInt64 {
        let delivery = state.pointee.link != nil ? stamp(sentAt: monotonicNanos()) : monotonicNanos()
        producer.commit()
        return delivery
    }

    /// Stamps each unpublished frame with its delivery time for a send at `now`; returns the
    /// latest.
    @usableFromInline @inline(never)
    func stamp(sentAt now: UInt64) -> UInt64 {
        var latest: UInt64 = 0
        var position = producer.unpublished.lowerBound
        let end = producer.unpublished.upperBound
        while position < end {
            let frame = producer.ring.frame(at: position)
            if !frame.isPadding {
                let stamp = frame.header + RingBuffer.frameHeaderSize
                let bytes = Int(stamp.load(as: UInt64.self))
                latest = state.pointee.link!.deliveryTime(sentAt: now, bytes: bytes)
                stamp.storeBytes(of: latest, as: UInt64.self)
            }
            position += UInt64(frame.slots)
        }
        return latest
    }
}

/// What a drain did.
public struct DrainResult: Equatable, Sendable {
    @inlinable init(count: Int, nextDue: UInt64?) {
        self.count = count
        self.nextDue = nextDue
    }

    /// Messages delivered.
    public var count: Int
    /// When the first message that is visible but not yet due becomes due, if there is one.
    public var nextDue: UInt64?
}

/// The receiving end of an emulated link: hands over frames in FIFO order once their delivery
/// time has come, reading the clock once per drain. Use from one thread only.
public struct DelayLineReceiver: @unchecked Sendable {
    @usableFromInline let consumer: RingConsumer
    @usableFromInline let immediate: Bool

    init(_ consumer: RingConsumer, profile: ChannelProfile) {
        self.consumer = consumer
        immediate = profile.isImmediate
    }

    /// Delivers up to `limit` due messages to `body` (each valid only during its call), then
    /// frees them all with one release store. Does not wait.
    /// `delay` as for `scan`.
    @inlinable @inline(__always)
    func drain(limit: Int, delay: UInt64 = 0, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows -> DrainResult {
        try drain(limit: limit, horizon: horizon(delay: delay), delay: delay, body)
    }

    /// `drain` of the messages due by `now` less `delay` (the caller's clock reading).
    @inlinable @inline(__always)
    func drain(limit: Int, now: UInt64, delay: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows -> DrainResult {
        try drain(limit: limit, horizon: Self.horizon(now: now, delay: delay), delay: delay, body)
    }

    /// The drain itself: messages due at or before `horizon`.
    @inlinable @inline(__always)
    func drain(limit: Int, horizon: UInt64, delay: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows -> DrainResult {
        var count = 0
        var nextDue: UInt64?
        defer { if count > 0 { consumer.release() } }
        while count < limit, let frame = consumer.peek() {
            let due = frame.bytes.load(as: UInt64.self)
            if due > horizon {
                nextDue = Self.arrival(due, delay: delay)
                break
            }
            try body(UnsafeRawBufferPointer(rebasing: frame.bytes[DelayLineSender.stampSize...]))
            consumer.advance(past: frame)
            count += 1
        }
        return DrainResult(count: count, nextDue: nextDue)
    }

    /// Hands every due message after the look-ahead cursor to `body` and moves the cursor past
    /// them, without consuming (see `RingConsumer.scan`). Reads the clock once, and only if
    /// something new is visible: the backup calls this before every entry it replays.
    ///
    /// `delay` holds back every message until `delay` after its delivery time (an injected
    /// latency spike; `.max` cuts the link): 0 outside a fault, which costs one comparison.
    @inlinable @inline(__always)
    func scan(delay: UInt64 = 0, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows -> DrainResult {
        guard consumer.scan() != nil else { return DrainResult(count: 0, nextDue: nil) }
        let horizon = horizon(delay: delay)
        var count = 0
        while let frame = consumer.scan() {
            let due = frame.bytes.load(as: UInt64.self)
            if due > horizon { return DrainResult(count: count, nextDue: Self.arrival(due, delay: delay)) }
            try body(UnsafeRawBufferPointer(rebasing: frame.bytes[DelayLineSender.stampSize...]))
            consumer.advanceScan(past: frame)
            count += 1
        }
        return DrainResult(count: count, nextDue: nil)
    }

    /// Messages due at or before this time may be handed over: now, less `delay` (the clock is
    /// not read for an immediate link without a fault).
    @inlinable @inline(__always)
    func horizon(delay: UInt64) -> UInt64 {
        Self.horizon(now: immediate && delay == 0 ? 0 : monotonicNanos(), delay: delay)
    }

    @inlinable @inline(__always)
    static func horizon(now: UInt64, delay: UInt64) -> UInt64 { now > delay ? now - delay : 0 }

    /// When a message due at `due` arrives, held back `delay` (nil: never, the link is cut).
    @inlinable @inline(__always)
    static func arrival(_ due: UInt64, delay: UInt64) -> UInt64? { delay == .max ? nil : due + delay }

    /// The next scanned message, not consumed.
    @inlinable @inline(__always)
    func peekScanned() -> (bytes: UnsafeRawBufferPointer, frame: RingConsumer.Frame)? {
        guard let frame = consumer.peekScanned() else { return nil }
        return (UnsafeRawBufferPointer(rebasing: frame.bytes[DelayLineSender.stampSize...]), frame)
    }

    /// Waits until something new is visible after the look-ahead cursor, the ring is closed, or
    /// `deadline` passes (with a deadline it spins and yields instead of parking, since a
    /// parked thread wakes only when the other side publishes).
    func waitForMore(until deadline: UInt64?) {
        if consumer.scan() != nil { return }
        consumer.release()
        if let deadline {
            while consumer.scan() == nil, !consumer.ring.isClosed, monotonicNanos() < deadline { yieldCPU() }
        } else {
            _ = consumer.ring.waitUntil(parked: consumer.ring.consumerParked, word: consumer.ring.consumerParkedWord,
                                                 counts: consumer.ring.consumerParking) {
                consumer.scan() != nil
            }
        }
    }

    /// Waits until a message is due (per the ring's wait strategy while nothing is visible, then
    /// by sleeping and spinning to its delivery time), then drains. Returns a count of 0 only
    /// when the channel is closed and empty.
    func receive(limit: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows -> DrainResult {
        while true {
            let result = try drain(limit: limit, body)
            if result.count > 0 { return result }
            if let due = result.nextDue {
                waitUntil(due)
                continue
            }
            guard consumer.next() != nil else { return result }
        }
    }
}
