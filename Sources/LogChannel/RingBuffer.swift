import Atomics
import Topology

/// How a side of the ring waits when it cannot proceed (producer: ring full; consumer: empty).
public enum WaitStrategy: Sendable, Equatable {
    /// Spin forever: lowest latency, burns a core while idle. For benchmarks on quiet machines.
    case spin
    /// Spin `spins` times, then yield the CPU between checks.
    case spinThenYield(spins: Int)
    /// Spin `spins` times, then sleep on a futex until the other side publishes (or 10 ms pass).
    /// The default: an idle side costs nothing, which matters on a 2-core machine.
    case spinThenPark(spins: Int)

    public static let `default` = WaitStrategy.spinThenPark(spins: 20_000)
}

/// How a side that publishes makes sure a parked peer (`.spinThenPark`) sees the publish.
public enum WakeFence: Sendable, Equatable {
    /// The sleeper pays membarrier(2) before it parks; the publisher only keeps the compiler
    /// from reordering (`AsymmetricFence`). Where the kernel lacks membarrier: as `.full`.
    case asymmetric
    /// A sequentially consistent fence on every publish.
    case full
    /// Test-only sabotage: the publisher never wakes a parked peer, which sleeps until its
    /// 10 ms safety timeout (the negative control of the wake-up tests, which count `parking`).
    case neverWake
}

/// Why a frame could not be sent.
public enum ChannelError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The channel was closed (or poisoned after a failure): nothing more is sent or taken.
    case closed
    /// The frame is larger than half the ring, the most one frame may use.
    case frameTooLarge(bytes: Int, maximum: Int)

    public var description: String {
        switch self {
        case .closed: "the channel is closed"
        case .frameTooLarge(let bytes, let maximum): "a \(bytes)-byte frame exceeds the ring's maximum of \(maximum) bytes"
        }
    }
}

/// A lock-free single-producer/single-consumer ring of 64-byte slots, carrying variable-size
/// frames that are always contiguous in memory (so the consumer reads them in place).
///
/// Memory: one allocation, on a chosen NUMA node where there is one, made once. A control block
/// comes first, with every field that one side writes on its own 128-byte stretch (two cache
/// lines, because the adjacent-line prefetcher pulls lines in pairs):
///
/// | offset | field | written by | read by |
/// | --- | --- | --- | --- |
/// | 0 | `tail`: slots published | producer (release) | consumer (acquire) |
/// | 128 | producer's private state: reserved tail, cached head, stall time | producer | producer |
/// | 256 | `head`: slots consumed | consumer (release) | producer (acquire) |
/// | 384 | consumer's private state: read position, cached tail | consumer | consumer |
/// | 512 | `closed` | either (release) | both (acquire) |
/// | 640 | consumer's futex word (1 while parked) | consumer, producer | both |
/// | 768 | producer's futex word (1 while parked) | producer, consumer | both |
///
/// Contract: a frame's bytes are written before the `tail` release-store that publishes it, and
/// read after the consumer's `tail` acquire-load that observes it; the consumer's `head`
/// release-store happens after it has finished reading the frames it frees, and the producer
/// reuses them only after an acquire-load of `head` observes it. Neither side ever reads back
/// the index it publishes (measured here: that raised a round trip from ~180 to ~270 ns); each
/// keeps a private copy of its own index and a cached copy of the other's, refreshed only when
/// the cached value says the ring is full (producer) or empty (consumer).
///
/// Parking (with `.spinThenPark`) is Dekker's pattern: the sleeper stores 1 to its futex word and
/// re-reads the index before it sleeps; the waker publishes and wakes the sleeper if its word is
/// 1. One of the two always sees the other, so a wake-up is never lost. The store-then-load fence
/// each side needs is asymmetric (`AsymmetricFence`): the sleeper, which parks only after spinning
/// idle, pays membarrier(2); the waker, on every publish, pays only a compiler barrier, so that
/// a publish leaves nothing waiting for the ring's lines to reach the other core (a full fence
/// there held the primary until its stores to the ring had left: docs/LOGCHANNEL.md, "Publishing
/// without a fence"). Where the kernel lacks membarrier, the waker issues a sequentially
/// consistent fence as before. Spinning strategies need neither.
public final class RingBuffer: @unchecked Sendable {
    public static let slotSize = 64
    /// Bytes at the start of every frame: slot count (u32) and flags (u32).
    public static let frameHeaderSize = 8
    static let controlSize = 1024
    @usableFromInline static let paddingFlag: UInt32 = 1

