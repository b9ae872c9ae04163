/// Superinstructions: adjacent pairs of instructions that run in one dispatch.
///
/// A pair qualifies when its first instruction falls through into the second, so that the two
/// always run together when the first runs (the second may be a transfer, which ends the
/// block). The pairs are the commonest in `ftbench exec PROGRAM --pairs 10` over the benchmark
/// programs (docs/INTERPRETER.md, "Superinstructions", gives the counts and what each bought).
///
/// Where the second instruction reads what the first wrote (the loop-closing `addi r1, r1, 1;
/// bltu r1, r2`, the accumulating `mul r3, r3, r5; add r4, r4, r3`), the pair fuses only in that
/// form (`fusedDependency`) and its handler uses the value it has just computed instead of
/// loading it back from the register file.
///
/// How the code holds them: a vCPU's copy of the code (`CodeBuffer`) replaces the first
/// instruction's opcode with the pair's and leaves the second instruction as it is, so its
/// handler reads the second's operands from the next slot, and a jump to the second runs it
/// alone. Fusing changes nothing the guest can see: the pair retires both instructions, counts
/// stay exact (blocks are charged whole at transfers; a breakpoint on the second instruction
/// unfuses the first while it stands), and a fault in the second is reported at the second with
/// the first retired.
///
/// This type says whether a machine's vCPUs fuse them (`Machine(superinstructions:)`).
public enum Superinstructions: Sendable, Equatable {
    case on
    /// Every instruction dispatches alone: what the pairs buy is `on` against this.
    case off
    /// Test-only sabotage: pairs are fused, but a breakpoint on a pair's second instruction
    /// leaves the pair whole, so a run that must stop between the two runs one instruction past
    /// its limit. The exact-count tests must catch it.
    case unsplitAtBreakpoints
}

extension Opcode {
    /// The pair a superinstruction runs, or nil for an instruction of the ISA.
    public var fusedPair: (first: Opcode, second: Opcode)? {
        switch self {
        case .addiBltu: (.addi, .bltu)
        case .addiBnei: (.addi, .bnei)
        case .addiBlti: (.addi, .blti)
        case .addiBge: (.addi, .bge)
        case .addBltu: (.add, .bltu)
        case .addiAddi: (.addi, .addi)
        case .addiCall: (.addi, .call)
        case .pushAddi: (.push, .addi)
        case .ld64Ld64: (.ld64, .ld64)
        case .mulAdd: (.mul, .add)
        case .movRet: (.mov, .ret)
        case .shliAddi: (.shli, .addi)
        case .ld64Bgeu: (.ld64, .bgeu)
        case .addXori: (.add, .xori)
        case .popPush: (.pop, .push)
        case .pushPush: (.push, .push)
        case .addiLd64: (.addi, .ld64)
        case .ld64Call: (.ld64, .call)
        case .popAdd: (.pop, .add)
        case .pushLd64: (.push, .ld64)
        case .xorMul: (.xor, .mul)
        default: nil
        }
    }

    /// Which operand of the second instruction must be the first's destination for the pair to
    /// fuse, if any. Such a pair passes the value in a host register, where two separate
    /// instructions store it to the register file and load it back (a store-to-load forwarding
    /// on the path of every loop counter and accumulator).
    var fusedDependency: FusedDependency {
        switch self {
        case .addiBltu, .addiBnei, .addiBlti, .addiBge, .addBltu, .addXori, .shliAddi, .xorMul: .secondA
        case .mulAdd, .popAdd: .secondB
        default: .none
        }
    }

    enum FusedDependency { case none, secondA, secondB }

    /// The opcode an instruction has in the program: the first of a superinstruction's pair.
    public var unfused: Opcode { fusedPair?.first ?? self }

    /// The superinstruction for `first` followed by `second`, if they form one. Asked once per
    /// instruction when a vCPU's code is built.
    static func fusing(_ first: Instruction, _ second: Instruction) -> Opcode? {
        allCases.first { op in
            guard let pair = op.fusedPair, pair == (first.op, second.op) else { return false }
            switch op.fusedDependency {
            case .none: return true
            case .secondA: return second.ra == first.rd
            case .secondB: return second.rb == first.rd
            }
        }
    }
}
