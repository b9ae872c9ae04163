import GuestVM
import Topology
import Testing

@Suite("Assembler")
struct AssemblerTests {
    @Test("labels, local labels, constants, expressions and data directives")
    func syntax() throws {
        let program = try assemble("""
            ; a comment
            .const BASE = 0x10        # another comment
            .const SIZE = BASE * 2 + (3 - 1)
            .data
            .org 0x2000
            bytes:  .u8 1, 2, 'A', -1
            .align 8
            words:  .u64 SIZE, later, -1
            text:   .asciz "hi\\n\\x41"
            gap:    .zero 5
            after:  .u16 0xFFFF
            .text
            .entry main
            helper:
                ret
            main:
                li r1, SIZE
            .loop:
                addi r1, r1, -1
                bnei r1, 0, .loop
                li r2, words
                ld64 r3, [r2 + 8]
                st8 [sp - 1], r3
                call helper
                halt
            later:
                jmp main.loop
            """)
        #expect(program.entry == 1)
        #expect(program.instructions.count == 10)
        #expect(program.symbols["SIZE"] == .value(34))
        #expect(program.symbols["bytes"] == .value(0x2000))
        #expect(program.symbols["words"] == .value(0x2008))
        #expect(program.symbols["text"] == .value(0x2020))
        #expect(program.symbols["gap"] == .value(0x2025))
        #expect(program.symbols["after"] == .value(0x202A))
        #expect(program.symbols["main.loop"] == .code(2))
        #expect(program.instructions[3].target == 2)
        #expect(program.instructions[9] == Instruction(.jmp, target: 2))
        #expect(program.instructions[5] == Instruction(.ld64, rd: 3, ra: 2, imm: 8))
        #expect(program.instructions[6] == Instruction(.st8, ra: 15, rb: 3, imm: -1))
        let machine = try Machine(program: program)
        #expect(machine.memory.bytes(at: 0x2000, count: 4) == [1, 2, 65, 255])
        #expect(machine.memory.load64(at: 0x2008) == 34)
        #expect(machine.memory.load64(at: 0x2010) == 9)  // `later`, a code label, is its index
        #expect(machine.memory.load64(at: 0x2018) == UInt64.max)
        #expect(machine.memory.bytes(at: 0x2020, count: 5) == [0x68, 0x69, 0x0A, 0x41, 0])
        #expect(machine.memory.bytes(at: 0x202A, count: 2) == [0xFF, 0xFF])
    }

    @Test("64-bit immediates: the full unsigned range and wrapping arithmetic")
    func immediates() throws {
        let program = try assemble("""
            li r1, 0xFFFF_FFFF_FFFF_FFFF
            li r2, -9223372036854775808
            li r3, 0b1010
            li r4, 1 - 2
            halt
            """)
        #expect(program.instructions[0].imm == -1)
        #expect(program.instructions[1].imm == Int64.min)
        #expect(program.instructions[2].imm == 10)
        #expect(program.instructions[3].imm == -1)
    }

    struct BadInput: CustomTestStringConvertible, Sendable {
        var source: String
        var line: Int
        var column: Int
        var message: String
        var testDescription: String { message }
    }

