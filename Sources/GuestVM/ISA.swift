/// The guest instruction set, defined once.
///
/// Every opcode carries its mnemonic, operand format, instruction class and a one-line summary.
/// The assembler's mnemonic table, the listing/disassembler, the basic-block analysis used for
/// exact instruction counting and the ISA reference (`ftbench isa`, docs/ISA.md) are all derived
/// from this table, so adding an instruction means adding one case here and one handler in
/// `Machine+Interpreter.swift`.
public enum Opcode: UInt8, CaseIterable, Sendable {
    // Moves and immediates
    case li, mov, nop
    // Register-register ALU
    case add, sub, mul, divu, divs, remu, rems, and, or, xor, shl, shr, sar, slt, sltu
    // Register-immediate ALU
    case addi, muli, andi, ori, xori, shli, shri, sari, slti, sltui
    // Unary
    case not, neg
    // Loads and stores (little-endian; `s` suffix sign-extends)
    case ld8, ld16, ld32, ld64, ld8s, ld16s, ld32s, st8, st16, st32, st64
    // Compare-and-branch
    case beq, bne, blt, bge, bltu, bgeu, beqi, bnei, blti, bgei, bltui, bgeui
    // Jumps, calls and the stack (r15 is the stack pointer)
    case jmp, call, ret, push, pop
    // Shared-memory atomics (docs/ISA.md, "Memory model"; the ordered accesses `ldacq` and
    // `strel` are listed last so that adding them renumbered no opcode)
    case cas, xadd, fence
    // Interrupts and devices
    case ei, di, iret, setivec, cause, cpuid, settimer, dmapost
    // Non-deterministic instructions and stops: they trap to the host
    case rdclock, rdrand, wfi, out, halt, ud
    // Ordered accesses: load-acquire and store-release
    case ldacq, strel
    /// Not assemblable: placed by the interpreter itself to stop at an exact instruction count.
    case breakpoint
    /// Not assemblable: the sentinel after the last instruction, so running off the end faults.
    case fellOff
    // Superinstructions: not assemblable. A vCPU's copy of the code gives an instruction one of
    // these when it and the next form a pair that runs often (`Opcode.fusing`,
    // Superinstructions.swift); the pair then runs in one dispatch. Named for the pair.
    case addiBltu, addiBnei, addiBlti, addiBge, addBltu, addiAddi, addiCall, pushAddi, ld64Ld64, mulAdd, movRet, shliAddi, ld64Bgeu, addXori,
         popPush, pushPush, addiLd64, ld64Call, popAdd, pushLd64, xorMul
}

/// How an instruction's operands are written and where they are stored in `Instruction`.
public enum OperandFormat: Sendable {
    /// `halt`
    case none
    /// `rdclock rd`: destination register.
    case d
    /// `push ra`: source register.
    case a
    /// `li rd, imm64`
    case dImm
    /// `mov rd, ra`
    case dA
    /// `add rd, ra, rb`
    case dAB
    /// `addi rd, ra, imm32`
    case dAImm
    /// `shli rd, ra, 0...63`
    case dAShift
    /// `ld64 rd, [ra + imm32]`
    case load
    /// `st64 [ra + imm32], rb`
    case store
    /// `beq ra, rb, label`
    case branch
    /// `beqi ra, imm32, label`
    case branchImm
    /// `jmp label`
    case label
    /// `out ra, rb`
    case aB
    /// `cas rd, [ra], rb`
    case atomic
}

/// What an instruction does to control flow, which decides where instruction counting happens.
public enum InstructionClass: Sendable {
    /// Falls through to the next instruction.
    case straight
    /// May change the program counter (branches, jumps, calls, `ei`/`iret`, which may deliver an
    /// interrupt): the interpreter settles the instruction count and checks its budget here.
    case transfer
    /// Leaves the interpreter loop and hands control to the host (VMM).
    case trap
}

extension Opcode {
    /// The assembly mnemonic (the case name).
    public var mnemonic: String { String(describing: self) }

    /// Whether the assembler accepts this opcode.
    public var isAssemblable: Bool { self != .breakpoint && self != .fellOff && fusedPair == nil }

