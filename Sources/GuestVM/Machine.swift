/// A guest machine: one program, one shared memory, N vCPUs and the devices.
///
/// The host (a standalone runner, or later the primary and backup VMMs) drives it: it runs a vCPU
/// up to an exact instruction count, reacts to the exit (supplies clock and random values, takes
/// outputs), and injects interrupts and DMA between runs. Everything that is not an input from the
/// host is deterministic, so the same program and the same inputs at the same instruction counts
/// give the same `stateHash()`.
///
/// A host drives the vCPUs of one machine either on one thread (`drive`), interleaved at
/// instruction counts it chooses, a choice that is an input like any other (logged for replay),
/// or each on a thread of its own (`FreeRun`), in parallel and unrecorded. A vCPU's own state is
/// only ever touched by the thread running it.
public final class Machine {
    public let program: Program
    public let memory: GuestMemory
    let cpus: [VCPUState]
    public internal(set) var devices = DeviceState()

    /// The version of the guest's semantics: what each instruction does, when it faults and how
    /// instructions are counted (docs/ISA.md). A log recorded under one version replays only
    /// under the same one, so traces record it; bump it with any change a recorded log could
    /// observe.
    public static let isaVersion: UInt32 = 2

    public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
        case badVCPUCount(Int)
        case memoryTooSmall(requested: Int, needed: Int)
        case memoryTooLarge(Int)

