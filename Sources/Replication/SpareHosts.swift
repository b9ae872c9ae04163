import LogChannel
import Synchronization
import Topology

/// The run's hosts that hold no live guest, ready to take a new backup: a side that crashed or
/// halted restarts empty (a new VM on its host, as VMware FT starts the new backup elsewhere),
/// and a primary without a backup invites it to receive a state transfer over a new link. Also
/// keeps every link made between the sides, so that the watchdog can cut them all.
///
/// Its state sits behind one mutex, taken when a side stops, while a spare waits (every 200 µs)
/// and while a primary alone looks for a spare (once per slice, only while it is alone): never on
/// a path that runs while the pair is whole.
final class SpareHosts: Sendable {
    struct Invitation: Sendable {
        let channel: LogChannel
        let primary: Side
        let epoch: UInt64
    }

    private struct State: Sendable {
        var idle: Set<Side> = []
        var invitations: [Side: Invitation] = [:]
        var links: [LogChannel] = []
        var closed = false
    }

    private let state = Mutex(State())

    /// Records a link between the sides (the first one, or one a primary made).
    func add(link: LogChannel) {
        state.withLock { $0.links.append(link) }
    }

    /// `side` holds no guest any more: a primary alone may invite it.
    func offer(_ side: Side) {
        state.withLock { $0.idle.insert(side) }
    }

    /// Waits until a primary invites `side`, the run closes the pool, or `deadline` passes.
    func awaitInvitation(for side: Side, until deadline: UInt64) -> Invitation? {
        while monotonicNanos() < deadline {
            let (invitation, closed) = state.withLock { s in (s.invitations.removeValue(forKey: side), s.closed) }
            if let invitation { return invitation }
            if closed { return nil }
            sleepNanos(200_000)
        }
        state.withLock { _ = $0.idle.remove(side) }
        return nil
    }

    /// The primary `side` of `epoch` asks for a new backup: if another host is idle, makes a
    /// link with `makeLink` and invites it; returns that host and the link.
    func invite(from side: Side, epoch: UInt64, makeLink: () -> LogChannel) -> (Side, LogChannel)? {
        state.withLock { s in
            guard !s.closed, let spare = s.idle.first(where: { $0 != side }) else { return nil }
            let link = makeLink()
            s.idle.remove(spare)
            s.links.append(link)
            s.invitations[spare] = Invitation(channel: link, primary: side, epoch: epoch)
            return (spare, link)
        }
    }

    /// The run is over (or overran): no more invitations, spares stop waiting; with `cutLinks`,
    /// every link is closed too (the watchdog's way of ending a run that cannot end).
    func close(cutLinks: Bool = false) {
        let links = state.withLock { s in
            s.closed = true
            return cutLinks ? s.links : []
        }
        for link in links { link.close() }
    }
}
