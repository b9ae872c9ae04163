/// A pre-decoded instruction: 24 bytes (20 of fields).
///
/// `target` is the branch/jump/call target as an instruction index; `imm` is the immediate or the
/// memory offset. Register fields are always below 16 (the assembler guarantees it), so the
/// interpreter indexes the register file without a bounds check.
///
/// `blockLength` is 0 in a `Program`; a vCPU's private copy of the code (`CodeBuffer`) sets it to
/// the number of instructions from this one up to and including the next transfer or trap. The
/// interpreter charges that many to the instruction count when a transfer lands here, reading it
/// from the instruction it is about to dispatch anyway (docs/INTERPRETER.md, "Exact instruction
/// counting"); the 16-byte form had no room for it.
@frozen
public struct Instruction: Equatable, Sendable {
    public var op: Opcode
    public var rd: UInt8
    public var ra: UInt8
    public var rb: UInt8
    public var target: UInt32
    public var imm: Int64
    public var blockLength: UInt32 = 0

    public init(_ op: Opcode, rd: UInt8 = 0, ra: UInt8 = 0, rb: UInt8 = 0, target: UInt32 = 0, imm: Int64 = 0, blockLength: UInt32 = 0) {
        self.op = op
        self.rd = rd
        self.ra = ra
        self.rb = rb
        self.target = target
        self.imm = imm
        self.blockLength = blockLength
    }
}

extension Instruction: CustomStringConvertible {
    /// Disassembly, derived from the operand format in the ISA table.
    public var description: String {
        let m = op.mnemonic + String(repeating: " ", count: max(0, 7 - op.mnemonic.count))
        func r(_ x: UInt8) -> String { x == UInt8(Register.stackPointer) ? "sp" : "r\(x)" }
        func offset(_ base: UInt8) -> String {
            imm == 0 ? "[\(r(base))]" : imm < 0 ? "[\(r(base)) - \(imm.magnitude)]" : "[\(r(base)) + \(imm)]"
        }
        switch op.format {
        case .none: return op.mnemonic
        case .d: return "\(m) \(r(rd))"
        case .a: return "\(m) \(r(ra))"
        case .dImm: return "\(m) \(r(rd)), \(imm)"
        case .dA: return "\(m) \(r(rd)), \(r(ra))"
        case .dAB: return "\(m) \(r(rd)), \(r(ra)), \(r(rb))"
        case .dAImm, .dAShift: return "\(m) \(r(rd)), \(r(ra)), \(imm)"
        case .load: return "\(m) \(r(rd)), \(offset(ra))"
        case .store: return "\(m) \(offset(ra)), \(r(rb))"
        case .branch: return "\(m) \(r(ra)), \(r(rb)), @\(target)"
        case .branchImm: return "\(m) \(r(ra)), \(imm), @\(target)"
        case .label: return "\(m) @\(target)"
        case .aB: return "\(m) \(r(ra)), \(r(rb))"
        case .atomic: return "\(m) \(r(rd)), [\(r(ra))], \(r(rb))"
        }
    }
}
