import Synchronization
import Topology

/// The `free` interleaving mode: every vCPU of a machine on a host thread of its own, truly in
/// parallel, with no order recorded. What a racy guest computes then depends on the host's
/// timing; a data-race-free one (docs/ISA.md, "Memory model") computes the same as under
/// round-robin.
///
/// Free runs serve compute guests: clock and random reads are answered on the vCPU's own thread
/// (the host clock, a generator per vCPU), outputs are kept per vCPU. The timer and DMA devices
/// are served by a one-thread host, so a program that uses `settimer`, `dmapost` or `wfi` is
/// refused. Nothing is logged, so nothing can be replayed: that is what this mode measures
/// against.
public enum FreeRun {
    public struct VCPUResult: Sendable {
        public var instructions: UInt64
        /// The outputs this vCPU produced, in its order (a bounded prefix: `keptOutputBytes`).
        public var outputs: [[UInt8]]
        public var outputCount: Int
        /// A hash over every output of this vCPU, in order.
        public var outputHash: UInt64
        public var fault: GuestFault?
        public var cpusAllowed: [Int]
    }

    /// When the threads must stop, if their guest has not halted by then: read by every thread
    /// between chunks of `chunk` instructions, settable from another thread while they run
    /// (ordering: relaxed; the deadline is a hint, and results are read after the joins).
    public final class Deadline: Sendable {
        private let nanos: Atomic<UInt64>
        public init(_ nanos: UInt64 = .max) { self.nanos = Atomic(nanos) }
        public func set(_ value: UInt64) { nanos.store(value, ordering: .relaxed) }
        public var value: UInt64 { nanos.load(ordering: .relaxed) }
    }

    /// Instructions a vCPU runs between deadline checks (a few milliseconds).
    static let chunk: UInt64 = 1 << 22

    public struct Summary: Sendable {
        public var vcpus: [VCPUResult]
        /// From the moment every thread was ready to the last vCPU's halt.
        public var wallNanos: UInt64
        public var stateHash: UInt64
        /// Guest memory alone (`Machine.memoryHash`).
        public var memoryHash: UInt64
        /// Every vCPU halted (or faulted); false when the deadline stopped them first.
        public var finished: Bool
        public var totalInstructions: UInt64 { vcpus.reduce(0) { $0 + $1.instructions } }
        public var firstFault: GuestFault? { vcpus.lazy.compactMap(\.fault).first }
        /// A vCPU thread that could not be pinned where it was asked to run, and why: its
        /// timings mean nothing.
        public var pinningFailure: String?
        /// The CPUs the vCPU threads were allowed on, as the kernel reported them.
        public var cpusUsed: [Int] { Array(Set(vcpus.flatMap(\.cpusAllowed))).sorted() }
    }

    public struct Refused: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Why `program` cannot run free, if it cannot: it uses a device (timer, DMA), which a
    /// one-thread host serves.
    public static func refusal(for program: Program) -> Refused? {
        let devices: Set<Opcode> = [.settimer, .dmapost, .wfi]
        guard let used = program.instructions.first(where: { devices.contains($0.op) }) else { return nil }
        return Refused(description: "\(program.name) uses \(used.op.mnemonic): free interleaving runs guests without devices (timer, DMA), which a one-thread host serves")
    }

    /// Output bytes kept per vCPU for the caller to print; the hash covers all of them.
    public static let keptOutputBytes = 1 << 20

