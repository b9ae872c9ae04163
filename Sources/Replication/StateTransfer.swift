import GuestVM
import LogChannel
import Topology

/// Restoring redundancy, the primary's half (as FT VMotion does it): a primary without a backup
/// copies its machine to a new backup through a fresh log channel, under the channel's latency and
/// bandwidth, while its guest keeps running.
///
/// Pre-copy: round 1 sends every page of guest memory; each later round sends the pages the guest
/// (or a device) wrote while the previous round was on its way, which guest memory's
/// `DirtyPageLog` records. A round is over when the backup acknowledges its last page. Rounds
/// stop once the pages left would cross the link in `finalCopyBudgetNanos` (or after
/// `maxRounds`); then the stop-and-copy: the guest stays stopped while the last dirty pages, the
/// vCPUs and devices, and a transfer-end entry carrying the state hash go out, and until the
/// backup acknowledges that entry. That wait is the pause: the guest resumes only once the backup
/// holds everything, so it includes the final pages' time on the link and a round trip. Logging
/// then resumes on the same channel at the next seq.
///
/// Pending outputs: a primary alone releases each output as it is produced, so none is held at
/// the stop-and-copy; the state carries how many outputs were produced and released, which the
/// new backup's output numbering and its re-send rule start from.
///
/// Runs on the primary's thread, between guest slices; `step` allocates nothing (the page list is
/// reserved for every page up front).
final class StateTransfer {
    let channel: LogChannel
    let log: LogSender
    let acks: AckReceiver
    unowned let machine: Machine
    private let dirty: DirtyPageLog?
    private var pages: [Int]
    /// How many of `pages` have been sent in this round.
    private var sent = 0
    private(set) var nextSeq: UInt64
    /// The seq of the current round's last page: the round is over once it is acknowledged.
    private var roundEnd: UInt64 = 0
    private var acknowledged: UInt64 = 0
    private var lastHeard: UInt64
    private let failureTimeout: UInt64
    private let bitsPerSecond: UInt64?
    private(set) var record: TransferRecord
    /// Assembly buffers for a page entry's and the machine-state entry's payloads, owned by the
    /// transfer and freed in `deinit`.
    private let pageBuffer: UnsafeMutableRawBufferPointer
    private let stateBuffer: UnsafeMutableRawBufferPointer

    /// Pages sent per step between slices: 128 KiB, about 30 µs of copying and checksumming here,
    /// so that a step delays the guest little.
    static let pagesPerStep = 32
    static let maxRounds = 10
    /// Pre-copy ends when the dirty pages would take at most this long on the link.
    static let finalCopyBudgetNanos: UInt64 = 1_000_000

    enum Progress { case copying, restored, abandoned }

    /// - Parameter untrackedWrites: `Sabotage.untrackedWrites`: no write is ever tracked.
    init(machine: Machine, channel: LogChannel, firstSeq: UInt64, record: TransferRecord, failureTimeout: UInt64, untrackedWrites: Bool) {
        self.machine = machine
        self.channel = channel
        let end = channel.openPrimaryEnd()
        log = end.log
        acks = end.acks
        dirty = untrackedWrites ? nil : machine.memory.startTrackingWrites()
        pages = []
        pages.reserveCapacity(machine.memory.pageCount)
        pages.append(contentsOf: 0..<machine.memory.pageCount)
        nextSeq = firstSeq
        self.record = record
        self.failureTimeout = failureTimeout
        bitsPerSecond = channel.profile.bandwidthBitsPerSecond
        lastHeard = record.startedAt
        stateBuffer = .allocate(byteCount: 16 + MachineState.encodedSize(vcpus: machine.vcpuCount), alignment: 8)
        pageBuffer = .allocate(byteCount: 8 + DirtyPageLog.pageSize, alignment: 8)
    }

    deinit {
        stateBuffer.deallocate()
        pageBuffer.deallocate()
    }

    /// One step between guest slices: sends the next pages of the round, or, once the round has
    /// arrived, starts the next one, or stops the guest and completes the transfer (returning only
    /// when the backup holds the state, or the transfer was abandoned).
    /// `mayStop`: the guest is where a stop-and-copy may happen; rounds change only there.
    ///
    /// A new backup that closes the channel between the check and a send gives the transfer up
    /// just as one found closed before it.
    func step(now: UInt64, outputsProduced: UInt64, outputsReleased: UInt64, mayStop: Bool) throws -> Progress {
        do {
            return try copy(now: now, outputsProduced: outputsProduced, outputsReleased: outputsReleased, mayStop: mayStop)
        } catch ChannelError.closed {
            return abandon("the new backup closed the channel")
        }
    }

    private func copy(now: UInt64, outputsProduced: UInt64, outputsReleased: UInt64, mayStop: Bool) throws -> Progress {
        pollAcks(now)
        if let reason = failed(now) { return abandon(reason) }
        if sent < pages.count {
            var budget = Self.pagesPerStep
            while budget > 0, sent < pages.count, log.hasQuarterFree {
                try sendPage(pages[sent], last: sent == pages.count - 1)
                sent += 1
                budget -= 1
            }
            log.flush()
            return .copying
        }
        guard acknowledged >= roundEnd, mayStop else { return .copying }
        // The round has arrived: what the guest wrote meanwhile is the next one.
        pages.removeAll(keepingCapacity: true)
        dirty?.take(into: &pages)
        sent = 0
        if record.rounds >= Self.maxRounds || linkNanos(pages: pages.count) <= Self.finalCopyBudgetNanos {
            return try stopAndCopy(outputsProduced: outputsProduced, outputsReleased: outputsReleased)
        }
        record.rounds += 1
        return .copying
    }

