import GuestVM
import LogChannel
import Topology

/// The backup side of a live run, as a role state machine: it replays the log (`BackupDriver`)
/// until the primary falls silent for the failure timeout; then, a candidate, it asks the
/// arbiter; having won, it takes the clients' address, sends again the outputs it cannot be
/// sure left, and continues the guest as the primary (`PrimaryDriver`, alone: no backup).
/// Having lost, it halts; with the arbiter unreachable it goes on listening and asks again a
/// heartbeat later.
///
/// The switch happens inside a `HostDriver` call: the backup's call found the log dry at some
/// point of the guest (a slice start, a clock read, an output), and the new primary answers that
/// same call, so the guest runs on from exactly the state the log's last entry left it in.
final class ReplicaDriver<Client: ClientLoad>: HostDriver {
    let context: RunContext<Client>
    let backup: BackupDriver
    unowned let machine: Machine
    private let uncertain: UncertainOutputs<Client>
    private(set) var primary: PrimaryDriver<Client>?
    private(set) var events: [RoleEvent] = []
    private let crash: CrashPoint?
    /// Outputs sent again at go-live.
    private(set) var resent = 0
    private var lastSliceAt: UInt64
    /// The state hash of the machine and the entries replayed when it went live (taken only
    /// if asked: a test compares them with an offline replay of the same log).
    private let hashAtGoLive: Bool
    private(set) var goLiveStateHash: UInt64?
    private(set) var goLiveEntries: UInt64?

    init(context: RunContext<Client>, machine: Machine, backup: BackupDriver, hashAtGoLive: Bool = false) {
        self.context = context
        self.hashAtGoLive = hashAtGoLive
        self.machine = machine
        self.backup = backup
        uncertain = UncertainOutputs(network: context.network)
        crash = CrashPoint(context.faults, role: .backup)
        lastSliceAt = monotonicNanos()
        events.reserveCapacity(64)
        backup.witness = uncertain
    }

    var isFinished: Bool { primary?.isFinished ?? backup.isFinished }

    /// Calls the backup, or, once live, the primary; fails over when the backup finds the
    /// primary silent.
    @inline(__always)
    private func run<T>(_ asBackup: () throws -> T, _ asPrimary: (PrimaryDriver<Client>) throws -> T) throws -> T {
        while true {
            if let primary { return try asPrimary(primary) }
            do {
                return try asBackup()
            } catch let silent as PrimarySilent {
                try candidate(silent)
            } catch is CrashDue {
                throw strike(monotonicNanos())
            }
        }
    }

    func injectEvents(into machine: Machine, vcpu: Int, count: UInt64) throws {
        try run({ try backup.injectEvents(into: machine, vcpu: vcpu, count: count) },
                { try $0.injectEvents(into: machine, vcpu: vcpu, count: count) })
    }

    func sliceEnd(vcpu: Int, count: UInt64, quantumEnd: UInt64) throws -> UInt64 {
        if primary == nil, let crash {
            let now = monotonicNanos()
            if now >= crash.deadline || totalInstructions >= crash.instructions { throw strike(now) }
        }
        if primary == nil, let faults = context.faults { slowDown(faults) }
        return try run({ try backup.sliceEnd(vcpu: vcpu, count: count, quantumEnd: quantumEnd) },
                       { try $0.sliceEnd(vcpu: vcpu, count: count, quantumEnd: quantumEnd) })
    }

    func value(for exit: Exit, vcpu: Int, count: UInt64) throws -> UInt64 {
        try run({ try backup.value(for: exit, vcpu: vcpu, count: count) }, { try $0.value(for: exit, vcpu: vcpu, count: count) })
    }

    func output(_ bytes: UnsafeRawBufferPointer, vcpu: Int, count: UInt64) throws {
        try run({ try backup.output(bytes, vcpu: vcpu, count: count) }, { try $0.output(bytes, vcpu: vcpu, count: count) })
    }

    func idle(_ machine: Machine) throws -> Bool {
        try run({ try backup.idle(machine) }, { try $0.idle(machine) })
    }

    private var totalInstructions: UInt64 { (0..<machine.vcpuCount).reduce(0) { $0 + machine.instructionCount(vcpu: $1) } }

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
        let (epoch, owner) = (UInt64(1), Side.a)
        if events.last?.kind != .detected && events.last?.kind != .arbiterUnreachable {
            events.append(RoleEvent(side: .b, kind: .detected, at: silent.detectedAt, epoch: epoch, lastHeard: silent.lastHeard))
        }
        switch context.arbiter.claim(by: .b, from: epoch, owner: owner) {
        case .won(let won):
            if hashAtGoLive {
                goLiveStateHash = machine.stateHash()
                goLiveEntries = backup.entriesReplayed
            }
            let now = monotonicNanos()
            context.network.claim(by: .b, epoch: won)
            events.append(RoleEvent(side: .b, kind: .live, at: now, epoch: won))
            let primary = PrimaryDriver(context: context, machine: machine, channel: nil, side: .b, epoch: won,
                                        firstSeq: backup.nextSeq, outputBase: UInt64(backup.outputsChecked))
            resent = uncertain.resend(epoch: won, now: now)
            self.primary = primary
        case .lost(let current, _):
            let now = monotonicNanos()
            events.append(RoleEvent(side: .b, kind: .halted, at: now, epoch: current))
            throw SideStopped(reason: .halted, at: now)
        case .unreachable:
            events.append(RoleEvent(side: .b, kind: .arbiterUnreachable, at: monotonicNanos(), epoch: epoch))
            sleepNanos(context.options.heartbeat)
        }
    }

    private func strike(_ now: UInt64) -> SideStopped {
        if let crash { context.faults?.struck(crash.index, at: now) }
        events.append(RoleEvent(side: .b, kind: .crashed, at: now, epoch: 1))
        return SideStopped(reason: .crashed, at: now)
    }
}

/// The outputs a backup cannot be sure its primary released: copies of every output it replayed
/// after the last release the primary reported in the log. At go-live they are sent again
/// (clients drop the duplicates). Also notes each replayed output in the backup's history.
/// Storage: an `OutputRule` (allocated once; holding and dropping allocate nothing).
final class UncertainOutputs<Client: ClientLoad>: OutputWitness {
    private let network: ClientNetwork<Client>
    private let held = OutputRule()
    private var releasedUpTo: UInt64 = 0

    init(network: ClientNetwork<Client>) { self.network = network }

    func replayed(_ output: UnsafeRawBufferPointer, number: UInt64) throws {
        network.noteReplayed(output, by: .b)
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
        let network = network
        return held.release(upTo: .max) { network.deliver($0, from: .b, epoch: epoch, now: now) }
    }
}
