import Synchronization
import Topology

/// What one vCPU's thread does with its vCPU's exits in a parallel run (the `free` and `recorded`
/// interleavings). Each thread has a host of its own, touched by that thread only; hosts that
/// coordinate (a ticket order, a log) share objects that say their own thread-safety contracts.
public protocol VCPUHost: Sendable {
    /// The instruction count the vCPU's next run may reach at most, from `count`: where the host
    /// must look again (a deadline check, the next logged event).
    mutating func limit(count: UInt64) throws -> UInt64
    /// The run reached its `limit` at `count`: true stops this vCPU here (a deadline passed).
    mutating func reachedLimit(count: UInt64) throws -> Bool
    /// The value for a `clockRead` or `randomRead` exit that retired at `count`.
    mutating func value(for exit: Exit, count: UInt64) throws -> UInt64
    /// An output the guest produced with `out` (retired at `count`).
    mutating func output(_ bytes: UnsafeRawBufferPointer, count: UInt64) throws
    /// Performs the synchronising instruction a `.synchronise` exit left unrun, at `count`, with
    /// `Machine.performSynchronising`, inside the host's order; returns its fault, if any.
    mutating func synchronise(count: UInt64) throws -> GuestFault?
    /// The vCPU halted or faulted at `count` (not called when `reachedLimit` stopped it or a
    /// method threw).
    mutating func ended(count: UInt64, fault: GuestFault?) throws
    /// One of the methods above threw `error`, which stops this vCPU: a host whose vCPUs wait
    /// on each other stops the others here.
    mutating func stopped(by error: any Error)
    /// Called before each run of the vCPU, at `count`: raise the interrupts and deliver the DMA
    /// due now, on this vCPU only (no thread touches another's vCPU). Events enter the guest
    /// only here and in `idle`, at exact counts.
    mutating func injectEvents(count: UInt64) throws
    /// The vCPU waits for an interrupt (`wfi`) at `count` and has none pending: return once one
    /// has been raised on it (`.woken`), or say that none ever will (`.ended`: the vCPU's run
    /// ends there, as at a halt) or that the host stops it (`.stopped`: a deadline passed).
    mutating func idle(count: UInt64) throws -> IdleOutcome
}

/// How a vCPU waiting for an interrupt in a parallel run goes on.
public enum IdleOutcome: Sendable {
    case woken
    case ended
    case stopped
}

extension VCPUHost {
    public func stopped(by error: any Error) {}
    /// A host without devices injects nothing.
    public func injectEvents(count: UInt64) {}
    /// A host without devices wakes no vCPU: a wait ends its run.
    public func idle(count: UInt64) -> IdleOutcome { .ended }
}

/// Runs every vCPU of a machine on a host thread of its own, truly in parallel, each thread
/// handing its vCPU's exits to its `VCPUHost`. The engine of the `free` interleaving (`FreeRun`)
/// and of the `recorded` one (Replication's `RecordedReplication`).
public enum ParallelRun {
    public struct VCPUResult: Sendable {
        public var instructions: UInt64
        /// The outputs this vCPU produced, in its order (a bounded prefix: `keptOutputBytes`).
        public var outputs: [[UInt8]]
        public var outputCount: Int
        /// A hash over every output of this vCPU, in order.
        public var outputHash: UInt64
        public var fault: GuestFault?
        /// What a host threw, which stopped this vCPU (a divergence, a closed channel).
        public var error: (any Error)?
        public var cpusAllowed: [Int]
        /// The vCPU's run ended (a halt, a fault, or a wait nothing would end), rather than
        /// being stopped by its host.
        public var ended: Bool

        public init(instructions: UInt64, outputs: [[UInt8]], outputCount: Int, outputHash: UInt64, fault: GuestFault?,
                    error: (any Error)? = nil, cpusAllowed: [Int], ended: Bool) {
            self.instructions = instructions
            self.outputs = outputs
            self.outputCount = outputCount
            self.outputHash = outputHash
            self.fault = fault
            self.error = error
            self.cpusAllowed = cpusAllowed
            self.ended = ended
        }
    }

