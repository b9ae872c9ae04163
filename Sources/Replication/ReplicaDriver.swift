import GuestVM
import LogChannel
import Topology

/// The backup side of a live run, as a role state machine: it replays the log (`BackupDriver`)
/// until the primary falls silent for the failure timeout; then, a candidate, it asks the
/// arbiter (through its `Takeover`); having won, it takes the clients' address, sends again the
/// outputs it cannot be sure left, and continues the guest as the primary (alone: no backup).
/// Having lost, it halts; with the arbiter unreachable it goes on listening and asks again a
/// heartbeat later.
///
/// The switch happens inside a `HostDriver` call: the backup's call found the log dry at some
/// point of the guest (a slice start, a clock read, an output), and the new primary answers that
/// same call, so the guest runs on from exactly the state the log's last entry left it in.
///
/// Not generic: the backup's per-event calls go straight to `BackupDriver`. (A version generic
/// over the client type, calling through closures, made the backup of the event-dense `nondet`
/// guest cost about 45 ns more per event, ReplicationBenchmarks' `primary.nondet.ftOn`.)
final class ReplicaDriver: HostDriver {
    let backup: BackupDriver
    unowned let machine: Machine
    let side: Side
    /// The epoch of the primary it backs.
    let epoch: UInt64
    private let takeover: Takeover
    private let faults: FaultSchedule?
    private let crash: CrashPoint?
    /// The new primary, once this side has gone live. Read on every call into the VMM and
    /// written once, by this side's thread only: the dynamic exclusivity check Swift would make
    /// on each read (swift_beginAccess, 8% of the backup's time on `nondet` in perf) buys
    /// nothing here. A class existential, so that the check for nil is a pointer test: as
    /// `any HostDriver` every call copied and destroyed the opaque existential box (4-5% of the
    /// backup's time on `nondet`).
    @exclusivity(unchecked) private(set) var primary: (any HostDriver & AnyObject)?
    private(set) var events: [RoleEvent] = []
    private var lastSliceAt: UInt64

    init(machine: Machine, side: Side, epoch: UInt64, backup: BackupDriver, takeover: Takeover, faults: FaultSchedule?) {
        self.machine = machine
        self.side = side
        self.epoch = epoch
        self.backup = backup
        self.takeover = takeover
        self.faults = faults
        crash = CrashPoint(faults, role: .backup)
        lastSliceAt = monotonicNanos()
        events.reserveCapacity(64)
    }

    var isFinished: Bool { primary?.isFinished ?? backup.isFinished }

    /// The guest's instructions and their time in the interpreter over this side's plain slices,
    /// replaying and, after a takeover, live: its core's speed on this guest.
    private(set) var interpreterTime = InterpreterTime()

    static var timesPlainSlices: Bool { true }

    func ranPlainSlice(instructions: UInt64, nanos: UInt64) {
        interpreterTime.add(instructions: instructions, nanos: nanos)
    }

    /// What the backup's call threw: a silent primary starts a candidacy (after which the call is
    /// tried again, by the new primary if it won); a due crash strikes; anything else is thrown.
    private func handle(_ error: any Error) throws {
        if let silent = error as? PrimarySilent { return try candidate(silent) }
        if error is CrashDue, let crash { throw strike(crash, now: monotonicNanos()) }
        throw error
    }

    func injectEvents(into machine: Machine, vcpu: Int, count: UInt64) throws {
        while primary == nil {
            do { return try backup.injectEvents(into: machine, vcpu: vcpu, count: count) } catch { try handle(error) }
        }
        try primary!.injectEvents(into: machine, vcpu: vcpu, count: count)
    }

    func sliceEnd(vcpu: Int, count: UInt64, quantumEnd: UInt64) throws -> UInt64 {
        if primary == nil, let crash {
            let now = monotonicNanos()
            if crash.isDue(at: now, instructions: machine.totalInstructions) { throw strike(crash, now: now) }
        }
        if primary == nil, let faults { slowDown(faults) }
        while primary == nil {
            do { return try backup.sliceEnd(vcpu: vcpu, count: count, quantumEnd: quantumEnd) } catch { try handle(error) }
        }
        return try primary!.sliceEnd(vcpu: vcpu, count: count, quantumEnd: quantumEnd)
    }

    func sliceLimit(vcpu: Int, count: UInt64, end: UInt64) throws -> UInt64 {
        while primary == nil {
            do { return try backup.sliceLimit(vcpu: vcpu, count: count, end: end) } catch { try handle(error) }
        }
        return try primary!.sliceLimit(vcpu: vcpu, count: count, end: end)
    }

    func value(for exit: Exit, vcpu: Int, count: UInt64) throws -> UInt64 {
        while primary == nil {
            do { return try backup.value(for: exit, vcpu: vcpu, count: count) } catch { try handle(error) }
        }
        return try primary!.value(for: exit, vcpu: vcpu, count: count)
    }

    func output(_ bytes: UnsafeRawBufferPointer, vcpu: Int, count: UInt64) throws {
        while primary == nil {
            do { return try backup.output(bytes, vcpu: vcpu, count: count) } catch { try handle(error) }
        }
        try primary!.output(bytes, vcpu: vcpu, count: count)
    }

    func idle(_ machine: Machine) throws -> Bool {
        while primary == nil {
            do { return try backup.idle(machine) } catch { try handle(error) }
        }
        return try primary!.idle(machine)
    }

    /// `slow-backup`: after each slice, sleeps so that the backup runs at the fault's fraction
    /// of its speed.
    private func slowDown(_ faults: FaultSchedule) {
        let now = monotonicNanos()
        let speed = faults.backupSpeed(at: now)
        if speed < 1 { sleepNanos(UInt64(Double(now - lastSliceAt) * (1 / speed - 1))) }
        lastSliceAt = monotonicNanos()
    }

