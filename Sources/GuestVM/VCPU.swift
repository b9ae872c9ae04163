/// Why `Machine.run(vcpu:until:)` returned.
public enum Exit: Equatable, Sendable {
    /// Exactly the requested number of instructions has retired.
    case reachedLimit
    /// The vCPU executed `halt`.
    case halted
    /// The vCPU executed `wfi` and no interrupt is pending.
    case waitingForInterrupt
    /// `rdclock rd` retired: the host supplies the clock value with `setRegister`.
    case clockRead(register: Int)
    /// `rdrand rd` retired: the host supplies the random value with `setRegister`.
    case randomRead(register: Int)
    /// `out ra, rb` retired: `[address, address + length)` is one output (already bounds-checked).
    case output(address: UInt64, length: UInt64)
    /// The vCPU stopped on a guest fault; it stays stopped.
    case fault(GuestFault)
    /// The next instruction synchronises (`cas`, `xadd`, `fence`, `ldacq`, `strel`, or the
    /// device-register writes `settimer` and `dmapost`: `Opcode.synchronises`) and the
    /// machine takes synchronisation exits (`Machine.synchronisingExits`): it has not run. The
    /// host performs it with `performSynchronising(vcpu:)`, inside whatever order it keeps (the
    /// `recorded` interleaving's tickets).
    case synchronise
}

/// A guest fault: the vCPU stops and reports where.
public struct GuestFault: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        case badAddress(UInt64, width: Int)
        case divideByZero
        case illegalInstruction
        case pcOutOfRange
        case badReturnAddress(UInt64)
        case noInterruptVector
        case iretOutsideHandler
        case badDMABuffer(address: UInt64, length: UInt64)
        /// An atomic or ordered access (`cas`, `xadd`, `ldacq`, `strel`) to an address that is
        /// not a multiple of 8: the host's atomics need natural alignment.
        case unalignedAtomic(UInt64)
    }

    public var kind: Kind
    public var vcpu: Int
    public var pc: Int
    /// Instructions retired before the faulting one.
    public var instructionCount: UInt64

    public init(kind: Kind, vcpu: Int, pc: Int, instructionCount: UInt64) {
        self.kind = kind
        self.vcpu = vcpu
        self.pc = pc
        self.instructionCount = instructionCount
    }

    public var description: String {
        let what: String
        switch kind {
        case .badAddress(let a, let w): what = "bad address 0x\(String(a, radix: 16)) (\(w)-byte access)"
        case .divideByZero: what = "divide by zero"
        case .illegalInstruction: what = "illegal instruction"
        case .pcOutOfRange: what = "ran past the last instruction"
        case .badReturnAddress(let a): what = "return to \(a), which is not an instruction"
        case .noInterruptVector: what = "interrupt taken with no vector set (setivec)"
        case .iretOutsideHandler: what = "iret with no interrupt being handled"
        case .badDMABuffer(let a, let n): what = "DMA buffer [0x\(String(a, radix: 16)), +\(n)) is outside memory or shorter than 8 bytes"
        case .unalignedAtomic(let a): what = "atomic access to 0x\(String(a, radix: 16)), which is not 8-byte aligned"
        }
        return "guest fault on vCPU \(vcpu) at pc \(pc) after \(instructionCount) instructions: \(what)"
    }
}

/// One virtual CPU's architectural state.
///
/// Ownership: `registers` is a 16-word allocation owned by this object, freed in `deinit`. The
/// interpreter copies the pointer into a local and reads and writes registers through it during a
/// run; the other fields are written back when the run returns. Single-threaded: a vCPU runs on
/// one host thread at a time, and the host only changes its state between runs.
final class VCPUState {
    let index: Int
    let registers: UnsafeMutablePointer<UInt64>
    let code: CodeBuffer
    var pc: Int
    var retired: UInt64 = 0
    var interruptsEnabled = false
    /// Bit n set: interrupt n is pending.
    var pending: UInt8 = 0
    /// Where `iret` returns to, or -1 while no interrupt is being handled.
    var savedPC = -1
    var cause: UInt64 = 0
    /// Interrupt vector (an instruction index), or -1 before `setivec`.
    var vector = -1
    var waiting = false
    var halted = false
    /// Synchronising instructions exit to the host instead of running (`Exit.synchronise`).
    var synchronisingExits = false
    var fault: GuestFault?