    /// Runs every vCPU of `machine` to its halt (or fault), or to `deadline`, on its own thread,
    /// the threads named `<namePrefix>-vcpuN` and pinned to `cpus[N % cpus.count]` when `cpus`
    /// is given.
    public static func run(_ machine: Machine, seed: UInt64, cpus: [Int]? = nil, namePrefix: String = "free",
                           deadline: Deadline = Deadline()) throws(Refused) -> Summary {
        if let refusal = refusal(for: machine.program) { throw refusal }
        guard machine.memory.dirtyPages == nil else { throw Refused(description: "free interleaving cannot track dirty pages") }
        let count = machine.vcpuCount
        let shared = Shared(machine, count: count)
        let threads = (0..<count).map { vcpu in
            PinnedThread(cpu: cpus.map { $0[vcpu % $0.count] }, name: "\(namePrefix)-vcpu\(vcpu)") {
                shared.runVCPU(vcpu, seed: seed, deadline: deadline)
            }
        }
        threads.forEach { $0.join() }
        let end = shared.lastEnd.load(ordering: .acquiring)
        let start = shared.start.load(ordering: .acquiring)
        let results = shared.results.withLock { $0.map { $0! } }
        let unpinned = threads.lazy.compactMap { thread in thread.pinningError.map { "\(thread.name ?? "a vCPU thread"): \($0)" } }.first
        return Summary(vcpus: results, wallNanos: end > start ? end - start : 0, stateHash: machine.stateHash(),
                       memoryHash: machine.memoryHash(),
                       finished: (0..<count).allSatisfy { machine.isHalted(vcpu: $0) }, pinningFailure: unpinned)
    }

    /// What the threads share. Each thread runs only its own vCPU, whose state no other thread
    /// touches; the machine's memory is shared as the guest shares it.
    /// Orderings: the start barrier counts up with `acquiringAndReleasing` and is read with
    /// `acquiring`; `start` and `lastEnd` are published with `releasing`/`acquiringAndReleasing`
    /// and read after the joins (which order them anyway).
    private final class Shared: @unchecked Sendable {
        let machine: Machine
        let count: Int
        let ready = Atomic<Int>(0)
        let start = Atomic<UInt64>(0)
        let lastEnd = Atomic<UInt64>(0)
        /// Each thread's result, stored once as it ends.
        let results = Mutex<[VCPUResult?]>([])

        init(_ machine: Machine, count: Int) {
            self.machine = machine
            self.count = count
            results.withLock { $0 = Array(repeating: nil, count: count) }
        }

        func runVCPU(_ vcpu: Int, seed: UInt64, deadline: Deadline) {
            var random = SplitMix64(seed: seed ^ (UInt64(vcpu) &* 0x9E37_79B9_7F4A_7C15))
            var hasher = StateHasher()
            var outputs: [[UInt8]] = [], kept = 0, outputCount = 0
            var fault: GuestFault?
            let allowed = allowedCPUs()
            // Every thread starts the guest at once: the last to arrive stamps the start.
            if ready.add(1, ordering: .acquiringAndReleasing).newValue == count {
                start.store(monotonicNanos(), ordering: .releasing)
            }
            while ready.load(ordering: .acquiring) < count { cpuRelax() }
            running: while true {
                let retired = machine.instructionCount(vcpu: vcpu)
                switch machine.run(vcpu: vcpu, until: retired &+ chunk < retired ? .max : retired &+ chunk) {
                case .clockRead(let register):
                    machine.setRegister(register, to: monotonicNanos(), vcpu: vcpu)
                case .randomRead(let register):
                    machine.setRegister(register, to: random.next(), vcpu: vcpu)
                case .output(let address, let length):
                    machine.memory.withBytes(at: address, count: length) { bytes in
                        hasher.combine(bytes: bytes)
                        if kept + bytes.count <= keptOutputBytes {
                            outputs.append(Array(bytes))
                            kept += bytes.count
                        }
                    }
                    outputCount += 1
                case .reachedLimit:
                    if monotonicNanos() >= deadline.value { break running }
                case .halted, .waitingForInterrupt:
                    break running
                case .fault(let f):
                    fault = f
                    break running
                }
            }
            let end = monotonicNanos()
            var seen = lastEnd.load(ordering: .relaxed)
            while seen < end {
                let (exchanged, original) = lastEnd.compareExchange(expected: seen, desired: end, ordering: .acquiringAndReleasing)
                if exchanged { break }
                seen = original
            }
            let result = VCPUResult(instructions: machine.instructionCount(vcpu: vcpu), outputs: outputs, outputCount: outputCount,
                                       outputHash: hasher.finalize(), fault: fault, cpusAllowed: allowed)
            results.withLock { $0[vcpu] = result }
        }
    }
}
