import Synchronization
import Topology

/// The network between the clients and the replicated server: the analogue of the virtual MAC
/// and IP address that the backup claims when it goes live (VMware FT, section 2.3). It outlives
/// either side, so clients do not notice which side serves them.
///
/// - Requests arrive on the client's open-loop schedule; only the side that owns the address
///   (the latest `claim`) takes them.
/// - The transport numbers requests. A request taken but not answered within `retryNanos` is
///   sent again (it may have died, unlogged, with a crashed primary), as TCP retransmits; replies
///   whose number was already answered are dropped (`duplicatesDropped`), so the application
///   above (the client's `receive`) sees each reply once.
/// - The network does not arbitrate: it accepts every reply, and notes which side and epoch sent
///   it, so that two live owners of one epoch are reported (`epochsWithTwoOwners`), never hidden.
///
/// Thread-safety: both sides (and, after a failover, the new primary) use it; its state is behind
/// one mutex, taken once per request taken and once per reply, never on the per-instruction or
/// per-log-entry path. An uncontended lock is two atomic read-modify-writes (tens of
/// nanoseconds); a request costs the guest microseconds. The per-side `history` arrays are
/// written by that side's thread only, without the lock, and read after both threads joined.
public final class ClientNetwork<Client: ClientLoad>: @unchecked Sendable {
    private let lock = Mutex(())
    private var client: Client
    public let retryNanos: UInt64
    /// `Sabotage.noClientDedup` / `.noClientResend`.
    private let dedup: Bool
    private let resend: Bool

    private var ownerSide = Side.a
    private var ownerEpoch: UInt64 = 1

    static var window: Int { requestWindow }
    private var mask: UInt64 { UInt64(Self.window - 1) }
    /// Per request slot (seq modulo the window): the seq answered there, when it was last sent,
    /// and who sent the accepted reply (side + 1, 0 for none) in which epoch.
    private let answeredSeq = ZeroedTable<UInt64>(count: requestWindow)
    private let sentAt = ZeroedTable<UInt64>(count: requestWindow)
    private let acceptedFrom = ZeroedTable<UInt8>(count: requestWindow)
    private let acceptedEpoch = ZeroedTable<UInt32>(count: requestWindow)
    /// Requests taken and not yet known to be answered, oldest first; and requests due again.
    private var taken: SeqQueue
    private var resends: SeqQueue

    /// Per side, the seq of every reply that side's guest produced (replayed as a backup or
    /// released as a primary), by slot: what each side's history contains.
    let history = [ZeroedTable<UInt64>(count: requestWindow), ZeroedTable<UInt64>(count: requestWindow)]

    // Counters (read after the run).
    public private(set) var retransmissions = 0
    public private(set) var duplicatesDropped = 0
    /// Replies from a side whose epoch is older than the owner's (released before it learnt).
    public private(set) var staleReplies = 0
    private var ownersByEpoch: [UInt64: Set<Side>] = [:]
    private var lastSender: (side: Side, epoch: UInt64)?
    private var sendersSeen = Set<Side>()
    /// Some side's history was inherited by state transfer.
    private var restoredFromAnother = false
    /// Gaps longer than `gapThreshold` between consecutive accepted replies: the outages.
    public private(set) var gaps: [(from: UInt64, to: UInt64)] = []
    private var lastAccepted: UInt64?
    static var gapThreshold: UInt64 { 1_000_000 }
    public let timeline: Timeline

    public init(client: Client, durationNanos: UInt64, retryNanos: UInt64, dedup: Bool = true, resend: Bool = true) {
        self.client = client
        self.retryNanos = retryNanos
        self.dedup = dedup
        self.resend = resend
        taken = SeqQueue(capacity: Self.window)
        resends = SeqQueue(capacity: Self.window)
        gaps.reserveCapacity(4_096)
        timeline = Timeline(durationNanos: durationNanos)
    }