    public var format: OperandFormat {
        switch self {
        case .nop, .ret, .fence, .ei, .di, .iret, .wfi, .halt, .ud, .breakpoint, .fellOff: .none
        case .addiBltu, .addiBnei, .addiBlti, .addiBge, .addBltu, .addiAddi, .addiCall, .pushAddi, .ld64Ld64, .mulAdd, .movRet,
             .shliAddi, .ld64Bgeu, .addXori, .popPush, .pushPush, .addiLd64, .ld64Call, .popAdd,
             .pushLd64, .xorMul: .none
        case .cause, .cpuid, .rdclock, .rdrand, .pop: .d
        case .push, .settimer: .a
        case .li: .dImm
        case .mov, .not, .neg: .dA
        case .add, .sub, .mul, .divu, .divs, .remu, .rems, .and, .or, .xor, .shl, .shr, .sar,
             .slt, .sltu: .dAB
        case .addi, .muli, .andi, .ori, .xori, .slti, .sltui: .dAImm
        case .shli, .shri, .sari: .dAShift
        case .ld8, .ld16, .ld32, .ld64, .ld8s, .ld16s, .ld32s, .ldacq: .load
        case .st8, .st16, .st32, .st64, .strel: .store
        case .beq, .bne, .blt, .bge, .bltu, .bgeu: .branch
        case .beqi, .bnei, .blti, .bgei, .bltui, .bgeui: .branchImm
        case .jmp, .call, .setivec: .label
        case .out, .dmapost: .aB
        case .cas, .xadd: .atomic
        }
    }

    public var instructionClass: InstructionClass {
        if let (_, second) = fusedPair { return second.instructionClass }
        switch format {
        case .branch, .branchImm: return .transfer
        default: break
        }
        switch self {
        case .jmp, .call, .ret, .ei, .iret: return .transfer
        case .rdclock, .rdrand, .wfi, .out, .halt, .ud, .breakpoint, .fellOff: return .trap
        default: return .straight
        }
    }

    /// Bytes moved by a load or store.
    public var accessWidth: Int {
        switch self {
        case .ld8, .ld8s, .st8: 1
        case .ld16, .ld16s, .st16: 2
        case .ld32, .ld32s, .st32: 4
        default: 8
        }
    }

