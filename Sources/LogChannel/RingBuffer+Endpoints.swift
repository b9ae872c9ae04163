import Atomics
import CPlatform
import Topology

/// The producing end of a `RingBuffer`. Use it from one thread only.
///
/// Batching: `tryReserve`/`reserve` any number of frames, fill them, then `commit()` publishes
/// them all with one release store of `tail`.
public struct RingProducer: @unchecked Sendable {
    public let ring: RingBuffer

    public init(_ ring: RingBuffer) { self.ring = ring }

    /// Slots a frame with `payload` bytes occupies.
    @inlinable @inline(__always)
    static func slots(forPayload payload: Int) -> Int {
        (payload + RingBuffer.frameHeaderSize + RingBuffer.slotSize - 1) / RingBuffer.slotSize
    }

    /// Reserves a contiguous frame for `payload` bytes, or returns nil if the ring has no room
    /// now. The returned buffer (at least `payload` bytes) is the producer's until `commit`.
    /// `payload` must be at most `ring.maximumPayload` (`reserve` checks it).
    @inlinable @inline(__always)
    public func tryReserve(payload: Int) -> UnsafeMutableRawBufferPointer? {
        let ring = self.ring
        let needed = Self.slots(forPayload: payload)
        precondition(needed <= ring.capacity / 2, "frame of \(payload) bytes exceeds the ring's maximum of \(ring.maximumPayload)")
        let state = ring.producerState
        let start = state.pointee.reserved
        let offset = Int(truncatingIfNeeded: start) & ring.mask
        let toEnd = ring.capacity - offset
        // A frame never wraps: if it does not fit before the end, pad to the end first.
        let total = needed <= toEnd ? needed : toEnd + needed
        if start &+ UInt64(total) &- state.pointee.cachedHead > UInt64(ring.capacity) {
            state.pointee.cachedHead = ring.head.load(ordering: .acquiring)
            if start &+ UInt64(total) &- state.pointee.cachedHead > UInt64(ring.capacity) { return nil }
        }
        var frameStart = offset
        if needed > toEnd {
            Self.writeHeader(ring.slots + offset * RingBuffer.slotSize, slots: toEnd, flags: RingBuffer.paddingFlag)
            frameStart = 0
        }
        let frame = ring.slots + frameStart * RingBuffer.slotSize
        Self.writeHeader(frame, slots: needed, flags: 0)
        state.pointee.reserved = start &+ UInt64(total)
        return UnsafeMutableRawBufferPointer(
            start: frame + RingBuffer.frameHeaderSize, count: needed * RingBuffer.slotSize - RingBuffer.frameHeaderSize)
    }

    /// Reserves a frame, waiting (per the ring's strategy) while the ring is full; the time spent
    /// waiting is added to the producer's stall counters. Throws if the ring is closed or the
    /// frame is larger than `ring.maximumPayload`.
    @inlinable @inline(__always)
    public func reserve(payload: Int) throws(ChannelError) -> UnsafeMutableRawBufferPointer {
        if ring.isClosed { throw .closed }
        guard payload <= ring.maximumPayload else { throw .frameTooLarge(bytes: payload, maximum: ring.maximumPayload) }
        if let frame = tryReserve(payload: payload) { return frame }
        return try reserveSlowly(payload: payload)
    }