        public var description: String {
            switch self {
            case .badVCPUCount(let n): "vCPU count \(n) is out of range 1...64"
            case .memoryTooSmall(let requested, let needed):
                "guest memory of \(requested) bytes is too small: the program's data and stacks need \(needed)"
            case .memoryTooLarge(let n): "guest memory of \(n) bytes exceeds the 4 GiB limit"
            }
        }
    }

    /// - Parameters:
    ///   - memorySize: bytes of guest memory; defaults to what the program asks for.
    ///   - memoryNode: the NUMA node to place guest memory on (nil: not placed).
    ///   - superinstructions: whether the vCPUs' code runs common pairs in one dispatch
    ///     (Superinstructions.swift); `.off` measures what they buy.
    public init(program: Program, vcpus: Int = 1, memorySize: Int? = nil, memoryNode: Int? = nil,
                superinstructions: Superinstructions = .on) throws(ConfigurationError) {
        let size = try Self.memorySize(for: program, vcpus: vcpus, requested: memorySize)
        self.program = program
        memory = GuestMemory(size: size, node: memoryNode)
        for segment in program.data {
            memory.write(segment.bytes, at: UInt64(segment.address))
        }
        cpus = (0..<vcpus).map {
            VCPUState(index: $0, count: vcpus, program: program, stackTop: UInt64(size - $0 * Program.stackSize),
                      superinstructions: superinstructions)
        }
    }

    /// The guest memory a machine for `program` gets, or the reason it cannot be built: checked
    /// without allocating, so that `asm` can refuse what `exec` and `run` would.
    public static func memorySize(for program: Program, vcpus: Int, requested: Int? = nil) throws(ConfigurationError) -> Int {
        guard (1...64).contains(vcpus) else { throw .badVCPUCount(vcpus) }
        let size = requested ?? program.minimumMemory
        guard size <= 1 << 32 else { throw .memoryTooLarge(size) }
        let dataEnd = program.data.map { $0.address + $0.bytes.count }.max() ?? 0
        let needed = max(dataEnd, Program.dataOrigin) + vcpus * Program.stackSize
        guard size >= needed else { throw .memoryTooSmall(requested: size, needed: needed) }
        return size
    }

    public var vcpuCount: Int { cpus.count }

    /// Whether synchronising instructions leave the interpreter (`Exit.synchronise`) for the
    /// host to perform in its order, rather than running in place. Set before the vCPUs run.
    public var synchronisingExits: Bool {
        get { cpus.first?.synchronisingExits ?? false }
        set { cpus.forEach { $0.synchronisingExits = newValue } }
    }

    public func instructionCount(vcpu: Int) -> UInt64 { cpus[vcpu].retired }

    /// Instructions retired over every vCPU.
    public var totalInstructions: UInt64 { cpus.reduce(0) { $0 + $1.retired } }

    public func pc(vcpu: Int) -> Int { cpus[vcpu].pc }
    public func isHalted(vcpu: Int) -> Bool { cpus[vcpu].halted || cpus[vcpu].fault != nil }
    public func isWaiting(vcpu: Int) -> Bool { cpus[vcpu].waiting && cpus[vcpu].pending == 0 }
    public func fault(vcpu: Int) -> GuestFault? { cpus[vcpu].fault }
    public var allHalted: Bool { cpus.allSatisfy { $0.halted || $0.fault != nil } }

    public func register(_ r: Int, vcpu: Int = 0) -> UInt64 { cpus[vcpu].registers[r & 15] }

    /// Sets a register: how the host answers `clockRead`/`randomRead` exits.
    public func setRegister(_ r: Int, to value: UInt64, vcpu: Int = 0) {
        cpus[vcpu].setRegister(r, to: value)
    }

    /// Makes `interrupt` pending on `vcpu`. It is taken before the vCPU's next instruction if
    /// interrupts are enabled, otherwise when the guest enables them; it ends a `wfi`.
    public func raise(_ interrupt: Interrupt, vcpu: Int = 0) {
        cpus[vcpu].pending |= 1 << interrupt.rawValue
    }

    public enum DMAResult: Equatable, Sendable {
        /// Written into the posted buffer; `.dma` is now pending on `vcpu`.
        case delivered(vcpu: Int)
        /// The guest has no receive buffer posted: the host keeps the request queued.
        case noBufferPosted
        /// The request is longer than the posted buffer's payload area.
        case tooLarge(capacity: Int)
    }

    /// The DMA device: writes the request's length (64-bit) at the posted address and its bytes
    /// after it, consumes the posting and raises `.dma` on the vCPU that posted the buffer.
    @discardableResult
    public func deliverDMA(_ request: UnsafeRawBufferPointer) -> DMAResult {
        guard let posted = devices.dmaBuffer else { return .noBufferPosted }
        let capacity = Int(posted.length) - 8
        guard request.count <= capacity else { return .tooLarge(capacity: capacity) }
        memory.store64(UInt64(request.count), at: posted.address)
        memory.write(request, at: posted.address + 8)
        devices.dmaBuffer = nil
        raise(.dma, vcpu: posted.vcpu)
        return .delivered(vcpu: posted.vcpu)
    }

    @discardableResult
    public func deliverDMA(_ request: [UInt8]) -> DMAResult {
        request.withUnsafeBytes { deliverDMA($0) }
    }

    /// A hash of guest memory alone: what two executions of a data-race-free guest that were not
    /// kept in step (free interleaving) still end with, though their vCPUs spun different
    /// numbers of instructions.
    public func memoryHash() -> UInt64 {
        var hasher = StateHasher()
        memory.hash(into: &hasher)
        return hasher.finalize()
    }

    /// A hash of everything that must be equal on a primary and its backup: every vCPU's
    /// architectural state, the devices and all of guest memory.
    public func stateHash() -> UInt64 {
        var hasher = StateHasher()
        for cpu in cpus { cpu.hash(into: &hasher) }
        devices.hash(into: &hasher)
        memory.hash(into: &hasher)
        return hasher.finalize()
    }
}

/// Guest-visible device registers, set by `settimer` and `dmapost`.
public struct DeviceState: Equatable, Sendable {
    public struct DMABuffer: Equatable, Sendable {
        public var address: UInt64
        public var length: UInt64
        public var vcpu: Int

        public init(address: UInt64, length: UInt64, vcpu: Int) {
            self.address = address
            self.length = length
            self.vcpu = vcpu
        }
    }

    /// Timer period in microseconds of host time; 0 when stopped. The host delivers the ticks.
    public var timerPeriodMicros: UInt64 = 0
    /// The vCPU that set the timer: ticks are raised there.
    public var timerVCPU = 0
    /// The receive buffer the guest posted, if any.
    public var dmaBuffer: DMABuffer?

    func hash(into hasher: inout StateHasher) {
        hasher.combine(timerPeriodMicros)
        hasher.combine(UInt64(timerVCPU))
        hasher.combine(dmaBuffer.map { $0.address } ?? .max)
        hasher.combine(dmaBuffer.map { $0.length ^ UInt64($0.vcpu) << 56 } ?? .max)
    }
}