    public struct Summary: Sendable {
        public var vcpus: [VCPUResult]
        /// From the moment every thread was ready to the last vCPU's end.
        public var wallNanos: UInt64
        public var stateHash: UInt64
        /// Guest memory alone (`Machine.memoryHash`).
        public var memoryHash: UInt64
        /// Every vCPU's run ended (halted, faulted, or waiting with no event to come); false
        /// when a host stopped one first.
        public var finished: Bool
        public var totalInstructions: UInt64 { vcpus.reduce(0) { $0 + $1.instructions } }
        public var firstFault: GuestFault? { vcpus.lazy.compactMap(\.fault).first }
        public var firstError: (any Error)? { vcpus.lazy.compactMap(\.error).first }
        /// A vCPU thread that could not be pinned where it was asked to run, and why: its
        /// timings mean nothing.
        public var pinningFailure: String?
        /// The CPUs the vCPU threads were allowed on, as the kernel reported them.
        public var cpusUsed: [Int] { Array(Set(vcpus.flatMap(\.cpusAllowed))).sorted() }

        public init(vcpus: [VCPUResult], wallNanos: UInt64, stateHash: UInt64, memoryHash: UInt64, finished: Bool, pinningFailure: String?) {
            self.vcpus = vcpus
            self.wallNanos = wallNanos
            self.stateHash = stateHash
            self.memoryHash = memoryHash
            self.finished = finished
            self.pinningFailure = pinningFailure
        }
    }

    /// Output bytes kept per vCPU for the caller to print; the hash covers all of them.
    public static let keptOutputBytes = 1 << 20

    /// Runs vCPU N of `machine` on a thread named `<namePrefix>-vcpuN`, pinned to
    /// `cpus[N % cpus.count]` when `cpus` is given, with `hosts[N]`; returns the summary and the
    /// hosts as their threads left them.
    ///
    /// Inlinable, so that a caller's host type specialises the loop: its exit handlers are then
    /// direct calls (unspecialised, every ticket of the recorded interleaving paid a generic
    /// metadata lookup, about 3% of a lock-heavy run).
    @inlinable
    public static func run<Host: VCPUHost>(_ machine: Machine, hosts: [Host], cpus: [Int]? = nil, namePrefix: String) -> (Summary, [Host]) {
        precondition(hosts.count == machine.vcpuCount, "one host per vCPU")
        let shared = Shared<Host>(machine, hosts: hosts)
        let threads = (0..<hosts.count).map { vcpu in
            PinnedThread(cpu: cpus.map { $0[vcpu % $0.count] }, name: "\(namePrefix)-vcpu\(vcpu)") {
                shared.runVCPU(vcpu)
            }
        }
        threads.forEach { $0.join() }
        let end = shared.lastEnd.load(ordering: .acquiring)
        let start = shared.start.load(ordering: .acquiring)
        let (results, finalHosts) = shared.slots.withLock { slots in (slots.map { $0.result! }, slots.map(\.host)) }
        let unpinned = threads.lazy.compactMap { thread in thread.pinningError.map { "\(thread.name ?? "a vCPU thread"): \($0)" } }.first
        let summary = Summary(vcpus: results, wallNanos: end > start ? end - start : 0, stateHash: machine.stateHash(),
                              memoryHash: machine.memoryHash(),
                              finished: results.allSatisfy(\.ended), pinningFailure: unpinned)
        return (summary, finalHosts)
    }