    /// The ring is full: wait until a quarter of it is free, not just one frame's worth, so that a
    /// producer faster than its consumer does not refill and publish one freed slot at a time
    /// (moving each slot's cache line between the cores on its own). Measured on this machine it
    /// neither helped nor hurt (LogChannelBenchmarks, within noise); it bounds the worst case.
    @usableFromInline @inline(never)
    func reserveSlowly(payload: Int) throws(ChannelError) -> UnsafeMutableRawBufferPointer {
        // Anything reserved but not yet committed must become visible, or a consumer waiting
        // for it could never free the space this reservation needs.
        commit()
        let started = monotonicNanos()
        let ring = self.ring
        let state = ring.producerState
        let wanted = UInt64(max(2 * Self.slots(forPayload: payload), ring.capacity / 4))
        _ = ring.waitUntil(parked: ring.producerParked, word: ring.producerParkedWord, counts: ring.producerParking) {
            state.pointee.cachedHead = ring.head.load(ordering: .acquiring)
            return UInt64(ring.capacity) &- (state.pointee.reserved &- state.pointee.cachedHead) >= wanted
        }
        state.pointee.stallNanos &+= monotonicNanos() &- started
        state.pointee.stalls &+= 1
        guard !ring.isClosed, let frame = tryReserve(payload: payload) else { throw .closed }
        return frame
    }

    /// Whether `slots` slots are free. Reads the consumer's position (acquiring, as
    /// `reserveSlowly` does) only when the cached one says they are not.
    @inlinable @inline(__always)
    public func hasRoom(slots: Int) -> Bool {
        let state = ring.producerState
        if UInt64(ring.capacity) &- (state.pointee.reserved &- state.pointee.cachedHead) >= UInt64(slots) { return true }
        state.pointee.cachedHead = ring.head.load(ordering: .acquiring)
        return UInt64(ring.capacity) &- (state.pointee.reserved &- state.pointee.cachedHead) >= UInt64(slots)
    }

    /// Publishes every frame reserved since the last commit, with one release store.
    @inlinable @inline(__always)
    public func commit() {
        let state = ring.producerState
        state.pointee.published = state.pointee.reserved
        ring.tail.store(state.pointee.reserved, ordering: .releasing)
        ring.wakeIfParked(ring.consumerParked, word: ring.consumerParkedWord)
    }

    /// Asks for the slot where the next frame will start in a writable state, without waiting
    /// for it. A consumer that keeps up reads each frame as soon as it is published, and its
    /// core's prefetchers pull the lines after it too, so the producer's next store to the ring
    /// would otherwise wait for that line to come back across the cores. Issued just after a
    /// commit, the line is pulled away again before it is used; issue it a little ahead of the
    /// next `reserve` (docs/LOGCHANNEL.md, "Publishing without a fence").
    @inlinable @inline(__always)
    public func prefetchNextFrame() {
        ftb_prefetch_for_write(ring.slots + (Int(truncatingIfNeeded: ring.producerState.pointee.reserved) & ring.mask) * RingBuffer.slotSize)
    }

    /// Frames reserved but not yet committed start at this slot index (for rewriting them
    /// before `commit`, as the channel does with delivery times).
    var unpublished: Range<UInt64> { ring.producerState.pointee.published..<ring.producerState.pointee.reserved }

    @inlinable @inline(__always)
    static func writeHeader(_ frame: UnsafeMutableRawPointer, slots: Int, flags: UInt32) {
        frame.storeBytes(of: UInt32(truncatingIfNeeded: slots), as: UInt32.self)
        frame.storeBytes(of: flags, toByteOffset: 4, as: UInt32.self)
    }
}

/// The consuming end of a `RingBuffer`. Use it from one thread only.
///
/// Batching: `peek`/`advance` over as many frames as are visible, reading each in place, then
/// `release()` frees them all with one release store of `head`.
public struct RingConsumer: @unchecked Sendable {
    public let ring: RingBuffer

    public init(_ ring: RingBuffer) { self.ring = ring }

    /// A published frame, read in place.
    public struct Frame {
        /// The frame's payload area (its full slots, less the frame header).
        public let bytes: UnsafeRawBufferPointer
        @usableFromInline let slots: Int

        @inlinable init(bytes: UnsafeRawBufferPointer, slots: Int) {
            self.bytes = bytes
            self.slots = slots
        }
    }

    /// The next published frame, or nil if none is visible.
    @inlinable @inline(__always)
    public func peek() -> Frame? {
        nextFrame(at: &ring.consumerState.pointee.position)
    }