    /// The stop-and-copy: the guest is stopped (this runs inside the primary's slice loop).
    private func stopAndCopy(outputsProduced: UInt64, outputsReleased: UInt64) throws -> Progress {
        // `pages` holds what was written since the last round: no guest instruction ran since
        // `copy` took it.
        record.pausedAt = monotonicNanos()
        record.finalPages = pages.count
        for (i, page) in pages.enumerated() { try sendPage(page, last: i == pages.count - 1) }
        machine.memory.stopTrackingWrites()
        let state = try machine.captureState()
        stateBuffer.storeBytes(of: outputsProduced.littleEndian, as: UInt64.self)
        stateBuffer.storeBytes(of: outputsReleased.littleEndian, toByteOffset: 8, as: UInt64.self)
        state.encode(into: UnsafeMutableRawBufferPointer(rebasing: stateBuffer[16...]))
        try append(.machineState, payload: UnsafeRawBufferPointer(stateBuffer))
        try log.append(nextHeader(.transferEnd, flags: .acknowledgeNow), value: machine.stateHash())
        log.flush()
        let end = nextSeq - 1
        while acknowledged < end {
            let now = monotonicNanos()
            pollAcks(now)
            if let reason = failed(now) { return abandon(reason) }
            cpuRelax()
        }
        record.resumedAt = monotonicNanos()
        record.bytes = log.bytesSent
        return .restored
    }

    private func sendPage(_ index: Int, last: Bool) throws(ChannelError) {
        let page = machine.memory.page(index)
        // The payload is the page's index, then its bytes: assembled in a buffer of the
        // transfer's (one extra 4 KiB copy, a few hundred nanoseconds).
        pageBuffer.storeBytes(of: UInt64(index).littleEndian, as: UInt64.self)
        UnsafeMutableRawBufferPointer(rebasing: pageBuffer[8...]).copyMemory(from: page)
        if last { roundEnd = nextSeq }
        try append(.statePage, flags: last ? .acknowledgeNow : [], payload: UnsafeRawBufferPointer(rebasing: pageBuffer[..<(8 + page.count)]))
        record.pagesSent += 1
        if record.rounds > 1 || record.pausedAt != nil { record.bytesResent += UInt64(page.count) }
    }

    private func append(_ kind: LogEntryKind, flags: LogEntryFlags = [], payload: UnsafeRawBufferPointer) throws(ChannelError) {
        try log.append(nextHeader(kind, flags: flags), payload: payload)
    }

    /// The header of the next transfer entry (its seq taken).
    private func nextHeader(_ kind: LogEntryKind, flags: LogEntryFlags = []) -> LogEntryHeader {
        defer { nextSeq += 1 }
        return LogEntryHeader(seq: nextSeq, instructionCount: 0, kind: kind, flags: flags)
    }

    private func pollAcks(_ now: UInt64) {
        var arrived = 0
        if let ack = acks.poll(counting: &arrived) { acknowledged = max(acknowledged, ack.received) }
        if arrived > 0 { lastHeard = now }
    }

    /// Why the transfer cannot go on, if it cannot: the new backup stopped, or fell silent.
    private func failed(_ now: UInt64) -> String? {
        if log.isClosed { return "the new backup closed the channel" }
        if now > adding(lastHeard, failureTimeout) { return "the new backup fell silent" }
        return nil
    }

    /// Gives the transfer up: tracking stops, the link is closed, the record says why.
    func abandon(_ reason: String) -> Progress {
        machine.memory.stopTrackingWrites()
        channel.close()
        record.abandoned = reason
        record.bytes = log.bytesSent
        return .abandoned
    }

    /// How long `pages` pages take on the link (0 with unlimited bandwidth).
    private func linkNanos(pages: Int) -> UInt64 {
        guard let bitsPerSecond else { return 0 }
        return UInt64(pages) * UInt64(DirtyPageLog.pageSize + 64) * 8 * 1_000_000_000 / bitsPerSecond
    }
}

/// What one state transfer did (faults.csv's transfer columns).
public struct TransferRecord: Sendable, Equatable {
    /// The primary, and the host it made a backup on.
    public var from: Side
    public var to: Side
    public var epoch: UInt64
    public var startedAt: UInt64
    /// When the stop-and-copy began (nil: the transfer ended before).
    public var pausedAt: UInt64?
    /// When the guest resumed with its new backup holding the state (nil: never).
    public var resumedAt: UInt64?
    /// Bytes of every transfer entry on the link.
    public var bytes: UInt64 = 0
    /// Page bytes sent again: pre-copy rounds after the first, and the final copy.
    public var bytesResent: UInt64 = 0
    public var pagesSent = 0
    /// Pre-copy rounds (the stop-and-copy not counted).
    public var rounds = 1
    /// Pages the stop-and-copy sent.
    public var finalPages = 0
    /// Why the transfer was given up, if it was.
    public var abandoned: String?

    public var pauseNanos: UInt64? { pausedAt.flatMap { p in resumedAt.map { $0 - p } } }
    public var transferNanos: UInt64? { resumedAt.map { $0 - startedAt } }
}