    /// One line for the ISA reference.
    public var summary: String {
        switch self {
        case .li: "rd = imm (any 64-bit value, or a label/constant expression)"
        case .mov: "rd = ra"
        case .nop: "no operation"
        case .add: "rd = ra + rb (wrapping)"
        case .sub: "rd = ra - rb (wrapping)"
        case .mul: "rd = ra * rb (wrapping, low 64 bits)"
        case .divu: "rd = ra / rb, unsigned; faults if rb = 0"
        case .divs: "rd = ra / rb, signed; faults if rb = 0; INT64_MIN / -1 = INT64_MIN"
        case .remu: "rd = ra % rb, unsigned; faults if rb = 0"
        case .rems: "rd = ra % rb, signed (sign of ra); faults if rb = 0; INT64_MIN % -1 = 0"
        case .and: "rd = ra & rb"
        case .or: "rd = ra | rb"
        case .xor: "rd = ra ^ rb"
        case .shl: "rd = ra << (rb & 63)"
        case .shr: "rd = ra >> (rb & 63), logical"
        case .sar: "rd = ra >> (rb & 63), arithmetic"
        case .slt: "rd = 1 if ra < rb (signed) else 0"
        case .sltu: "rd = 1 if ra < rb (unsigned) else 0"
        case .addi: "rd = ra + imm"
        case .muli: "rd = ra * imm"
        case .andi: "rd = ra & imm (imm sign-extended)"
        case .ori: "rd = ra | imm (imm sign-extended)"
        case .xori: "rd = ra ^ imm (imm sign-extended)"
        case .shli: "rd = ra << imm"
        case .shri: "rd = ra >> imm, logical"
        case .sari: "rd = ra >> imm, arithmetic"
        case .slti: "rd = 1 if ra < imm (signed) else 0"
        case .sltui: "rd = 1 if ra < imm (unsigned, imm sign-extended) else 0"
        case .not: "rd = ~ra"
        case .neg: "rd = -ra (wrapping)"
        case .ld8: "rd = zero-extended byte at ra + imm"
        case .ld16: "rd = zero-extended 16-bit value at ra + imm"
        case .ld32: "rd = zero-extended 32-bit value at ra + imm"
        case .ld64: "rd = 64-bit value at ra + imm"
        case .ld8s: "rd = sign-extended byte at ra + imm"
        case .ld16s: "rd = sign-extended 16-bit value at ra + imm"
        case .ld32s: "rd = sign-extended 32-bit value at ra + imm"
        case .st8: "byte at ra + imm = low 8 bits of rb"
        case .st16: "16-bit value at ra + imm = low 16 bits of rb"
        case .st32: "32-bit value at ra + imm = low 32 bits of rb"
        case .st64: "64-bit value at ra + imm = rb"
        case .beq: "branch to label if ra == rb"
        case .bne: "branch to label if ra != rb"
        case .blt: "branch to label if ra < rb (signed)"
        case .bge: "branch to label if ra >= rb (signed)"
        case .bltu: "branch to label if ra < rb (unsigned)"
        case .bgeu: "branch to label if ra >= rb (unsigned)"
        case .beqi: "branch to label if ra == imm"
        case .bnei: "branch to label if ra != imm"
        case .blti: "branch to label if ra < imm (signed)"
        case .bgei: "branch to label if ra >= imm (signed)"
        case .bltui: "branch to label if ra < imm (unsigned, imm sign-extended)"
        case .bgeui: "branch to label if ra >= imm (unsigned, imm sign-extended)"
        case .jmp: "jump to label"
        case .call: "sp -= 8; [sp] = return index; jump to label"
        case .ret: "pc = [sp]; sp += 8; faults if the popped index is not an instruction"
        case .push: "sp -= 8; [sp] = ra"
        case .pop: "rd = [sp]; sp += 8"
        case .cas: "atomically (sequentially consistent): old = [ra]; if old == rd then [ra] = rb; rd = old; ra 8-byte aligned"
        case .xadd: "atomically (sequentially consistent): old = [ra]; [ra] = old + rb; rd = old; ra 8-byte aligned"
        case .fence: "full fence: no earlier access of this vCPU is ordered after a later one"
        case .ldacq: "rd = 64-bit value at ra + imm, load-acquire: later accesses stay after it; 8-byte aligned"
        case .strel: "64-bit value at ra + imm = rb, store-release: earlier accesses stay before it; 8-byte aligned"
        case .ei: "enable interrupts; a pending one is taken before the next instruction"
        case .di: "disable interrupts"
        case .iret: "return from interrupt: pc = saved pc, interrupts enabled (a fault outside a handler)"
        case .setivec: "set this vCPU's interrupt vector to label"
        case .cause: "rd = number of the interrupt being handled (0 timer, 1 DMA)"
        case .cpuid: "rd = this vCPU's index"
        case .settimer: "timer interrupt every ra microseconds of host time (0 stops it)"
        case .dmapost: "post a receive buffer at ra of rb bytes: the next request is written there"
        case .rdclock: "rd = host clock in nanoseconds (non-deterministic: logged and replayed)"
        case .rdrand: "rd = random 64-bit value (non-deterministic: logged and replayed)"
        case .wfi: "idle until an interrupt is pending"
        case .out: "hand the buffer [ra, ra + rb) to the host as one output (a reply)"
        case .halt: "stop this vCPU"
        case .ud: "undefined instruction: always faults"
        case .breakpoint: "internal: stop at an exact instruction count"
        case .fellOff: "internal: sentinel past the last instruction"
        case .addiBltu, .addiBnei, .addiBlti, .addiBge, .addBltu, .addiAddi, .addiCall, .pushAddi, .ld64Ld64, .mulAdd, .movRet,
             .shliAddi, .ld64Bgeu, .addXori, .popPush, .pushPush, .addiLd64, .ld64Call, .popAdd,
             .pushLd64, .xorMul:
            "internal: this instruction and the next in one dispatch"
        }
    }

    /// The operand syntax for the ISA reference.
    public var syntax: String {
        let m = mnemonic
        switch format {
        case .none: return m
        case .d: return "\(m) rd"
        case .a: return "\(m) ra"
        case .dImm: return "\(m) rd, imm64"
        case .dA: return "\(m) rd, ra"
        case .dAB: return "\(m) rd, ra, rb"
        case .dAImm: return "\(m) rd, ra, imm32"
        case .dAShift: return "\(m) rd, ra, 0..63"
        case .load: return "\(m) rd, [ra + imm32]"
        case .store: return "\(m) [ra + imm32], rb"
        case .branch: return "\(m) ra, rb, label"
        case .branchImm: return "\(m) ra, imm32, label"
        case .label: return "\(m) label"
        case .aB: return "\(m) ra, rb"
        case .atomic: return "\(m) rd, [ra], rb"
        }
    }
}

/// Interrupt lines. The number is what `cause` reports and the bit in the pending mask.
public enum Interrupt: UInt8, CaseIterable, Sendable {
    case timer = 0
    case dma = 1
}

/// Register conventions used by the built-in programs and enforced by `call`/`ret`/`push`/`pop`.
public enum Register {
    public static let count = 16
    /// `r15` is the stack pointer (`sp` in assembly).
    public static let stackPointer = 15
}
