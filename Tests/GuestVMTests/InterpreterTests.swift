import GuestVM
import Topology
import Testing

/// The interpreter (`Machine.run(vcpu:until:)`): instruction semantics, exact stops and faults.
@Suite("Interpreter")
struct InterpreterTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var op: Opcode
        var source: String
        var r1: UInt64
        var testDescription: String { "\(op.mnemonic): \(source.split(separator: "\n").last ?? "")" }
    }

    static let neg5 = UInt64(bitPattern: -5)

    /// Each case leaves its result in r1 and must end in `halt`.
    static let cases: [Case] = [
        .init(op: .li, source: "li r1, -2", r1: UInt64(bitPattern: -2)),
        .init(op: .mov, source: "li r2, 42\nmov r1, r2", r1: 42),
        .init(op: .nop, source: "li r1, 3\nnop", r1: 3),
        .init(op: .add, source: "li r2, -1\nli r3, 2\nadd r1, r2, r3", r1: 1),
        .init(op: .sub, source: "li r2, 0\nli r3, 1\nsub r1, r2, r3", r1: .max),
        .init(op: .mul, source: "li r2, 0x100000000\nli r3, 0x100000001\nmul r1, r2, r3", r1: 0x1_0000_0000),
        .init(op: .divu, source: "li r2, -1\nli r3, 2\ndivu r1, r2, r3", r1: UInt64.max / 2),
        .init(op: .divs, source: "li r2, -7\nli r3, 2\ndivs r1, r2, r3", r1: UInt64(bitPattern: -3)),
        .init(op: .divs, source: "li r2, -9223372036854775808\nli r3, -1\ndivs r1, r2, r3", r1: UInt64(bitPattern: Int64.min)),
        .init(op: .remu, source: "li r2, 17\nli r3, 5\nremu r1, r2, r3", r1: 2),
        .init(op: .rems, source: "li r2, -7\nli r3, 2\nrems r1, r2, r3", r1: UInt64(bitPattern: -1)),
        .init(op: .rems, source: "li r2, -9223372036854775808\nli r3, -1\nrems r1, r2, r3", r1: 0),
        .init(op: .and, source: "li r2, 0b1100\nli r3, 0b1010\nand r1, r2, r3", r1: 0b1000),
        .init(op: .or, source: "li r2, 0b1100\nli r3, 0b1010\nor r1, r2, r3", r1: 0b1110),
        .init(op: .xor, source: "li r2, 0b1100\nli r3, 0b1010\nxor r1, r2, r3", r1: 0b0110),
        .init(op: .shl, source: "li r2, 3\nli r3, 65\nshl r1, r2, r3", r1: 6),
        .init(op: .shr, source: "li r2, -1\nli r3, 60\nshr r1, r2, r3", r1: 15),
        .init(op: .sar, source: "li r2, -16\nli r3, 2\nsar r1, r2, r3", r1: UInt64(bitPattern: -4)),
        .init(op: .slt, source: "li r2, -1\nli r3, 1\nslt r1, r2, r3", r1: 1),
        .init(op: .sltu, source: "li r2, -1\nli r3, 1\nsltu r1, r2, r3", r1: 0),
        .init(op: .addi, source: "li r2, 10\naddi r1, r2, -11", r1: .max),
        .init(op: .muli, source: "li r2, 7\nmuli r1, r2, -3", r1: UInt64(bitPattern: -21)),
        .init(op: .andi, source: "li r2, -1\nandi r1, r2, 0x7F", r1: 0x7F),
        .init(op: .ori, source: "li r2, 0x10\nori r1, r2, -256", r1: UInt64(bitPattern: -240)),
        .init(op: .xori, source: "li r2, 0xFF\nxori r1, r2, 0x0F", r1: 0xF0),
        .init(op: .shli, source: "li r2, 1\nshli r1, r2, 63", r1: 1 << 63),
        .init(op: .shri, source: "li r2, -1\nshri r1, r2, 63", r1: 1),
        .init(op: .sari, source: "li r2, -1\nshli r2, r2, 63\nsari r1, r2, 63", r1: .max),
        .init(op: .slti, source: "li r2, -5\nslti r1, r2, -4", r1: 1),
        .init(op: .sltui, source: "li r2, 5\nsltui r1, r2, -1", r1: 1),
        .init(op: .not, source: "li r2, 0\nnot r1, r2", r1: .max),
        .init(op: .neg, source: "li r2, 5\nneg r1, r2", r1: neg5),
        .init(op: .ld8, source: "li r2, 0x2000\nli r3, 0x1FF\nst16 [r2], r3\nld8 r1, [r2 + 1]", r1: 1),
        .init(op: .ld8s, source: "li r2, 0x2000\nli r3, 0xF0\nst8 [r2], r3\nld8s r1, [r2]", r1: UInt64(bitPattern: -16)),
        .init(op: .ld16, source: "li r2, 0x2000\nli r3, 0x12345678\nst32 [r2], r3\nld16 r1, [r2 + 2]", r1: 0x1234),
        .init(op: .ld16s, source: "li r2, 0x2000\nli r3, 0x8000\nst16 [r2], r3\nld16s r1, [r2]", r1: UInt64(bitPattern: -32768)),
        .init(op: .ld32, source: "li r2, 0x2000\nli r3, -1\nst64 [r2], r3\nld32 r1, [r2 + 4]", r1: 0xFFFF_FFFF),
        .init(op: .ld32s, source: "li r2, 0x2000\nli r3, 0x80000000\nst32 [r2], r3\nld32s r1, [r2]", r1: UInt64(bitPattern: -2_147_483_648)),
        .init(op: .ld64, source: "li r2, 0x2003\nli r3, 0x0102030405060708\nst64 [r2 - 3], r3\nld64 r1, [r2 - 3]", r1: 0x0102_0304_0506_0708),
        .init(op: .st8, source: "li r2, 0x2000\nli r3, 0x1234\nst8 [r2], r3\nld64 r1, [r2]", r1: 0x34),
        .init(op: .st16, source: "li r2, 0x2000\nli r3, 0x123456\nst16 [r2], r3\nld64 r1, [r2]", r1: 0x3456),
        .init(op: .st32, source: "li r2, 0x2000\nli r3, 0x123456789\nst32 [r2], r3\nld64 r1, [r2]", r1: 0x2345_6789),
        .init(op: .st64, source: "li r2, 0x2001\nli r3, -2\nst64 [r2], r3\nld8 r1, [r2 + 7]", r1: 0xFF),
        .init(op: .beq, source: "li r1, 1\nli r2, 4\nli r3, 4\nbeq r2, r3, t\nli r1, 9\nt: nop", r1: 1),
        .init(op: .bne, source: "li r1, 1\nli r2, 4\nli r3, 4\nbne r2, r3, t\nli r1, 9\nt: nop", r1: 9),
        .init(op: .blt, source: "li r1, 1\nli r2, -1\nli r3, 0\nblt r2, r3, t\nli r1, 9\nt: nop", r1: 1),
        .init(op: .bge, source: "li r1, 1\nli r2, -1\nli r3, 0\nbge r2, r3, t\nli r1, 9\nt: nop", r1: 9),
        .init(op: .bltu, source: "li r1, 1\nli r2, -1\nli r3, 0\nbltu r2, r3, t\nli r1, 9\nt: nop", r1: 9),
        .init(op: .bgeu, source: "li r1, 1\nli r2, -1\nli r3, 0\nbgeu r2, r3, t\nli r1, 9\nt: nop", r1: 1),
        .init(op: .beqi, source: "li r1, 1\nli r2, -3\nbeqi r2, -3, t\nli r1, 9\nt: nop", r1: 1),
        .init(op: .bnei, source: "li r1, 1\nli r2, -3\nbnei r2, -3, t\nli r1, 9\nt: nop", r1: 9),
        .init(op: .blti, source: "li r1, 1\nli r2, -3\nblti r2, 0, t\nli r1, 9\nt: nop", r1: 1),
        .init(op: .bgei, source: "li r1, 1\nli r2, -3\nbgei r2, 0, t\nli r1, 9\nt: nop", r1: 9),
        .init(op: .bltui, source: "li r1, 1\nli r2, -3\nbltui r2, 0, t\nli r1, 9\nt: nop", r1: 9),
        .init(op: .bgeui, source: "li r1, 1\nli r2, -3\nbgeui r2, -4, t\nli r1, 9\nt: nop", r1: 1),
        .init(op: .jmp, source: "li r1, 1\njmp t\nli r1, 9\nt: nop", r1: 1),
        .init(op: .call, source: "li r1, 1\ncall f\naddi r1, r1, 10\njmp end\nf: addi r1, r1, 100\nret\nend: nop", r1: 111),
        .init(op: .ret, source: "call f\nli r1, 5\njmp end\nf: ret\nend: nop", r1: 5),
        .init(op: .push, source: "li r2, 77\npush r2\nld64 r1, [sp]", r1: 77),
        .init(op: .pop, source: "li r2, 77\npush r2\nli r2, 0\npop r1\nmov r3, sp\nli r4, 0x400000\nbeq r3, r4, t\nli r1, 0\nt: nop", r1: 77),
        .init(op: .cas, source: "li r2, 0x2000\nli r3, 5\nst64 [r2], r3\nli r1, 5\nli r4, 8\ncas r1, [r2], r4\nld64 r5, [r2]\nadd r1, r1, r5", r1: 13),
        .init(op: .cas, source: "li r2, 0x2000\nli r3, 5\nst64 [r2], r3\nli r1, 6\nli r4, 8\ncas r1, [r2], r4\nld64 r5, [r2]\nadd r1, r1, r5", r1: 10),
        .init(op: .xadd, source: "li r2, 0x2000\nli r3, 5\nst64 [r2], r3\nli r4, 3\nxadd r1, [r2], r4\nld64 r5, [r2]\nmuli r1, r1, 100\nadd r1, r1, r5", r1: 508),
        .init(op: .fence, source: "li r1, 4\nfence", r1: 4),
        .init(op: .ldacq, source: "li r2, 0x2000\nli r3, 41\nst64 [r2 + 8], r3\nldacq r1, [r2 + 8]", r1: 41),
        .init(op: .strel, source: "li r2, 0x2000\nli r3, 42\nstrel [r2 + 8], r3\nld64 r1, [r2 + 8]", r1: 42),
        .init(op: .cpuid, source: "li r1, 4\ncpuid r1", r1: 0),
        .init(op: .di, source: "li r1, 4\ndi", r1: 4),
    ]

    @Test("instruction semantics", arguments: cases)
    func semantics(_ c: Case) throws {
        let (machine, exit) = try runToExit(c.source + "\nhalt")
        #expect(exit == .halted)
        #expect(machine.register(1) == c.r1)
    }

    /// Adding an instruction without a semantic test fails here. Interrupt, device and trap
    /// instructions are covered by MachineTests.
    @Test("every computational instruction has a semantic test")
    func coverage() {
        let covered = Set(Self.cases.map(\.op))
        let system: Set<Opcode> = [.ei, .iret, .setivec, .cause, .settimer, .dmapost, .rdclock, .rdrand, .wfi, .out, .halt, .ud]
        let missing = Opcode.allCases.filter { $0.isAssemblable && !covered.contains($0) && !system.contains($0) }
        #expect(missing.isEmpty, "no semantic test for \(missing.map(\.mnemonic))")
    }

    static let countdown = """
        li r1, 10
        .l: addi r1, r1, -1
        bnei r1, 0, .l
        halt
        """

    @Test("instruction counting is exact: a halted run retires every instruction once")
    func exactCount() throws {
        let (machine, exit) = try runToExit(Self.countdown)
        #expect(exit == .halted)
        #expect(machine.instructionCount(vcpu: 0) == 1 + 2 * 10 + 1)
    }

    @Test("run(until:) stops at exactly N, inside blocks and at their ends", arguments: [0, 1, 2, 3, 4, 5, 11, 20, 21])
    func stopsAtN(_ n: Int) throws {
        let machine = try Machine(program: try assemble(Self.countdown))
        #expect(machine.run(vcpu: 0, until: UInt64(n)) == .reachedLimit)
        #expect(machine.instructionCount(vcpu: 0) == UInt64(n))
        #expect(machine.run(vcpu: 0, until: .max) == .halted)
        #expect(machine.instructionCount(vcpu: 0) == 22)
    }

    /// Stopping and resuming at arbitrary counts must not change anything: the final count and
    /// state hash equal those of one uninterrupted run, for every built-in single-vCPU program
    /// that needs no input.
    @Test("stop-and-resume at random counts is invisible", arguments: ["fib", "loop"])
    func stopResume(_ name: String) throws {
        var source = try #require(BuiltinPrograms.named(name)).source
        source = source.replacingOccurrences(of: ".const N = 32", with: ".const N = 18")
            .replacingOccurrences(of: ".const ITERATIONS = 100000000", with: ".const ITERATIONS = 20000")
        let program = try assemble(source)
        let reference = try Machine(program: program)
        #expect(reference.run(vcpu: 0, until: .max) == .output(address: reference.register(2), length: reference.register(4)))
        #expect(reference.run(vcpu: 0, until: .max) == .halted)
        var rng = SplitMix64(seed: 7)
        let machine = try Machine(program: program)
        var stops = 0
        while !machine.isHalted(vcpu: 0) {
            let target = machine.instructionCount(vcpu: 0) + 1 + rng.next() % 97
            let exit = machine.run(vcpu: 0, until: target)
            if exit == .reachedLimit {
                #expect(machine.instructionCount(vcpu: 0) == target)
                stops += 1
            }
        }
        #expect(stops > 100)
        #expect(machine.instructionCount(vcpu: 0) == reference.instructionCount(vcpu: 0))
        #expect(machine.stateHash() == reference.stateHash())
    }

    struct FaultCase: CustomTestStringConvertible, Sendable {
        var source: String
        var kind: GuestFault.Kind
        var pc: Int
        var count: UInt64
        var testDescription: String { "\(kind)" }
    }

    static let faults: [FaultCase] = [
        .init(source: "li r2, 0x400000\nld64 r1, [r2 - 7]", kind: .badAddress(0x3F_FFF9, width: 8), pc: 1, count: 1),
        .init(source: "li r2, -1\nst8 [r2], r2", kind: .badAddress(UInt64.max, width: 1), pc: 1, count: 1),
        .init(source: "li r1, 1\nli r2, 0\nnop\ndivu r3, r1, r2", kind: .divideByZero, pc: 3, count: 3),
        .init(source: "li r1, 1\nrems r3, r1, r0", kind: .divideByZero, pc: 1, count: 1),
        .init(source: "nop\nud", kind: .illegalInstruction, pc: 1, count: 1),
        .init(source: "li r1, 1\nnop", kind: .pcOutOfRange, pc: 2, count: 2),
        .init(source: "li r1, 99\npush r1\nret", kind: .badReturnAddress(99), pc: 2, count: 2),
        .init(source: "li sp, 4\npush r1", kind: .badAddress(UInt64.max - 3, width: 8), pc: 1, count: 1),
        .init(source: "li r1, 4\nli r2, 4\ndmapost r1, r2", kind: .badDMABuffer(address: 4, length: 4), pc: 2, count: 2),
        .init(source: "li r1, 0x3FFFF0\nli r2, 32\nout r1, r2", kind: .badAddress(0x3F_FFF0, width: 32), pc: 2, count: 2),
        // Atomics and ordered accesses need 8-byte alignment (ISA version 2).
        .init(source: "li r2, 0x2004\ncas r1, [r2], r3", kind: .unalignedAtomic(0x2004), pc: 1, count: 1),
        .init(source: "li r2, 0x2001\nxadd r1, [r2], r3", kind: .unalignedAtomic(0x2001), pc: 1, count: 1),
        .init(source: "li r2, 0x2000\nldacq r1, [r2 + 2]", kind: .unalignedAtomic(0x2002), pc: 1, count: 1),
        .init(source: "li r2, 0x2000\nstrel [r2 + 12], r1", kind: .unalignedAtomic(0x200C), pc: 1, count: 1),
        .init(source: "li r2, 0x3FFFF8\nstrel [r2 + 8], r1", kind: .badAddress(0x40_0000, width: 8), pc: 1, count: 1),
    ]

    @Test("guest faults stop the vCPU and report pc and instruction count", arguments: faults)
    func fault(_ f: FaultCase) throws {
        let (machine, exit) = try runToExit(f.source)
        let expected = GuestFault(kind: f.kind, vcpu: 0, pc: f.pc, instructionCount: f.count)
        #expect(exit == .fault(expected))
        #expect(machine.isHalted(vcpu: 0))
        #expect(machine.run(vcpu: 0, until: .max) == .fault(expected), "a faulted vCPU stays faulted")
        #expect(expected.description.contains("at pc \(f.pc) after \(f.count) instructions"))
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