    static let badInputs: [BadInput] = [
        .init(source: "halt\nfrobnicate r1", line: 2, column: 1, message: "unknown mnemonic 'frobnicate'"),
        .init(source: "add r1, r2, r16", line: 1, column: 13, message: "expected a register (r0-r15 or sp), found 'r16'"),
        .init(source: "add r1, r2, 5", line: 1, column: 13, message: "expected a register (r0-r15 or sp), found '5'"),
        .init(source: "mov r01, r2", line: 1, column: 5, message: "expected a register (r0-r15 or sp), found 'r01'"),
        .init(source: "halt\n  jmp nowhere", line: 2, column: 7, message: "undefined label 'nowhere'"),
        .init(source: "li r1, missing + 1", line: 1, column: 8, message: "undefined symbol 'missing'"),
        .init(source: "addi r1, r1, 0x80000000", line: 1, column: 14, message: "immediate 2147483648 is out of range for a 32-bit signed field"),
        .init(source: "shli r1, r1, 64", line: 1, column: 14, message: "shift amount 64 is out of range 0...63"),
        .init(source: "ld64 r1, [r2 + 0x1_0000_0000]", line: 1, column: 14, message: "offset 4294967296 is out of range for a 32-bit signed field"),
        .init(source: "li r1, 18446744073709551616", line: 1, column: 8, message: "number does not fit in 64 bits"),
        .init(source: "li r1, 12ab", line: 1, column: 8, message: "malformed number: 'a' is not a base-10 digit"),
        .init(source: "halt\n\u{1}\u{2}", line: 2, column: 1, message: "unexpected byte 0x1 (not assembly text)"),
        .init(source: "halt $", line: 1, column: 6, message: "unexpected character '$'"),
        .init(source: ".data\ns: .ascii \"open", line: 2, column: 11, message: "unterminated literal"),
        .init(source: "x: halt\nx: halt", line: 2, column: 1, message: "label 'x' is defined twice"),
        .init(source: "add r1, r2", line: 1, column: 11, message: "expected ',', found end of line"),
        .init(source: "halt r1", line: 1, column: 6, message: "unexpected 'r1' after the operands"),
        .init(source: "beq r1, r2, data\n.data\ndata: .u8 0", line: 1, column: 13, message: "'data' is not a code label"),
        .init(source: ".data\nhalt", line: 2, column: 1, message: "instruction 'halt' in .data (write .text first)"),
        .init(source: ".bogus 1\nhalt", line: 1, column: 1, message: "unknown directive '.bogus'"),
        .init(source: ".data\n.u8 256\n.text\nhalt", line: 2, column: 5, message: "value 256 does not fit in 8 bits"),
        .init(source: ".data\n.align 3\n.text\nhalt", line: 2, column: 1, message: ".align needs a power of two, got 3"),
        .init(source: "; only a comment", line: 1, column: 1, message: "program has no instructions"),
        .init(source: "cas r1, [r2 + 8], r3", line: 1, column: 13, message: "expected ']' (atomics take no offset), found '+'"),
        .init(source: "r3: halt", line: 1, column: 1, message: "'r3' is reserved and cannot be a label"),
        .init(source: "breakpoint", line: 1, column: 1, message: "unknown mnemonic 'breakpoint'"),
    ]

    @Test("malformed input is rejected with file:line:column and what was expected", arguments: badInputs)
    func errors(_ bad: BadInput) {
        #expect(throws: AssemblyError(file: "bad.s", line: bad.line, column: bad.column, message: bad.message)) {
            try Assembler.assemble(bad.source, file: "bad.s")
        }
    }

    @Test("errors print as file:line:column: message")
    func errorFormat() {
        let error = AssemblyError(file: "prog.s", line: 3, column: 7, message: "undefined label 'x'")
        #expect(error.description == "prog.s:3:7: undefined label 'x'")
    }

    /// The assembler must never trap, whatever it is given: random bytes, and random splices of
    /// valid programs with garbage, each either assemble or produce an AssemblyError.
    @Test("never traps on random and mutated input")
    func fuzz() {
        var rng = SplitMix64(seed: 0xA55E_3B1E)
        let corpus = BuiltinPrograms.all.map { Array($0.source.utf8) }
        let alphabet = Array("r0123456789abcdefx_.:,[]+-*()=;#'\"\\ \n\tlisdtbeqjmp".utf8)
        var assembled = 0, rejected = 0
        let rounds = longTests ? 200_000 : 3_000
        for round in 0..<rounds {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 1:
                bytes = (0..<Int(rng.next() % 300)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            default:
                bytes = corpus[Int(rng.next() % UInt64(corpus.count))]
                for _ in 0..<Int(1 + rng.next() % 4) {
                    let at = Int(rng.next() % UInt64(bytes.count))
                    bytes[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                }
            }
            do {
                _ = try Assembler.assemble(bytes: bytes, file: "fuzz.s")
                assembled += 1
            } catch {
                #expect(error.line >= 1 && error.column >= 1)
                rejected += 1
            }
        }
        #expect(assembled + rejected == rounds)
        #expect(assembled > 0 && rejected > 0, "the fuzzer should produce both outcomes")
    }

    @Test("--define replaces a .const's value, also where data and code use it; an unknown name is an error")
    func defines() throws {
        let source = ".const N = 3\n.data\nv: .u64 N * 8\n.text\nli r1, N\nhalt"
        let plain = try Assembler.assemble(source)
        let defined = try Assembler.assemble(source, defines: ["N": 5])
        #expect(plain.symbols["N"] == .value(3) && defined.symbols["N"] == .value(5))
        #expect(defined.instructions[0].imm == 5 && defined.data.first?.bytes.first == 40)
        #expect(plain.contentHash != defined.contentHash)
        #expect(throws: AssemblyError(file: "<input>", line: 0, column: 0, message: "--define M: the program has no .const M")) {
            try Assembler.assemble(source, defines: ["M": 1])
        }
    }
}
