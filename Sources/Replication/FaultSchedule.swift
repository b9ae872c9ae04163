import Synchronization
import Topology

/// A run's faults, placed on its clock: each fault's start is fixed at the start of the run (a
/// time) or when the guest reaches its instruction count (resolved then by the side that runs
/// the guest). Shared by both sides, the link, the arbiter and the report.
///
/// Memory ordering: every start is a lone 64-bit word written once (from `unresolved` to a time)
/// and read without any other data depending on it, so relaxed loads and stores suffice: a side
/// that reads a start a few nanoseconds late applies the fault a few nanoseconds late.
public final class FaultSchedule: Sendable {
    public let faults: [Fault]
    public let runStart: UInt64
    private let starts: [Instant]
    /// The earliest instruction count any still-unresolved window waits for (`.max`: none), so
    /// the primary pays one comparison per slice for them.
    private let nextCount: Atomic<UInt64>

    static let unresolved = UInt64.max

    final class Instant: Sendable {
        let value = Atomic<UInt64>(FaultSchedule.unresolved)
    }

    /// Ranges still in `faults` are drawn here (round 0 of `seed`).
    public init(_ faults: [Fault], runStart: UInt64, seed: UInt64 = 1) {
        let faults = Fault.draw(faults, seed: seed, round: 0)
        self.faults = faults
        self.runStart = runStart
        starts = faults.map { fault in
            let instant = Instant()
            if case .elapsed(let n) = fault.at, fault.duration != nil { instant.value.store(runStart + n, ordering: .relaxed) }
            return instant
        }
        nextCount = Atomic(faults.compactMap { fault -> UInt64? in
            guard fault.duration != nil, case .instructions(let n) = fault.at else { return nil }
            return n
        }.min() ?? .max)
    }

    /// When fault `index` struck (a window's start, a crash's instant), if it has.
    public func startedAt(_ index: Int) -> UInt64? {
        let t = starts[index].value.load(ordering: .relaxed)
        return t == Self.unresolved ? nil : t
    }

    /// Some window still waits for an instruction count (so the primary counts its guest's
    /// instructions at each slice only then).
    var awaitsInstructionCount: Bool { nextCount.load(ordering: .relaxed) != .max }

    /// The live primary reports its guest's progress at each slice: windows that wait for an
    /// instruction count start now once it is reached.
    @inline(__always)
    func noteProgress(instructions: UInt64, now: UInt64) {
        guard instructions >= nextCount.load(ordering: .relaxed) else { return }
        var next = UInt64.max
        for (i, fault) in faults.enumerated() where fault.duration != nil {
            guard case .instructions(let n) = fault.at else { continue }
            if n <= instructions {
                if starts[i].value.load(ordering: .relaxed) == Self.unresolved { starts[i].value.store(now, ordering: .relaxed) }
            } else {
                next = min(next, n)
            }
        }
        nextCount.store(next, ordering: .relaxed)
    }

    /// The windows of `kind` that are open at `now`.
    private func open(at now: UInt64, _ body: (Fault) -> Void) {
        for (i, fault) in faults.enumerated() {
            guard let duration = fault.duration else { continue }
            let start = starts[i].value.load(ordering: .relaxed)
            if start != Self.unresolved, now >= start, now - start < duration { body(fault) }
        }
    }

    /// How long the logging channel holds messages back past their delivery time at `now`: 0,
    /// a latency spike's extra latency, or `.max` during a partition.
    public func linkDelay(at now: UInt64) -> UInt64 {
        var delay: UInt64 = 0
        open(at: now) { fault in
            switch fault {
            case .partition: delay = .max
            case .latencySpike(_, _, let extra): delay = max(delay, extra)
            default: break
            }
        }
        return delay
    }

    public func arbiterReachable(from side: Side, at now: UInt64) -> Bool {
        var reachable = true
        open(at: now) { fault in
            if case .arbiterPartition(_, _, let cut) = fault, cut == side { reachable = false }
        }
        return reachable
    }

    /// The fraction of its speed the backup runs at, at `now` (1: full speed).
    public func backupSpeed(at now: UInt64) -> Double {
        var speed = 1.0
        open(at: now) { fault in
            if case .slowBackup(_, _, let fraction) = fault { speed = min(speed, fraction) }
        }
        return speed
    }

    /// The first crash planned for `role` that has not struck yet, if any: its index and time.
    func crash(of role: Role) -> (index: Int, at: FaultTime)? {
        for (i, fault) in faults.enumerated() {
            if case .crash(let r, let t) = fault, r == role, startedAt(i) == nil { return (i, t) }
        }
        return nil
    }

    /// Records that fault `index` (a crash) struck at `now`.
    func struck(_ index: Int, at now: UInt64) {
        starts[index].value.store(now, ordering: .relaxed)
    }

    public var hasLinkFaults: Bool {
        faults.contains { if case .partition = $0 { true } else if case .latencySpike = $0 { true } else { false } }
    }
}

/// The crash planned for the role a driver plays, checked where the side's code could stop: thrown as `SideStopped` so
/// that nothing of the side runs after it.
struct CrashPoint {
    let index: Int
    let deadline: UInt64
    let instructions: UInt64

    init?(_ schedule: FaultSchedule?, role: Role) {
        guard let schedule, let (index, at) = schedule.crash(of: role) else { return nil }
        self.index = index
        switch at {
        case .elapsed(let n):
            deadline = schedule.runStart + n
            instructions = .max
        case .instructions(let n):
            deadline = .max
            instructions = n
        case .randomElapsed, .randomInstructions:
            preconditionFailure("fault time ranges are drawn when the schedule is made")
        }
    }

    /// Whether the crash is due at `now`, with the guest at `instructions`.
    @inline(__always)
    func isDue(at now: UInt64, instructions: UInt64) -> Bool { now >= deadline || instructions >= self.instructions }

    /// Records in `schedule` that the crash struck `side` (in `epoch`) at `now`; returns the
    /// side's event.
    func strike(_ schedule: FaultSchedule?, side: Side, epoch: UInt64, at now: UInt64) -> RoleEvent {
        schedule?.struck(index, at: now)
        return RoleEvent(side: side, kind: .crashed, at: now, epoch: epoch)
    }
}

/// Unwinds a side's thread at once: it crashed (a fault) or halted (it lost the arbiter); the
/// side's `RoleEvent` says which, and when.
struct SideStopped: Error {}
