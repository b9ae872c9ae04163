import Synchronization
import Topology

/// The `free` interleaving mode: every vCPU of a machine on a host thread of its own, truly in
/// parallel, with no order recorded. What a racy guest computes then depends on the host's
/// timing; a data-race-free one (docs/ISA.md, "Memory model") computes the same as under
/// round-robin.
///
/// Free runs serve compute guests: clock and random reads are answered on the vCPU's own thread
/// (the host clock, a generator per vCPU), outputs are kept per vCPU. A program that uses
/// `settimer`, `dmapost` or `wfi` is refused: with nothing recorded, a request could not reach
/// the backup's execution where it reached the primary's. Nothing is logged, so nothing can be replayed: that is what this mode measures
/// against.
public enum FreeRun {
    public typealias VCPUResult = ParallelRun.VCPUResult
    public typealias Summary = ParallelRun.Summary

    /// When the threads must stop, if their guest has not halted by then: read by every thread
    /// between chunks of `chunk` instructions, settable from another thread while they run
    /// (ordering: relaxed; the deadline is a hint, and results are read after the joins).
    public final class Deadline: Sendable {
        private let nanos: Atomic<UInt64>
        public init(_ nanos: UInt64 = .max) { self.nanos = Atomic(nanos) }
        public func set(_ value: UInt64) { nanos.store(value, ordering: .relaxed) }
        public var value: UInt64 { nanos.load(ordering: .relaxed) }
        /// Whether it has passed (one clock read).
        public var hasPassed: Bool { monotonicNanos() >= value }
    }

    /// Instructions a vCPU runs between deadline checks (a few milliseconds).
    public static let chunk: UInt64 = 1 << 22

    public struct Refused: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Why `program` cannot run free, if it cannot: it uses a device (timer, DMA), and with
    /// nothing recorded a request could not reach the backup's execution where it reached the
    /// primary's (the `recorded` interleaving serves devices).
    public static func refusal(for program: Program) -> Refused? {
        guard let used = program.instructions.first(where: { $0.op.usesDevice }) else { return nil }
        return Refused(description: "\(program.name) uses \(used.op.mnemonic): free interleaving runs guests without devices (timer, DMA); recorded serves them")
    }

    /// Output bytes kept per vCPU for the caller to print; the hash covers all of them.
    public static let keptOutputBytes = ParallelRun.keptOutputBytes

    /// Runs every vCPU of `machine` to its halt (or fault), or to `deadline`, on its own thread,
    /// the threads named `<namePrefix>-vcpuN` and pinned to `cpus[N % cpus.count]` when `cpus`
    /// is given.
    public static func run(_ machine: Machine, seed: UInt64, cpus: [Int]? = nil, namePrefix: String = "free",
                           deadline: Deadline = Deadline()) throws(Refused) -> Summary {
        if let refusal = refusal(for: machine.program) { throw refusal }
        guard machine.memory.dirtyPages == nil else { throw Refused(description: "free interleaving cannot track dirty pages") }
        let hosts = (0..<machine.vcpuCount).map { Host(vcpu: $0, seed: seed, deadline: deadline) }
        return ParallelRun.run(machine, hosts: hosts, cpus: cpus, namePrefix: namePrefix).0
    }

    /// A free vCPU's host: clock and random reads answered on the vCPU's own thread (the host
    /// clock, a generator per vCPU), the deadline checked every `chunk` instructions.
    struct Host: VCPUHost {
        var random: SplitMix64
        let deadline: Deadline

        init(vcpu: Int, seed: UInt64, deadline: Deadline) {
            random = SplitMix64(seed: seed ^ (UInt64(vcpu) &* 0x9E37_79B9_7F4A_7C15))
            self.deadline = deadline
        }

        func limit(count: UInt64) -> UInt64 { count &+ chunk < count ? .max : count &+ chunk }
        func reachedLimit(count: UInt64) -> Bool { deadline.hasPassed }
        mutating func value(for exit: Exit, count: UInt64) -> UInt64 {
            if case .clockRead = exit { return monotonicNanos() }
            return random.next()
        }
        func output(_ bytes: UnsafeRawBufferPointer, count: UInt64) {}
        func synchronise(count: UInt64) -> GuestFault? { preconditionFailure("free runs take no synchronisation exits") }
        func ended(count: UInt64, fault: GuestFault?) {}
    }
}