    /// On entry r0 holds the vCPU's index and r1 the number of vCPUs; sp is the top of its stack.
    init(index: Int, count: Int, program: Program, stackTop: UInt64, superinstructions: Superinstructions) {
        self.index = index
        code = CodeBuffer(program.instructions, superinstructions: superinstructions)
        pc = program.entry
        registers = .allocate(capacity: Register.count)
        registers.initialize(repeating: 0, count: Register.count)
        registers[0] = UInt64(index)
        registers[1] = UInt64(count)
        registers[Register.stackPointer] = stackTop
    }

    deinit { registers.deallocate() }

    /// Sets register `r` (its low four bits name it): how the host answers a clock or random read.
    @inline(__always)
    func setRegister(_ r: Int, to value: UInt64) { registers[r & 15] = value }

    func hash(into hasher: inout StateHasher) {
        hasher.combine(bytes: UnsafeRawBufferPointer(start: registers, count: Register.count * 8))
        hasher.combine(UInt64(bitPattern: Int64(pc)))
        hasher.combine(retired)
        hasher.combine((interruptsEnabled ? 1 : 0) | UInt64(pending) << 8 | (waiting ? 1 << 16 : 0) | (halted ? 1 << 17 : 0))
        hasher.combine(UInt64(bitPattern: Int64(savedPC)))
        hasher.combine(cause)
        hasher.combine(UInt64(bitPattern: Int64(vector)))
    }
}

/// A vCPU's private copy of the pre-decoded program, with every instruction's `blockLength` set
/// (what makes exact instruction counting cheap) and its superinstructions fused
/// (Superinstructions.swift).
///
/// Ownership: `instructions` (count + 1 entries, the last a `fellOff` sentinel) is owned by this
/// object and freed in `deinit`. The copy is private so that the interpreter can plant a
/// `breakpoint` at the exact instruction where a run must stop and restore it afterwards,
/// without affecting other vCPUs.
///
/// Non-copyable, held inline by its `VCPUState`: reading it borrows, where a class reference had
/// to be retained and released around every `Machine.run` (two of the four atomic reference-count
/// operations per guest exit replaying `nondet`, callgrind).
struct CodeBuffer: ~Copyable {
    let count: Int
    let instructions: UnsafeMutablePointer<Instruction>
    private let superinstructions: Superinstructions

    init(_ program: [Instruction], superinstructions: Superinstructions) {
        self.superinstructions = superinstructions
        count = program.count
        instructions = .allocate(capacity: count + 1)
        instructions.initialize(from: program, count: count)
        (instructions + count).initialize(to: Instruction(.fellOff))
        var next: UInt32 = 1
        for i in stride(from: count, through: 0, by: -1) {
            next = instructions[i].op.instructionClass == .straight ? next + 1 : 1
            instructions[i].blockLength = next
        }
        // Every qualifying pair is fused, overlapping ones too: the second of a pair keeps its
        // own superinstruction, which runs when a jump lands on it.
        for i in 0..<max(count - 1, 0) {
            if let fused = fusing(at: i) { instructions[i].op = fused }
        }
    }

    /// The superinstruction for the instruction at `pc` and the next, if they form one.
    private func fusing(at pc: Int) -> Opcode? {
        guard superinstructions != .off else { return nil }
        guard instructions[pc].op.instructionClass == .straight else { return nil }
        return Opcode.fusing(instructions[pc], instructions[pc + 1])
    }

    /// Instructions from `pc` up to and including the next transfer or trap.
    func blockLength(at pc: Int) -> UInt64 { UInt64(instructions[pc].blockLength) }

    /// What `plantBreakpoint` replaced: the instruction, and the opcode of the one before it.
    struct Planted {
        var original: Instruction
        var opcodeBefore: Opcode
    }

    /// Plants a `breakpoint` at `pc` (keeping the block length there), returning what it replaced.
    /// A superinstruction just before it is split while it stands, so that it cannot run past it.
    func plantBreakpoint(at pc: Int) -> Planted {
        let original = instructions[pc]
        instructions[pc] = Instruction(.breakpoint, blockLength: original.blockLength)
        guard pc > 0 else { return Planted(original: original, opcodeBefore: .nop) }
        let before = instructions[pc - 1].op
        if superinstructions != .unsplitAtBreakpoints { instructions[pc - 1].op = before.unfused }
        return Planted(original: original, opcodeBefore: before)
    }

    /// Puts back what `plantBreakpoint(at: pc)` replaced.
    func removeBreakpoint(at pc: Int, _ planted: Planted) {
        instructions[pc] = planted.original
        if pc > 0 { instructions[pc - 1].op = planted.opcodeBefore }
    }

    deinit { instructions.deallocate() }
}