    /// The client, once both sides have stopped.
    public var finalClient: Client { lock.withLock { _ in client } }

    /// A side that won the arbiter takes the address: requests go to it from now on.
    public func claim(by side: Side, epoch: UInt64) {
        lock.withLock { _ in
            ownerSide = side
            ownerEpoch = epoch
        }
    }

    /// When the owner's next request is due (a re-send is due at once), or nil if none waits or
    /// `side` does not own the address.
    public func nextRequestTime(for side: Side, epoch: UInt64) -> UInt64? {
        lock.withLock { _ in side == ownerSide && epoch == ownerEpoch ? nextDue() : nil }
    }

    /// The earliest of the next new request's intended time and the oldest unanswered request's
    /// retransmission time (0 if a re-send waits). Under the lock.
    private func nextDue() -> UInt64? {
        if resends.count > 0 { return 0 }
        var due = client.nextIntendedTime
        if resend, let oldest = taken.peek() { due = min(due ?? .max, sentAt[Int(oldest & mask)] + retryNanos) }
        return due
    }

    public enum Take {
        case taken(length: Int, seq: UInt64)
        /// Nothing for this side now; when to ask again (nil: not before something changes).
        case notYet(due: UInt64?)
    }

    /// The owner takes the next due request (a re-send first), copying it into `buffer`.
    public func takeRequest(for side: Side, epoch: UInt64, into buffer: UnsafeMutableRawBufferPointer, now: UInt64) -> Take {
        lock.withLock { _ -> Take in
            guard side == ownerSide, epoch == ownerEpoch else { return .notYet(due: nil) }
            expireTaken(now: now)
            let length: Int, seq: UInt64
            if let again = resends.pop() {
                seq = again
                length = client.request(seq: seq, into: buffer)
                retransmissions += 1
            } else {
                guard let due = client.nextIntendedTime, due <= now else { return .notYet(due: nextDue()) }
                (length, seq) = client.sendNext(into: buffer, now: now)
            }
            sentAt[Int(seq & mask)] = now
            taken.push(seq)
            return .taken(length: length, seq: seq)
        }
    }

    /// Moves requests taken more than `retryNanos` ago and still unanswered to the re-send
    /// queue; drops answered ones from the head. O(1) amortised.
    private func expireTaken(now: UInt64) {
        while let seq = taken.peek() {
            let slot = Int(seq & mask)
            if answeredSeq[slot] == seq {
                _ = taken.pop()
                continue
            }
            guard resend, now >= sentAt[slot] + retryNanos else { return }
            _ = taken.pop()
            resends.push(seq)
        }
    }

    /// A reply released by `side` (in `epoch`). The transport drops one already answered (unless
    /// sabotaged); the rest go to the application.
    public func deliver(_ reply: UnsafeRawBufferPointer, from side: Side, epoch: UInt64, now: UInt64) {
        let seq = Client.replySeq(reply)
        if let seq { history[side.rawValue][Int(seq & mask)] = seq }
        lock.withLock { _ in
            if lastSender?.side != side || lastSender?.epoch != epoch {
                ownersByEpoch[epoch, default: []].insert(side)
                sendersSeen.insert(side)
                lastSender = (side, epoch)
            }
            if epoch < ownerEpoch { staleReplies += 1 }
            if let seq {
                let slot = Int(seq & mask)
                if answeredSeq[slot] == seq, dedup {
                    duplicatesDropped += 1
                    return
                }
                answeredSeq[slot] = seq
                acceptedFrom[slot] = UInt8(side.rawValue + 1)
                acceptedEpoch[slot] = UInt32(truncatingIfNeeded: epoch)
            }
            let latency = client.receive(reply, now: now)
            if let last = lastAccepted, now > last, now - last >= Self.gapThreshold, gaps.count < gaps.capacity { gaps.append((last, now)) }
            lastAccepted = max(lastAccepted ?? 0, now)
            timeline.reply(at: now, latency: latency, epoch: epoch)
        }
    }