    /// What the threads share. Each thread runs only its own vCPU, whose state no other thread
    /// touches, and its own host; the machine's memory is shared as the guest shares it.
    /// Orderings: the start barrier counts up with `acquiringAndReleasing` and is read with
    /// `acquiring`; `start` and `lastEnd` are published with `releasing`/`acquiringAndReleasing`
    /// and read after the joins (which order them anyway). Hosts go in and come out under a
    /// mutex, once per thread.
    @usableFromInline
    final class Shared<Host: VCPUHost>: @unchecked Sendable {
        @usableFromInline
        struct Slot {
            @usableFromInline var host: Host
            @usableFromInline var result: VCPUResult?
            @usableFromInline init(host: Host, result: VCPUResult? = nil) {
                self.host = host
                self.result = result
            }
        }

        @usableFromInline let machine: Machine
        @usableFromInline let count: Int
        @usableFromInline let ready = Atomic<Int>(0)
        @usableFromInline let start = Atomic<UInt64>(0)
        @usableFromInline let lastEnd = Atomic<UInt64>(0)
        @usableFromInline let slots: Mutex<[Slot]>

        @inlinable
        init(_ machine: Machine, hosts: [Host]) {
            self.machine = machine
            count = hosts.count
            slots = Mutex(hosts.map { Slot(host: $0) })
        }

        @inlinable
        func runVCPU(_ vcpu: Int) {
            var host = slots.withLock { $0[vcpu].host }
            var hasher = StateHasher()
            var outputs: [[UInt8]] = [], kept = 0, outputCount = 0
            var fault: GuestFault?
            var stop: (any Error)?
            var ended = false
            let allowed = allowedCPUs()
            // Every thread starts the guest at once: the last to arrive stamps the start.
            if ready.add(1, ordering: .acquiringAndReleasing).newValue == count {
                start.store(monotonicNanos(), ordering: .releasing)
            }
            while ready.load(ordering: .acquiring) < count { cpuRelax() }
            do {
                running: while true {
                    let count = machine.instructionCount(vcpu: vcpu)
                    try host.injectEvents(count: count)
                    let exit = machine.run(vcpu: vcpu, until: try host.limit(count: count))
                    let now = machine.instructionCount(vcpu: vcpu)
                    switch exit {
                    case .reachedLimit:
                        if try host.reachedLimit(count: now) { break running }
                    case .clockRead(let register), .randomRead(let register):
                        machine.setRegister(register, to: try host.value(for: exit, count: now), vcpu: vcpu)
                    case .output(let address, let length):
                        try machine.memory.withBytes(at: address, count: length) { bytes in
                            hasher.combine(bytes: bytes)
                            if kept + bytes.count <= keptOutputBytes {
                                outputs.append(Array(bytes))
                                kept += bytes.count
                            }
                            try host.output(bytes, count: now)
                        }
                        outputCount += 1
                    case .synchronise:
                        if let f = try host.synchronise(count: now) {
                            fault = f
                            try host.ended(count: now, fault: f)
                            ended = true
                            break running
                        }
                    case .waitingForInterrupt:
                        switch try host.idle(count: now) {
                        case .woken: continue running
                        case .stopped: break running
                        case .ended:
                            try host.ended(count: now, fault: nil)
                            ended = true
                            break running
                        }
                    case .halted:
                        try host.ended(count: now, fault: nil)
                        ended = true
                        break running
                    case .fault(let f):
                        fault = f
                        try host.ended(count: now, fault: f)
                        ended = true
                        break running
                    }
                }
            } catch {
                stop = error
                host.stopped(by: error)
            }
            let end = monotonicNanos()
            var seen = lastEnd.load(ordering: .relaxed)
            while seen < end {
                let (exchanged, original) = lastEnd.compareExchange(expected: seen, desired: end, ordering: .acquiringAndReleasing)
                if exchanged { break }
                seen = original
            }
            let result = VCPUResult(instructions: machine.instructionCount(vcpu: vcpu), outputs: outputs, outputCount: outputCount,
                                    outputHash: hasher.finalize(), fault: fault, error: stop, cpusAllowed: allowed, ended: ended)
            slots.withLock { $0[vcpu] = Slot(host: host, result: result) }
        }
    }
}