    /// The primary fell silent: every entry received has been replayed. Asks the arbiter.
    private func candidate(_ silent: PrimarySilent) throws {
        if events.last?.kind != .detected && events.last?.kind != .arbiterUnreachable {
            events.append(RoleEvent(side: side, kind: .detected, at: silent.detectedAt, epoch: epoch, lastHeard: silent.lastHeard))
        }
        switch takeover.claim(replayed: backup) {
        case .live(let driver, let epoch, let at):
            events.append(RoleEvent(side: side, kind: .live, at: at, epoch: epoch))
            nameCurrentThread(roleThreadName("primary", vcpus: machine.vcpuCount))
            primary = driver
        case .lost(let epoch, let at):
            events.append(RoleEvent(side: side, kind: .halted, at: at, epoch: epoch))
            throw SideStopped()
        case .unreachable(let at, let retry):
            events.append(RoleEvent(side: side, kind: .arbiterUnreachable, at: at, epoch: epoch))
            sleepNanos(retry)
        }
    }

    private func strike(_ crash: CrashPoint, now: UInt64) -> SideStopped {
        events.append(crash.strike(faults, side: side, epoch: epoch, at: now))
        return SideStopped()
    }
}

/// How a backup takes over, for its client type: the arbiter, the network's address, the
/// uncertain outputs and the new primary. The only part of the backup side that knows the
/// client type, reached once per candidacy.
protocol Takeover: AnyObject {
    func claim(replayed backup: BackupDriver) -> Candidacy
}

enum Candidacy {
    case live(any HostDriver & AnyObject, epoch: UInt64, at: UInt64)
    case lost(epoch: UInt64, at: UInt64)
    /// The arbiter could not be reached: ask again after `retry`.
    case unreachable(at: UInt64, retry: UInt64)
}

/// A backup's takeover: `side` claims the epoch after its primary's (`epoch`, owned by `owner`).
final class BackupTakeover<Client: ClientLoad>: Takeover {
    let context: RunContext<Client>
    unowned let machine: Machine
    let side: Side
    let epoch: UInt64
    let owner: Side
    let uncertain: UncertainOutputs<Client>
    /// The state hash of the machine when it went live (taken only if asked: a test compares it
    /// with an offline replay of the same log).
    private let hashAtGoLive: Bool
    private(set) var goLiveStateHash: UInt64?
    /// Outputs sent again at go-live.
    private(set) var resent = 0
    private(set) var primary: PrimaryDriver<Client>?

    init(context: RunContext<Client>, machine: Machine, side: Side, epoch: UInt64, owner: Side, backup: BackupDriver,
         hashAtGoLive: Bool) {
        self.context = context
        self.machine = machine
        self.side = side
        self.epoch = epoch
        self.owner = owner
        self.hashAtGoLive = hashAtGoLive
        uncertain = UncertainOutputs(network: context.network, side: side)
        backup.witness = uncertain
    }

    func claim(replayed backup: BackupDriver) -> Candidacy {
        switch context.arbiter.claim(by: side, from: epoch, owner: owner) {
        case .won(let won):
            if hashAtGoLive { goLiveStateHash = machine.stateHash() }
            let now = monotonicNanos()
            context.network.claim(by: side, epoch: won)
            let driver = PrimaryDriver(context: context, machine: machine, channel: nil, side: side, epoch: won,
                                       firstSeq: backup.nextSeq, outputBase: backup.outputBase + UInt64(backup.outputsChecked))
            resent = uncertain.resend(epoch: won, now: now)
            primary = driver
            return .live(driver, epoch: won, at: now)
        case .lost(let current, _):
            return .lost(epoch: current, at: monotonicNanos())
        case .unreachable:
            return .unreachable(at: monotonicNanos(), retry: context.options.heartbeat)
        }
    }
}

/// The outputs a backup cannot be sure its primary released: copies of every output it replayed
/// after the last release the primary reported in the log. At go-live they are sent again
/// (clients drop the duplicates). Also notes each replayed output in the backup's history.
/// Storage: an `OutputRule` (allocated once; holding and dropping allocate nothing).
final class UncertainOutputs<Client: ClientLoad>: OutputWitness {
    private let network: ClientNetwork<Client>
    private let side: Side
    /// 64 MiB of arena: a guest writing 4 MB outputs can have two unreported at once when the
    /// host is busy (the large-outputs test failed so under a loaded suite with 8 MiB). Memory
    /// the allocator maps lazily, so it costs only what is held.
    private let held = OutputRule(arenaBytes: 64 << 20)
    private var releasedUpTo: UInt64 = 0

    init(network: ClientNetwork<Client>, side: Side) {
        self.network = network
        self.side = side
    }

    func replayed(_ output: UnsafeRawBufferPointer, number: UInt64) throws {
        network.noteReplayed(output, by: side)
        guard number > releasedUpTo else { return }
        guard held.hold(output, tag: number) else {
            throw ReplicationError("the backup cannot keep copies of \(held.heldCount) outputs its primary has not reported released")
        }
    }

    func primaryReleased(upTo number: UInt64) {
        releasedUpTo = max(releasedUpTo, number)
        held.release(upTo: number) { _ in }
    }

    /// Sends every held output again as the new primary of `epoch`; returns how many.
    func resend(epoch: UInt64, now: UInt64) -> Int {
        let network = network, side = side
        return held.release(upTo: .max) { network.deliver($0, from: side, epoch: epoch, now: now) }
    }
}