    public let capacity: Int
    @usableFromInline let mask: Int
    public let wait: WaitStrategy
    /// Parking pays the heavy half of an `AsymmetricFence` and publishing the light half; false:
    /// publishing issues a full fence (`WakeFence`).
    @usableFromInline let asymmetricParking: Bool
    /// False only under the `.neverWake` sabotage.
    @usableFromInline let wakesParked: Bool
    let memory: NodeLocalMemory
    @usableFromInline let slots: UnsafeMutableRawPointer

    @usableFromInline let tail: UnsafeAtomic<UInt64>
    @usableFromInline let head: UnsafeAtomic<UInt64>
    @usableFromInline let closedFlag: UnsafeAtomic<UInt32>
    @usableFromInline let consumerParked: UnsafeAtomic<UInt32>
    @usableFromInline let producerParked: UnsafeAtomic<UInt32>
    /// The same words as plain pointers, for the futex system call.
    @usableFromInline let consumerParkedWord: UnsafeMutablePointer<UInt32>
    @usableFromInline let producerParkedWord: UnsafeMutablePointer<UInt32>
    @usableFromInline let producerState: UnsafeMutablePointer<ProducerState>
    @usableFromInline let consumerState: UnsafeMutablePointer<ConsumerState>

    @usableFromInline struct ProducerState {
        /// End of the reserved frames; `tail` lags it until `commit`.
        @usableFromInline var reserved: UInt64 = 0
        /// What the last `commit` published (the producer's private copy of `tail`).
        @usableFromInline var published: UInt64 = 0
        @usableFromInline var cachedHead: UInt64 = 0
        var stallNanos: UInt64 = 0
        var stalls: UInt64 = 0
        var parking = ParkCounts()
    }

    @usableFromInline struct ConsumerState {
        @usableFromInline var position: UInt64 = 0
        @usableFromInline var cachedTail: UInt64 = 0
        /// A look-ahead cursor (>= position) for reading frames before consuming them.
        @usableFromInline var scanPosition: UInt64 = 0
        var parking = ParkCounts()
    }

    /// How often a side parked, and how many of those sleeps ended by the safety timeout.
    @usableFromInline struct ParkCounts {
        var parks: UInt64 = 0
        var timeouts: UInt64 = 0
    }

    /// - Parameters:
    ///   - capacity: slots, a power of two of at least 4; a frame may use at most half of them.
    ///   - node: NUMA node for the ring's memory (nil, or a node that does not exist: anywhere).
    ///   - fence: how a publish is made visible to a parked peer (tests compare the kinds).
    public init(capacity: Int, node: Int? = nil, wait: WaitStrategy = .default, fence: WakeFence = .asymmetric) {
        precondition(capacity >= 4 && capacity & (capacity - 1) == 0, "ring capacity must be a power of two >= 4")
        self.capacity = capacity
        mask = capacity - 1
        self.wait = wait
        asymmetricParking = fence != .full && AsymmetricFence.isAvailable
        wakesParked = fence != .neverWake
        memory = NodeLocalMemory(size: Self.controlSize + capacity * Self.slotSize, node: node)
        let control = memory.base
        slots = control + Self.controlSize
        func atomic64(_ offset: Int) -> UnsafeAtomic<UInt64> {
            let p = (control + offset).bindMemory(to: UInt64.AtomicRepresentation.self, capacity: 1)
            p.initialize(to: .init(0))
            return UnsafeAtomic(at: p)
        }
        func atomic32(_ offset: Int) -> UnsafeAtomic<UInt32> {
            let p = (control + offset).bindMemory(to: UInt32.AtomicRepresentation.self, capacity: 1)
            p.initialize(to: .init(0))
            return UnsafeAtomic(at: p)
        }
        tail = atomic64(0)
        head = atomic64(256)
        closedFlag = atomic32(512)
        consumerParked = atomic32(640)
        producerParked = atomic32(768)
        // UInt32.AtomicRepresentation is a plain 32-bit word: the futex sees the same memory.
        consumerParkedWord = (control + 640).assumingMemoryBound(to: UInt32.self)
        producerParkedWord = (control + 768).assumingMemoryBound(to: UInt32.self)
        producerState = (control + 128).bindMemory(to: ProducerState.self, capacity: 1)
        producerState.initialize(to: ProducerState())
        consumerState = (control + 384).bindMemory(to: ConsumerState.self, capacity: 1)
        consumerState.initialize(to: ConsumerState())
    }

    /// The frame whose header is at slot index `position`: its address, slot count and whether
    /// it is padding. The header layout is written by `RingProducer.writeHeader`.
    @inlinable @inline(__always)
    func frame(at position: UInt64) -> (header: UnsafeMutableRawPointer, slots: Int, isPadding: Bool) {
        let frame = slots + (Int(truncatingIfNeeded: position) & mask) * Self.slotSize
        return (frame, Int(frame.load(as: UInt32.self)), frame.load(fromByteOffset: 4, as: UInt32.self) & Self.paddingFlag != 0)
    }

