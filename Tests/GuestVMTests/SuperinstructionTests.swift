@testable import GuestVM
import Testing

/// Superinstructions (Superinstructions.swift): a vCPU that fuses pairs must be
/// indistinguishable from one that does not, at every instruction count it can stop at.
@Suite("Superinstructions")
struct SuperinstructionTests {
    /// The benchmark programs the pairs were chosen from, small enough to single-step.
    static let programs: [(name: String, defines: [String: Int64])] = [
        ("fib", ["N": 10]), ("sieve", ["N": 2_000]), ("loop", ["ITERATIONS": 300]), ("tak", ["X": 9, "Y": 6, "Z": 3]),
        ("hash-rem", ["PASSES": 1, "BYTES": 512]), ("hash-mul", ["PASSES": 1, "BYTES": 512]),
        ("matmul", ["N": 6, "REPEAT": 1]), ("sort", ["N": 200]),
    ]

    static func program(_ name: String, _ defines: [String: Int64]) throws -> Program {
        let entry = try #require(BuiltinPrograms.named(name))
        return try Assembler.assemble(entry.source, file: name, defines: defines)
    }

    /// Where vCPU 0 stands after each stop: its pc, count and registers.
    struct Stop: Equatable {
        var pc: Int
        var retired: UInt64
        var registers: [UInt64]
        var exit: Exit
    }

    /// Runs `program` to its end in runs of `step` instructions, recording every stop and exit,
    /// then the state hash.
    static func stops(_ program: Program, _ superinstructions: Superinstructions, step: UInt64) throws -> ([Stop], UInt64) {
        let machine = try Machine(program: program, superinstructions: superinstructions)
        var stops: [Stop] = []
        var limit = step
        while stops.count < 1_000_000 {
            let exit = machine.run(vcpu: 0, until: limit)
            stops.append(Stop(pc: machine.pc(vcpu: 0), retired: machine.instructionCount(vcpu: 0),
                              registers: (0..<16).map { machine.register($0) }, exit: exit))
            switch exit {
            case .reachedLimit: limit += step
            case .halted, .fault, .waitingForInterrupt: return (stops, machine.stateHash())
            default: continue  // outputs: the run goes on
            }
        }
        Issue.record("\(program.name) did not halt")
        return (stops, machine.stateHash())
    }

    /// Where two runs' stops first differ, said in one line, or nil if they are the same.
    static func firstDifference(_ a: [Stop], _ b: [Stop]) -> String? {
        if let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            return "stop \(i) differs: fused \(a[i]), unfused \(b[i])"
        }
        return a.count == b.count ? nil : "one run stopped \(a.count) times, the other \(b.count)"
    }

    @Test("each program fuses at least one pair, and every superinstruction occurs in one of them")
    func coverage() throws {
        var seen: Set<Opcode> = []
        for (name, defines) in Self.programs {
            let machine = try Machine(program: try Self.program(name, defines))
            let cpu = machine.cpus[0]
            let fused = (0..<cpu.code.count).map { cpu.code.instructions[$0].op }.filter { $0.fusedPair != nil }
            #expect(!fused.isEmpty, "\(name) has no superinstruction")
            seen.formUnion(fused)
        }
        let all = Set(Opcode.allCases.filter { $0.fusedPair != nil })
        #expect(seen == all, "never fused: \(all.subtracting(seen).map(\.mnemonic).sorted())")
    }

    @Test("a fused vCPU stops where an unfused one does, with the same registers, at every step size",
          arguments: [UInt64(1), 2, 3, 5, 7, 1_000])
    func sameStops(step: UInt64) throws {
        for (name, defines) in Self.programs {
            let program = try Self.program(name, defines)
            let fused = try Self.stops(program, .on, step: step)
            let plain = try Self.stops(program, .off, step: step)
            #expect(Self.firstDifference(fused.0, plain.0) == nil, "\(name), step \(step)")
            #expect(fused.1 == plain.1, "\(name), step \(step): state hashes differ")
        }
    }

    /// Negative control. Sabotage: `Superinstructions.unsplitAtBreakpoints` leaves a pair whole
    /// when a run must stop on its second instruction, so that the run executes one instruction
    /// past its limit (with the breakpoint's operands). The stop-by-stop comparison must catch it.
    @Test("negative control: a pair left whole at a breakpoint is caught")
    func unsplitCaught() throws {
        for (name, defines) in Self.programs {
            let program = try Self.program(name, defines)
            let sabotaged = try Self.stops(program, .unsplitAtBreakpoints, step: 1)
            let plain = try Self.stops(program, .off, step: 1)
            #expect(Self.firstDifference(sabotaged.0, plain.0) != nil, "\(name): the sabotage went unnoticed")
        }
    }

    /// A fault in a pair's second instruction stops at the second, with the first retired; in the
    /// first, at the first.
    @Test("faults inside a pair are reported where an unfused vCPU reports them", arguments: [
        "li r2, 0x2000\nli r3, -64\nld64 r1, [r2]\nld64 r4, [r3]\nhalt",       // second load out of memory
        "li r3, -64\nli r2, 0x2000\nld64 r1, [r3]\nld64 r4, [r2]\nhalt",       // first load out of memory
        "li r1, 99\npush r1\nmov r2, r1\nret\nhalt",                             // return to a non-instruction
        "li sp, 4\nli r1, 1\naddi r1, r1, 1\ncall f\nhalt\nf: ret",              // call with no stack
        "li sp, 4\nli r1, 1\npush r1\naddi r1, r1, 1\nhalt",                     // push with no stack
        "li r3, -64\nli r1, 0\nld64 r1, [r3]\nbgeu r1, r1, .x\n.x: halt",        // load before a branch
    ])
    func faults(source: String) throws {
        let program = try assemble(source)
        let fused = try Machine(program: program, superinstructions: .on)
        let plain = try Machine(program: program, superinstructions: .off)
        let exit = fused.run(vcpu: 0, until: .max)
        guard case .fault(let fault) = exit else {
            Issue.record("no fault: \(exit)")
            return
        }
        #expect(exit == plain.run(vcpu: 0, until: .max))
        #expect(fused.stateHash() == plain.stateHash())
        #expect(fault.instructionCount == fused.instructionCount(vcpu: 0))
    }

    @Test("the pair profile counts pairs whose first instruction falls through")
    func pairProfile() throws {
        let program = try Self.program("loop", ["ITERATIONS": 1_000])
        let machine = try Machine(program: program)
        var profile = PairProfile(StandaloneDriver(seed: 1), machine: machine)
        _ = try machine.drive(&profile)
        let counts = Dictionary(uniqueKeysWithValues: profile.pairs.map { ("\($0.first.mnemonic) \($0.second.mnemonic)", $0.count) })
        // The loop body (add, xori, addi, bnei) runs 1,000 times; `bnei` is a transfer, so
        // `bnei add` is no pair; print_u64's own loop adds a few of `addi bnei`.
        #expect(counts["add xori"] == 1_000)
        #expect(counts["xori addi"] == 1_000)
        #expect((counts["addi bnei"] ?? 0) >= 1_000)
        #expect(counts["bnei add"] == nil)
    }
}