    /// The next published frame after the look-ahead cursor, or nil if none is visible. Scanning
    /// does not consume: `peekScanned` and `advance` still go through every frame in order.
    @inlinable @inline(__always)
    public func scan() -> Frame? {
        let state = ring.consumerState
        if state.pointee.scanPosition < state.pointee.position { state.pointee.scanPosition = state.pointee.position }
        return nextFrame(at: &state.pointee.scanPosition)
    }

    /// Moves the look-ahead cursor past `frame` (the one `scan` returned).
    @inlinable @inline(__always)
    public func advanceScan(past frame: Frame) {
        ring.consumerState.pointee.scanPosition &+= UInt64(frame.slots)
    }

    /// The next frame to consume if the look-ahead cursor has passed it, else nil.
    ///
    /// The cursor may stand past a padding frame but before the frame after it (a scan found
    /// that frame not yet due): padding is skipped only if the frame beyond was scanned. Main
    /// skipped it regardless and handed out that unscanned frame, which `advance` then could
    /// not move past, so the backup read it twice (seen with 4 KiB state-transfer entries on a
    /// bandwidth-limited link, where consecutive frames fall due at different times).
    @inlinable @inline(__always)
    public func peekScanned() -> Frame? {
        let state = ring.consumerState
        guard state.pointee.position < state.pointee.scanPosition else { return nil }
        var position = state.pointee.position
        guard let frame = nextFrame(at: &position), position < state.pointee.scanPosition else { return nil }
        state.pointee.position = position
        return frame
    }

    /// Moves past the frame `peekScanned` returned: it left the read position at that frame's
    /// header (past any padding), so this reads the header's slot count, in this core's cache,
    /// without looking at the ring's tail again. Does nothing if no scanned frame is there.
    @inlinable @inline(__always)
    public func advanceScanned() {
        let state = ring.consumerState
        guard state.pointee.position < state.pointee.scanPosition else { return }
        let frame = ring.frame(at: state.pointee.position)
        guard !frame.isPadding else {
            if let next = peekScanned() { advance(past: next) }
            return
        }
        state.pointee.position &+= UInt64(frame.slots)
    }

    /// The frame at `position` (skipping padding, which moves `position`), if published.
    @inlinable @inline(__always)
    func nextFrame(at position: inout UInt64) -> Frame? {
        let ring = self.ring
        let state = ring.consumerState
        while true {
            if position == state.pointee.cachedTail {
                state.pointee.cachedTail = ring.tail.load(ordering: .acquiring)
                if position == state.pointee.cachedTail { return nil }
            }
            let frame = ring.frame(at: position)
            if frame.isPadding {
                position &+= UInt64(frame.slots)
                continue
            }
            return Frame(
                bytes: UnsafeRawBufferPointer(start: frame.header + RingBuffer.frameHeaderSize,
                                              count: frame.slots * RingBuffer.slotSize - RingBuffer.frameHeaderSize),
                slots: frame.slots)
        }
    }

    /// Waits (per the ring's strategy) for a frame; nil once the ring is closed and drained.
    public func next() -> Frame? {
        if let frame = peek() { return frame }
        var frame: Frame?
        release()
        _ = ring.waitUntil(parked: ring.consumerParked, word: ring.consumerParkedWord, counts: ring.consumerParking) {
            frame = peek()
            return frame != nil
        }
        return frame
    }

    /// Moves past `frame` (the one `peek` returned). Its slots stay untouched until `release`.
    @inlinable @inline(__always)
    public func advance(past frame: Frame) {
        ring.consumerState.pointee.position &+= UInt64(frame.slots)
    }

    /// Frees every frame advanced past since the last release, with one release store.
    @inlinable @inline(__always)
    public func release() {
        ring.head.store(ring.consumerState.pointee.position, ordering: .releasing)
        ring.wakeIfParked(ring.producerParked, word: ring.producerParkedWord)
    }
}