    /// A new backup restored by state transfer from `primary`: its guest reflects every output
    /// the primary's does, so its history becomes a copy of the primary's (replacing what an
    /// earlier life of that side left). The primary calls this after the backup acknowledged the
    /// transfer and before it logs anything more, so the backup's thread, which writes its history
    /// only on replaying what the primary logs next, comes after the copy (ordered by the log
    /// ring's release and acquire). 8 MiB, about a millisecond, with the guest stopped: harness
    /// bookkeeping that a real system has no need of, kept outside the measured pause.
    func inheritHistory(by side: Side, from primary: Side) {
        history[side.rawValue].copy(from: history[primary.rawValue])
        lock.withLock { _ in restoredFromAnother = true }
    }

    /// A backup replayed an output: it is part of `side`'s history (no lock: that side's thread
    /// alone writes its history).
    func noteReplayed(_ output: UnsafeRawBufferPointer, by side: Side) {
        if let seq = Client.replySeq(output) { history[side.rawValue][Int(seq & mask)] = seq }
    }

    func startMeasuring(now: UInt64) { lock.withLock { _ in client.startMeasuring(now: now) } }
    func stopMeasuring(now: UInt64) { lock.withLock { _ in client.stopMeasuring(now: now) } }
    func chargeUnanswered(now: UInt64) { lock.withLock { _ in client.chargeUnanswered(now: now) } }

    /// Epochs in which replies came from two different sides: two live owners at once.
    public var epochsWithTwoOwners: [UInt64] { lock.withLock { _ in ownersByEpoch.filter { $0.value.count > 1 }.keys.sorted() } }

    /// Requests first sent before `before` that no reply answered.
    public func unanswered(sentBefore before: UInt64) -> Int {
        lock.withLock { _ in
            var count = 0
            for queue in [taken, resends] {
                queue.forEach { seq in
                    let slot = Int(seq & mask)
                    if answeredSeq[slot] != seq, sentAt[slot] < before { count += 1 }
                }
            }
            return count
        }
    }

    /// Replies the client accepted that `survivor`'s history lacks: outputs the clients saw
    /// that the surviving replica's guest never produced (as a backup replaying, as a primary, or
    /// inherited by state transfer), so that the service as it goes on contradicts them (what
    /// the output rule prevents). Every accepted reply counts, the survivor side's own included:
    /// after repeated failovers an earlier life of that side may have sent some.
    public func outputsMissingFromHistory(of survivor: Side) -> Int {
        lock.withLock { _ in
            // With one side's one life ever sending, nothing can be missing (and walking 2^20
            // slots costs).
            guard sendersSeen.contains(survivor.other) || restoredFromAnother else { return 0 }
            var missing = 0
            let own = history[survivor.rawValue]
            for slot in 0..<Self.window where acceptedFrom[slot] != 0 && own[slot] != answeredSeq[slot] { missing += 1 }
            return missing
        }
    }
}

/// Request slots the network tracks: as many as a client may have outstanding.
private let requestWindow = 1 << 20

/// A fixed ring of sequence numbers (allocated once; push and pop allocate nothing). Used under
/// `ClientNetwork`'s lock.
struct SeqQueue {
    private let storage: ZeroedTable<UInt64>
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) { storage = ZeroedTable(count: capacity) }

    mutating func push(_ seq: UInt64) {
        if count == storage.count { _ = pop() }
        storage[(head + count) % storage.count] = seq
        count += 1
    }

    func peek() -> UInt64? { count > 0 ? storage[head] : nil }

    mutating func pop() -> UInt64? {
        guard count > 0 else { return nil }
        let seq = storage[head]
        head = (head + 1) % storage.count
        count -= 1
        return seq
    }

    func forEach(_ body: (UInt64) -> Void) {
        for i in 0..<count { body(storage[(head + i) % storage.count]) }
    }
}