    /// Where the slots start (for checking that a view points into the ring).
    public var slotBase: UnsafeRawPointer { UnsafeRawPointer(slots) }

    /// The NUMA node the ring's memory is on, or nil if it was placed without NUMA support.
    public var node: Int? { memory.node }

    /// Largest payload one frame can carry.
    @inlinable public var maximumPayload: Int { capacity / 2 * Self.slotSize - Self.frameHeaderSize }

    /// Closes (poisons) the ring: both sides stop waiting and see `ChannelError.closed`; frames already
    /// published can still be read.
    public func close() {
        closedFlag.store(1, ordering: .releasing)
        consumerParked.store(0, ordering: .sequentiallyConsistent)
        producerParked.store(0, ordering: .sequentiallyConsistent)
        Futex.wake(consumerParkedWord)
        Futex.wake(producerParkedWord)
    }

    @inlinable public var isClosed: Bool { closedFlag.load(ordering: .acquiring) == 1 }

    /// Waits per the strategy until `ready()` (which re-reads the other side's index) or the ring
    /// is closed; `parked`/`word` is this side's futex word, `counts` its park counters. Returns
    /// false if closed first.
    @usableFromInline @inline(never)
    func waitUntil(parked: UnsafeAtomic<UInt32>, word: UnsafeMutablePointer<UInt32>, counts: UnsafeMutablePointer<ParkCounts>,
                   _ ready: () -> Bool) -> Bool {
        var spins = 0
        while true {
            if ready() { return true }
            if isClosed { return ready() }
            switch wait {
            case .spin:
                cpuRelax()
            case .spinThenYield(let limit):
                if spins < limit { spins += 1; cpuRelax() } else { yieldCPU() }
            case .spinThenPark(let limit):
                if spins < limit {
                    spins += 1
                    cpuRelax()
                } else {
                    parked.store(1, ordering: .sequentiallyConsistent)
                    // Without the barrier the sleeper cannot know the waker will see its word:
                    // it goes on spinning, politely.
                    if asymmetricParking, !AsymmetricFence.heavy() {
                        parked.store(0, ordering: .relaxed)
                        yieldCPU()
                        continue
                    }
                    if ready() || isClosed {
                        parked.store(0, ordering: .relaxed)
                        continue
                    }
                    // The timeout is a safety net only; wake-ups come from the other side.
                    counts.pointee.parks &+= 1
                    if Futex.wait(word, expected: 1, timeoutNanos: 10_000_000) { counts.pointee.timeouts &+= 1 }
                    parked.store(0, ordering: .relaxed)
                }
            }
        }
    }

    /// After publishing: wake the other side if it is parked (only parking strategies check).
    @inlinable @inline(__always)
    func wakeIfParked(_ parked: UnsafeAtomic<UInt32>, word: UnsafeMutablePointer<UInt32>) {
        guard case .spinThenPark = wait else { return }
        if asymmetricParking { AsymmetricFence.light() } else { atomicMemoryFence(ordering: .sequentiallyConsistent) }
        if parked.load(ordering: .relaxed) == 1, wakesParked {
            parked.store(0, ordering: .relaxed)
            Futex.wake(word)
        }
    }

    /// Producer-side statistics. Read them on the producer's thread or after it has stopped.
    public var producerStalls: (count: UInt64, nanos: UInt64) {
        (producerState.pointee.stalls, producerState.pointee.stallNanos)
    }

    /// Times each side parked (`.spinThenPark`), and how many of those sleeps ended by the 10 ms
    /// safety timeout rather than a wake-up from the other side (a lost wake-up, or a peer that
    /// published nothing for 10 ms). Read after both sides have stopped.
    public var parking: (parks: UInt64, timeouts: UInt64) {
        let producer = producerState.pointee.parking, consumer = consumerState.pointee.parking
        return (producer.parks &+ consumer.parks, producer.timeouts &+ consumer.timeouts)
    }

    /// Each side's park counters, for `waitUntil` (inside its private state).
    @usableFromInline var producerParking: UnsafeMutablePointer<ParkCounts> {
        (UnsafeMutableRawPointer(producerState) + MemoryLayout<ProducerState>.offset(of: \.parking)!).assumingMemoryBound(to: ParkCounts.self)
    }

    @usableFromInline var consumerParking: UnsafeMutablePointer<ParkCounts> {
        (UnsafeMutableRawPointer(consumerState) + MemoryLayout<ConsumerState>.offset(of: \.parking)!).assumingMemoryBound(to: ParkCounts.self)
    }
}
