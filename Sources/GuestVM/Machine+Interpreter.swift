import CPlatform

/// The interpreter: switch-threaded dispatch over pre-decoded 24-byte instructions.
///
/// Design, with the figures that chose it (prototypes measured on the development machine before
/// this design was written, ns per guest instruction, fib / sieve): a `switch` over compact instructions with the register file, code and
/// memory behind unsafe pointers held in locals for the whole run measured ~1.3-2.0 / 1.35;
/// Swift arrays in the loop 5.5 / 3.0; closures as handlers 8.9 / 12.4; call-threading 3.5 / 2.1.
/// Swift does not guarantee tail calls, so a tail-calling handler chain is not an option in pure
/// Swift. LLVM turns this loop's switch into a jump table and, with the `-tail-dup-size=6` the
/// package passes for this target, copies the dispatch into the end of the handlers: threaded
/// dispatch (docs/INTERPRETER.md tells the history). Common pairs of instructions run as
/// superinstructions (Superinstructions.swift).
///
/// Exact instruction counting: the loop never counts single instructions. Each transfer charges
/// the whole block it lands on in advance, taking `next.blockLength` (read from the instruction
/// about to be dispatched) from the budget left under the limit, and stops if that overdraws
/// it; a run that leaves inside a block gives back what that block has not run. `run(until:)` runs whole blocks
/// while they fit under the limit, and for the last, partial block plants a `breakpoint` at the
/// exact stopping instruction.
extension Machine {
    /// Runs `vcpu` until exactly `limit` instructions have retired on it (counted from the start
    /// of the machine), or until an earlier exit. Re-entering after an exit continues where it
    /// stopped.
    ///
    /// While guest memory tracks writes (a state transfer runs) every store also marks its page;
    /// otherwise the run uses the interpreter specialised for no tracking.
    public func run(vcpu: Int, until limit: UInt64) -> Exit { run(cpus[vcpu], until: limit) }

    /// `run(vcpu:until:)` for a vCPU its caller holds: `drive` takes the vCPU once per slice,
    /// where taking it from `cpus` here retained and released it around every guest exit
    /// (callgrind, `exec nondet`).
    func run(_ cpu: VCPUState, until limit: UInt64) -> Exit {
        if let dirty = memory.dirtyPages { return run(cpu, until: limit, stores: DirtyPageMarker(words: dirty.words)) }
        return run(cpu, until: limit, stores: UntrackedStores())
    }

    private func run<Stores: StoreObserver>(_ cpu: VCPUState, until limit: UInt64, stores: Stores) -> Exit {
        while true {
            if let fault = cpu.fault { return .fault(fault) }
            if cpu.halted { return .halted }
            if cpu.waiting {
                if cpu.pending == 0 { return .waitingForInterrupt }
                cpu.waiting = false
            }
            if cpu.interruptsEnabled, cpu.pending != 0 {
                guard let target = takeInterrupt(cpu, returnTo: cpu.pc) else { return .fault(cpu.fault!) }
                cpu.pc = target
            }
            guard cpu.retired < limit else { return .reachedLimit }
            let remaining = limit - cpu.retired
            let outcome: LoopOutcome
            if cpu.code.blockLength(at: cpu.pc) <= remaining {
                outcome = execute(cpu, limit: limit, stores: stores)
            } else {
                let stop = cpu.pc + Int(remaining)
                let planted = cpu.code.plantBreakpoint(at: stop)
                outcome = execute(cpu, limit: .max, stores: stores)
                cpu.code.removeBreakpoint(at: stop, planted)
            }
            switch outcome {
            case .budget, .waitingForInterrupt:
                continue  // for a wait, the top of the loop decides whether it really waits
            case .reachedLimit: return .reachedLimit
            case .halted: return .halted
            case .clockRead(let register): return .clockRead(register: register)
            case .randomRead(let register): return .randomRead(register: register)
            case .output(let address, let length): return .output(address: address, length: length)
            case .synchronise: return .synchronise
            case .faulted: return .fault(cpu.fault!)
            }
        }
    }

    /// Enters the interrupt handler: saves the return point, disables interrupts, and returns
    /// the vector, or records a fault if the guest has none.
    func takeInterrupt(_ cpu: VCPUState, returnTo pc: Int) -> Int? {
        let pending = cpu.pending
        let line = UInt8(pending.trailingZeroBitCount)
        guard cpu.vector >= 0 else {
            cpu.fault = GuestFault(kind: .noInterruptVector, vcpu: cpu.index, pc: pc, instructionCount: cpu.retired)
            return nil
        }
        cpu.pending = pending & ~(1 << line)
        cpu.savedPC = pc
        cpu.cause = UInt64(line)
        cpu.interruptsEnabled = false
        return cpu.vector
    }

    /// Why `execute` returned: an `Exit`, less the fault's 41 bytes (left in `cpu.fault`), so
    /// that it comes back in registers. Returning `Exit` itself went through memory on every
    /// exit, and the reload after the call stalled: 27% of the backup's `run` samples replaying
    /// `nondet` (an exit every 5.5 instructions). Taking the fault out of the return took
    /// `exec nondet` from 73 to 103 MIPS interleaved here (measured with it boxed inside
    /// `Exit`, which cost fib 25% and was not kept; this form cost `loop` 2% more host
    /// instructions, docs/INTERPRETER.md history item 8).
    enum LoopOutcome {
        /// The next block would have run past the limit; the vCPU stands at its start.
        case budget
        case reachedLimit, halted, waitingForInterrupt, synchronise, faulted
        case clockRead(Int), randomRead(Int)
        case output(address: UInt64, length: UInt64)
    }

    // The handlers below are written out rather than generated through closures or generics:
    // each must compile to a few host instructions in this one function (see the type comment).
    // The one generic parameter, `stores`, is resolved by specialisation: with `UntrackedStores`
    // its calls vanish.
    // swiftlint:disable:next function_body_length cyclomatic_complexity
    /// Runs whole blocks from the vCPU's pc while each ends at or below `limit` retired
    /// instructions (the caller makes sure the first one does), until an exit.
    func execute<Stores: StoreObserver>(_ cpu: VCPUState, limit: UInt64, stores: Stores) -> LoopOutcome {
        let code = UnsafePointer(cpu.code.instructions)
        let codeCount = cpu.code.count
        let r = cpu.registers
        let mem = memory.base
        let memSize = UInt64(memory.size)
        let limit1 = memSize &- 1, limit2 = memSize &- 2, limit4 = memSize &- 4, limit8 = memSize &- 8
        var ip = code + cpu.pc
        // What is left under `limit` once the current block has run to its end (the charge
        // counted down, so that `limit` itself need not stay in a register).
        var budget = limit &- (cpu.retired &+ UInt64(ip.pointee.blockLength))

        while true {
            switch ip.pointee.op {
            case .li:
                r[ip.d] = UInt64(bitPattern: ip.imm); ip += 1
            case .mov:
                r[ip.d] = r[ip.a]; ip += 1
            case .nop:
                ip += 1
            case .add:
                r[ip.d] = r[ip.a] &+ r[ip.b]; ip += 1
            case .sub:
                r[ip.d] = r[ip.a] &- r[ip.b]; ip += 1
            case .mul:
                r[ip.d] = r[ip.a] &* r[ip.b]; ip += 1
            // Unsigned division and remainder are one host instruction each, inline; the signed
            // pair keeps its overflow cases in `divide`. Through `divide` (a call and a switch)
            // hash-rem took 114 host instructions per byte, inline 89 (callgrind;
            // docs/INTERPRETER.md).
            case .divu:
                let b = r[ip.b]
                guard b != 0 else { return fault(.divideByZero, cpu, ip, code, limit, budget) }
                r[ip.d] = r[ip.a] / b; ip += 1
            case .remu:
                let b = r[ip.b]
                guard b != 0 else { return fault(.divideByZero, cpu, ip, code, limit, budget) }
                r[ip.d] = r[ip.a] % b; ip += 1
            case .divs, .rems:
                let b = r[ip.b]
                guard b != 0 else { return fault(.divideByZero, cpu, ip, code, limit, budget) }
                r[ip.d] = Self.divide(ip.pointee.op, r[ip.a], b); ip += 1
            case .and:
                r[ip.d] = r[ip.a] & r[ip.b]; ip += 1
            case .or:
                r[ip.d] = r[ip.a] | r[ip.b]; ip += 1
            case .xor:
                r[ip.d] = r[ip.a] ^ r[ip.b]; ip += 1
            case .shl:
                r[ip.d] = r[ip.a] &<< (r[ip.b] & 63); ip += 1
            case .shr:
                r[ip.d] = r[ip.a] &>> (r[ip.b] & 63); ip += 1
            case .sar:
                r[ip.d] = UInt64(bitPattern: Int64(bitPattern: r[ip.a]) &>> Int64(r[ip.b] & 63)); ip += 1
            case .slt:
                r[ip.d] = Int64(bitPattern: r[ip.a]) < Int64(bitPattern: r[ip.b]) ? 1 : 0; ip += 1
            case .sltu:
                r[ip.d] = r[ip.a] < r[ip.b] ? 1 : 0; ip += 1
            case .addi:
                r[ip.d] = r[ip.a] &+ UInt64(bitPattern: ip.imm); ip += 1
            case .muli:
                r[ip.d] = r[ip.a] &* UInt64(bitPattern: ip.imm); ip += 1
            case .andi:
                r[ip.d] = r[ip.a] & UInt64(bitPattern: ip.imm); ip += 1
            case .ori:
                r[ip.d] = r[ip.a] | UInt64(bitPattern: ip.imm); ip += 1
            case .xori:
                r[ip.d] = r[ip.a] ^ UInt64(bitPattern: ip.imm); ip += 1
            case .shli:
                r[ip.d] = r[ip.a] &<< UInt64(ip.imm); ip += 1
            case .shri:
                r[ip.d] = r[ip.a] &>> UInt64(ip.imm); ip += 1
            case .sari:
                r[ip.d] = UInt64(bitPattern: Int64(bitPattern: r[ip.a]) &>> ip.imm); ip += 1
            case .slti:
                r[ip.d] = Int64(bitPattern: r[ip.a]) < ip.imm ? 1 : 0; ip += 1
            case .sltui:
                r[ip.d] = r[ip.a] < UInt64(bitPattern: ip.imm) ? 1 : 0; ip += 1
            case .not:
                r[ip.d] = ~r[ip.a]; ip += 1
            case .neg:
                r[ip.d] = 0 &- r[ip.a]; ip += 1

            case .ld8:
                let a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
                guard a <= limit1 else { return fault(.badAddress(a, width: 1), cpu, ip, code, limit, budget) }
                r[ip.d] = UInt64(mem.load(fromByteOffset: Int(truncatingIfNeeded: a), as: UInt8.self)); ip += 1
            case .ld8s:
                let a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
                guard a <= limit1 else { return fault(.badAddress(a, width: 1), cpu, ip, code, limit, budget) }
                r[ip.d] = UInt64(bitPattern: Int64(mem.load(fromByteOffset: Int(truncatingIfNeeded: a), as: Int8.self))); ip += 1
            case .ld16:
                let a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
                guard a <= limit2 else { return fault(.badAddress(a, width: 2), cpu, ip, code, limit, budget) }
                r[ip.d] = UInt64(UInt16(littleEndian: mem.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: a), as: UInt16.self))); ip += 1
            case .ld16s:
                let a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
                guard a <= limit2 else { return fault(.badAddress(a, width: 2), cpu, ip, code, limit, budget) }
                r[ip.d] = UInt64(bitPattern: Int64(Int16(littleEndian: mem.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: a), as: Int16.self)))); ip += 1
            case .ld32:
                let a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
                guard a <= limit4 else { return fault(.badAddress(a, width: 4), cpu, ip, code, limit, budget) }
                r[ip.d] = UInt64(UInt32(littleEndian: mem.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: a), as: UInt32.self))); ip += 1
            case .ld32s:
                let a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
                guard a <= limit4 else { return fault(.badAddress(a, width: 4), cpu, ip, code, limit, budget) }
                r[ip.d] = UInt64(bitPattern: Int64(Int32(littleEndian: mem.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: a), as: Int32.self)))); ip += 1
            case .ld64:
                if let kind = Self.load64(ip, r, mem, limit8) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
            case .st8:
                let a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
                guard a <= limit1 else { return fault(.badAddress(a, width: 1), cpu, ip, code, limit, budget) }
                mem.storeBytes(of: UInt8(truncatingIfNeeded: r[ip.b]), toByteOffset: Int(truncatingIfNeeded: a), as: UInt8.self)
                stores.stored(at: a, width: 1); ip += 1
            case .st16:
                let a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
                guard a <= limit2 else { return fault(.badAddress(a, width: 2), cpu, ip, code, limit, budget) }
                mem.storeBytes(of: UInt16(truncatingIfNeeded: r[ip.b]).littleEndian, toByteOffset: Int(truncatingIfNeeded: a), as: UInt16.self)
                stores.stored(at: a, width: 2); ip += 1
            case .st32:
                let a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
                guard a <= limit4 else { return fault(.badAddress(a, width: 4), cpu, ip, code, limit, budget) }
                mem.storeBytes(of: UInt32(truncatingIfNeeded: r[ip.b]).littleEndian, toByteOffset: Int(truncatingIfNeeded: a), as: UInt32.self)
                stores.stored(at: a, width: 4); ip += 1
            case .st64:
                if let kind = Self.store64(ip, r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1

            case .beq:
                if Self.transfer(&ip, &budget, to: r[ip.a] == r[ip.b] ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .bne:
                if Self.transfer(&ip, &budget, to: r[ip.a] != r[ip.b] ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .blt:
                if Self.transfer(&ip, &budget, to: Int64(bitPattern: r[ip.a]) < Int64(bitPattern: r[ip.b]) ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .bge:
                if Self.transfer(&ip, &budget, to: Int64(bitPattern: r[ip.a]) >= Int64(bitPattern: r[ip.b]) ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .bltu:
                if Self.transfer(&ip, &budget, to: r[ip.a] < r[ip.b] ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .bgeu:
                if Self.transfer(&ip, &budget, to: r[ip.a] >= r[ip.b] ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .beqi:
                if Self.transfer(&ip, &budget, to: Int64(bitPattern: r[ip.a]) == ip.imm ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .bnei:
                if Self.transfer(&ip, &budget, to: Int64(bitPattern: r[ip.a]) != ip.imm ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .blti:
                if Self.transfer(&ip, &budget, to: Int64(bitPattern: r[ip.a]) < ip.imm ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .bgei:
                if Self.transfer(&ip, &budget, to: Int64(bitPattern: r[ip.a]) >= ip.imm ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .bltui:
                if Self.transfer(&ip, &budget, to: r[ip.a] < UInt64(bitPattern: ip.imm) ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .bgeui:
                if Self.transfer(&ip, &budget, to: r[ip.a] >= UInt64(bitPattern: ip.imm) ? code + ip.target : ip + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .jmp:
                if Self.transfer(&ip, &budget, to: code + ip.target) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .call:
                if let kind = Self.push(UInt64(truncatingIfNeeded: (ip - code) &+ 1), r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                if Self.transfer(&ip, &budget, to: code + ip.target) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .push:
                if let kind = Self.push(r[ip.a], r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
            case .pop:
                if let kind = Self.pop(ip, r, mem, limit8) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
            // A superinstruction (the others are at the end): `mov`, then on into `ret`.
            case .movRet:
                r[ip.d] = r[ip.a]; ip += 1
                fallthrough
            case .ret:
                let sp = r[Register.stackPointer]
                guard sp <= limit8 else { return fault(.badAddress(sp, width: 8), cpu, ip, code, limit, budget) }
                let target = UInt64(littleEndian: mem.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: sp), as: UInt64.self))
                guard target < UInt64(codeCount) else { return fault(.badReturnAddress(target), cpu, ip, code, limit, budget) }
                r[Register.stackPointer] = sp &+ 8
                if Self.transfer(&ip, &budget, to: code + Int(truncatingIfNeeded: target)) { return budgetSpent(cpu, ip, code, limit, budget) }

            // Atomics and ordered accesses are host atomics on guest memory (`synchronising`);
            // a machine that takes synchronisation exits leaves before them instead, unretired.
            case .cas:
                if cpu.synchronisingExits { return leave(.synchronise, cpu, ip, code, limit, budget) }
                if let kind = Self.synchronising(.cas, ip, r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
            case .xadd:
                if cpu.synchronisingExits { return leave(.synchronise, cpu, ip, code, limit, budget) }
                if let kind = Self.synchronising(.xadd, ip, r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
            case .fence:
                if cpu.synchronisingExits { return leave(.synchronise, cpu, ip, code, limit, budget) }
                ftb_guest_fence(); ip += 1
            case .ldacq:
                if cpu.synchronisingExits { return leave(.synchronise, cpu, ip, code, limit, budget) }
                if let kind = Self.synchronising(.ldacq, ip, r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
            case .strel:
                if cpu.synchronisingExits { return leave(.synchronise, cpu, ip, code, limit, budget) }
                if let kind = Self.synchronising(.strel, ip, r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1

            case .ei:
                cpu.interruptsEnabled = true
                var next = ip + 1
                if cpu.pending != 0 {
                    guard let vector = takeInterrupt(cpu, returnTo: next - code) else { return fault(.noInterruptVector, cpu, ip, code, limit, budget) }
                    next = code + vector
                }
                if Self.transfer(&ip, &budget, to: next) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .di:
                cpu.interruptsEnabled = false; ip += 1
            case .iret:
                let saved = cpu.savedPC
                guard saved >= 0 else { return fault(.iretOutsideHandler, cpu, ip, code, limit, budget) }
                var next = code + saved
                cpu.savedPC = -1
                cpu.interruptsEnabled = true
                if cpu.pending != 0 {
                    guard let vector = takeInterrupt(cpu, returnTo: saved) else { return fault(.noInterruptVector, cpu, ip, code, limit, budget) }
                    next = code + vector
                }
                if Self.transfer(&ip, &budget, to: next) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .setivec:
                cpu.vector = Int(ip.pointee.target); ip += 1
            case .cause:
                r[ip.d] = cpu.cause; ip += 1
            case .cpuid:
                r[ip.d] = UInt64(cpu.index); ip += 1
            case .settimer:
                if cpu.synchronisingExits { return leave(.synchronise, cpu, ip, code, limit, budget) }
                setTimer(r[ip.a], vcpu: cpu.index); ip += 1
            case .dmapost:
                if cpu.synchronisingExits { return leave(.synchronise, cpu, ip, code, limit, budget) }
                if let kind = postDMABuffer(r[ip.a], length: r[ip.b], vcpu: cpu.index) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1

            // Traps retire and leave with `ip` past them.
            case .rdclock:
                return leave(.clockRead(ip.d), cpu, ip, code, limit, budget, retiring: true)
            case .rdrand:
                return leave(.randomRead(ip.d), cpu, ip, code, limit, budget, retiring: true)
            case .wfi:
                cpu.waiting = true
                return leave(.waitingForInterrupt, cpu, ip, code, limit, budget, retiring: true)
            case .out:
                let a = r[ip.a], n = r[ip.b]
                guard memory.contains(address: a, count: n) else {
                    return fault(.badAddress(a, width: Int(truncatingIfNeeded: n)), cpu, ip, code, limit, budget)
                }
                return leave(.output(address: a, length: n), cpu, ip, code, limit, budget, retiring: true)
            case .halt:
                cpu.halted = true
                return leave(.halted, cpu, ip, code, limit, budget, retiring: true)
            case .breakpoint:
                // Not retired: it stands in for the instruction that will run next time.
                return leave(.reachedLimit, cpu, ip, code, limit, budget)
            case .ud:
                return fault(.illegalInstruction, cpu, ip, code, limit, budget)
            case .fellOff:
                return fault(.pcOutOfRange, cpu, ip, code, limit, budget)

            // Superinstructions (Superinstructions.swift): the instruction at `ip` and the next,
            // `n`, in one dispatch. A fault in the second is reported at the second, with the
            // first retired. `v` is the first's result where the second reads it. Placed after
            // the ISA's handlers: in this position sort ran 8% faster than with them before the
            // branches (same code otherwise; 5 interleaved rounds), the kind of layout effect
            // docs/INTERPRETER.md's history records.
            case .addiBltu:
                let v = r[ip.a] &+ UInt64(bitPattern: ip.imm), n = ip + 1
                r[ip.d] = v
                if Self.transfer(&ip, &budget, to: v < r[n.b] ? code + n.target : n + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .addiBnei:
                let v = r[ip.a] &+ UInt64(bitPattern: ip.imm), n = ip + 1
                r[ip.d] = v
                if Self.transfer(&ip, &budget, to: Int64(bitPattern: v) != n.imm ? code + n.target : n + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .addiBlti:
                let v = r[ip.a] &+ UInt64(bitPattern: ip.imm), n = ip + 1
                r[ip.d] = v
                if Self.transfer(&ip, &budget, to: Int64(bitPattern: v) < n.imm ? code + n.target : n + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .addiBge:
                let v = r[ip.a] &+ UInt64(bitPattern: ip.imm), n = ip + 1
                r[ip.d] = v
                if Self.transfer(&ip, &budget, to: Int64(bitPattern: v) >= Int64(bitPattern: r[n.b]) ? code + n.target : n + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .addBltu:
                let v = r[ip.a] &+ r[ip.b], n = ip + 1
                r[ip.d] = v
                if Self.transfer(&ip, &budget, to: v < r[n.b] ? code + n.target : n + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .addXori:
                let v = r[ip.a] &+ r[ip.b], n = ip + 1
                r[ip.d] = v
                r[n.d] = v ^ UInt64(bitPattern: n.imm); ip += 2
            case .shliAddi:
                let v = r[ip.a] &<< UInt64(ip.imm), n = ip + 1
                r[ip.d] = v
                r[n.d] = v &+ UInt64(bitPattern: n.imm); ip += 2
            case .mulAdd:
                let v = r[ip.a] &* r[ip.b], n = ip + 1
                r[ip.d] = v
                r[n.d] = r[n.a] &+ v; ip += 2
            case .addiAddi:
                r[ip.d] = r[ip.a] &+ UInt64(bitPattern: ip.imm); ip += 1
                r[ip.d] = r[ip.a] &+ UInt64(bitPattern: ip.imm); ip += 1
            case .addiLd64:
                r[ip.d] = r[ip.a] &+ UInt64(bitPattern: ip.imm); ip += 1
                if let kind = Self.load64(ip, r, mem, limit8) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
            case .ld64Ld64:
                if let kind = Self.load64(ip, r, mem, limit8) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
                if let kind = Self.load64(ip, r, mem, limit8) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
            case .ld64Bgeu:
                if let kind = Self.load64(ip, r, mem, limit8) { return fault(kind, cpu, ip, code, limit, budget) }
                let n = ip + 1
                if Self.transfer(&ip, &budget, to: r[n.a] >= r[n.b] ? code + n.target : n + 1) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .addiCall:
                r[ip.d] = r[ip.a] &+ UInt64(bitPattern: ip.imm); ip += 1
                if let kind = Self.push(UInt64(truncatingIfNeeded: (ip - code) &+ 1), r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                if Self.transfer(&ip, &budget, to: code + ip.target) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .ld64Call:
                if let kind = Self.load64(ip, r, mem, limit8) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
                if let kind = Self.push(UInt64(truncatingIfNeeded: (ip - code) &+ 1), r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                if Self.transfer(&ip, &budget, to: code + ip.target) { return budgetSpent(cpu, ip, code, limit, budget) }
            case .pushAddi:
                if let kind = Self.push(r[ip.a], r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
                r[ip.d] = r[ip.a] &+ UInt64(bitPattern: ip.imm); ip += 1
            case .pushPush:
                if let kind = Self.push(r[ip.a], r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
                if let kind = Self.push(r[ip.a], r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
            case .popPush:
                if let kind = Self.pop(ip, r, mem, limit8) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
                if let kind = Self.push(r[ip.a], r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
            case .popAdd:
                let sp = r[Register.stackPointer]
                guard sp <= limit8 else { return fault(.badAddress(sp, width: 8), cpu, ip, code, limit, budget) }
                let v = UInt64(littleEndian: mem.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: sp), as: UInt64.self)), n = ip + 1
                r[Register.stackPointer] = sp &+ 8
                r[ip.d] = v
                r[n.d] = r[n.a] &+ v; ip += 2
            case .pushLd64:
                if let kind = Self.push(r[ip.a], r, mem, limit8, stores) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
                if let kind = Self.load64(ip, r, mem, limit8) { return fault(kind, cpu, ip, code, limit, budget) }
                ip += 1
            case .xorMul:
                let v = r[ip.a] ^ r[ip.b], n = ip + 1
                r[ip.d] = v
                r[n.d] = v &* r[n.b]; ip += 2
            }
        }
    }

    /// `ld64` at `ip`, or the fault it raises.
    @inline(__always)
    private static func load64(
        _ ip: UnsafePointer<Instruction>, _ r: UnsafeMutablePointer<UInt64>, _ mem: UnsafeMutableRawPointer, _ limit8: UInt64
    ) -> GuestFault.Kind? {
        let a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
        guard a <= limit8 else { return .badAddress(a, width: 8) }
        r[ip.d] = UInt64(littleEndian: mem.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: a), as: UInt64.self))
        return nil
    }

    /// `st64` at `ip`, or the fault it raises.
    @inline(__always)
    private static func store64<Stores: StoreObserver>(
        _ ip: UnsafePointer<Instruction>, _ r: UnsafeMutablePointer<UInt64>, _ mem: UnsafeMutableRawPointer, _ limit8: UInt64, _ stores: Stores
    ) -> GuestFault.Kind? {
        let a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
        guard a <= limit8 else { return .badAddress(a, width: 8) }
        mem.storeBytes(of: r[ip.b].littleEndian, toByteOffset: Int(truncatingIfNeeded: a), as: UInt64.self)
        stores.stored(at: a, width: 8)
        return nil
    }

    /// Pushes `value` on the guest stack (`push`, and `call`'s return index), or returns the fault.
    @inline(__always)
    private static func push<Stores: StoreObserver>(
        _ value: UInt64, _ r: UnsafeMutablePointer<UInt64>, _ mem: UnsafeMutableRawPointer, _ limit8: UInt64, _ stores: Stores
    ) -> GuestFault.Kind? {
        let sp = r[Register.stackPointer] &- 8
        guard sp <= limit8 else { return .badAddress(sp, width: 8) }
        mem.storeBytes(of: value.littleEndian, toByteOffset: Int(truncatingIfNeeded: sp), as: UInt64.self)
        stores.stored(at: sp, width: 8)
        r[Register.stackPointer] = sp
        return nil
    }

    /// `pop` at `ip`, or the fault it raises.
    @inline(__always)
    private static func pop(
        _ ip: UnsafePointer<Instruction>, _ r: UnsafeMutablePointer<UInt64>, _ mem: UnsafeMutableRawPointer, _ limit8: UInt64
    ) -> GuestFault.Kind? {
        let sp = r[Register.stackPointer]
        guard sp <= limit8 else { return .badAddress(sp, width: 8) }
        r[Register.stackPointer] = sp &+ 8
        r[ip.d] = UInt64(littleEndian: mem.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: sp), as: UInt64.self))
        return nil
    }

    /// Performs the synchronising instruction `op` at `ip`, or returns the fault it raises. Used
    /// by the dispatch loop and by `performSynchronising`, so both run the same semantics.
    /// Atomics and ordered accesses are host atomics on guest memory (CPlatform's ftb_guest_*,
    /// orderings named there), so they hold between vCPUs on different host threads. Guest
    /// memory is little-endian and so is every host this runs on (x86-64, arm64), so the host's
    /// native words are the guest's. `op` is a literal at every call, so inlining folds the switch.
    @inline(__always)
    static func synchronising<Stores: StoreObserver>(
        _ op: Opcode, _ ip: UnsafePointer<Instruction>, _ r: UnsafeMutablePointer<UInt64>,
        _ mem: UnsafeMutableRawPointer, _ limit8: UInt64, _ stores: Stores
    ) -> GuestFault.Kind? {
        let a: UInt64
        switch op {
        case .fence:
            ftb_guest_fence()
            return nil
        case .cas, .xadd: a = r[ip.a]
        default: a = r[ip.a] &+ UInt64(bitPattern: ip.imm)
        }
        guard a <= limit8 else { return .badAddress(a, width: 8) }
        guard a & 7 == 0 else { return .unalignedAtomic(a) }
        let word = mem + Int(truncatingIfNeeded: a)
        switch op {
        case .cas:
            let expected = r[ip.d]
            let old = ftb_guest_cas64(word, expected, r[ip.b])
            if old == expected { stores.stored(at: a, width: 8) }
            r[ip.d] = old
        case .xadd:
            r[ip.d] = ftb_guest_xadd64(word, r[ip.b])
            stores.stored(at: a, width: 8)
        case .ldacq:
            r[ip.d] = ftb_guest_load_acquire64(word)
        default:
            ftb_guest_store_release64(word, r[ip.b])
            stores.stored(at: a, width: 8)
        }
        return nil
    }

    /// Performs the synchronising instruction at `vcpu`'s pc, which a `.synchronise` exit left
    /// unrun, and retires it; returns the fault if it raises one (the vCPU then stays stopped).
    /// The caller performs it inside its order (a ticket); nothing else runs on this vCPU.
    public func performSynchronising(vcpu: Int) -> GuestFault? {
        if let dirty = memory.dirtyPages { return performSynchronising(vcpu: vcpu, stores: DirtyPageMarker(words: dirty.words)) }
        return performSynchronising(vcpu: vcpu, stores: UntrackedStores())
    }

    private func performSynchronising<Stores: StoreObserver>(vcpu: Int, stores: Stores) -> GuestFault? {
        let cpu = cpus[vcpu]
        let ip = UnsafePointer(cpu.code.instructions) + cpu.pc
        let op = ip.pointee.op
        precondition(op.synchronises, "performSynchronising: \(op.mnemonic) at pc \(cpu.pc) does not synchronise")
        let r = cpu.registers
        let kind: GuestFault.Kind?
        switch op {
        case .settimer:
            setTimer(r[ip.a], vcpu: vcpu)
            kind = nil
        case .dmapost:
            kind = postDMABuffer(r[ip.a], length: r[ip.b], vcpu: vcpu)
        default:
            kind = Self.synchronising(op, ip, r, memory.base, UInt64(memory.size) &- 8, stores)
        }
        if let kind {
            let fault = GuestFault(kind: kind, vcpu: vcpu, pc: cpu.pc, instructionCount: cpu.retired)
            cpu.fault = fault
            return fault
        }
        cpu.pc += 1
        cpu.retired += 1
        return nil
    }

    /// `settimer`: the timer's period (µs of host time, 0 stops it); its ticks go to `vcpu`.
    ///
    /// Kept out of line, like `postDMABuffer`: inlined, their writes to `devices` made the
    /// optimiser open one dynamic exclusivity access to `devices` around every call of
    /// `execute`, a `swift_beginAccess` of 63 host instructions per guest exit (9% of `exec
    /// nondet`'s instructions, callgrind). These instructions are rare; the call costs little.
    @inline(never)
    func setTimer(_ periodMicros: UInt64, vcpu: Int) {
        devices.timerPeriodMicros = periodMicros
        devices.timerVCPU = vcpu
    }

    /// `dmapost`: posts `[address, address + length)` as the receive buffer, or returns the
    /// fault if it cannot hold a request's length word or lies outside memory.
    @inline(never)
    func postDMABuffer(_ address: UInt64, length: UInt64, vcpu: Int) -> GuestFault.Kind? {
        guard length >= 8, memory.contains(address: address, count: length) else { return .badDMABuffer(address: address, length: length) }
        devices.dmaBuffer = .init(address: address, length: length, vcpu: vcpu)
        return nil
    }

    /// The opcode of `vcpu`'s next instruction, if its pc is inside the program.
    public func nextOpcode(vcpu: Int) -> Opcode? {
        let cpu = cpus[vcpu]
        return cpu.pc < cpu.code.count ? cpu.code.instructions[cpu.pc].op.unfused : nil
    }

    /// Whether `vcpu`'s next instruction synchronises (what a `.synchronise` exit would stop at).
    public func synchronisesNext(vcpu: Int) -> Bool { nextOpcode(vcpu: vcpu)?.synchronises ?? false }

    /// Leaves the loop with `exit` at `ip`: the instructions before it in the current block
    /// retire, and `ip` itself too if `retiring` (a trap, which ends its block).
    @inline(never)
    private func leave(
        _ exit: LoopOutcome, _ cpu: VCPUState, _ ip: UnsafePointer<Instruction>, _ code: UnsafePointer<Instruction>,
        _ limit: UInt64, _ budget: UInt64, retiring: Bool = false
    ) -> LoopOutcome {
        Self.settle(cpu, at: retiring ? ip + 1 : ip, code, retired: Self.retired(before: ip, limit, budget) &+ (retiring ? 1 : 0))
        return exit
    }

    /// Instructions retired before `ip`, inside the block the budget was last charged for: the
    /// charge (`limit - budget`) covered that block to its end, so what is left of it from `ip` is
    /// given back. After an overdrawing transfer `ip` is the block that did not fit, whose charge
    /// was taken too, so the same formula gives the count at its start.
    @inline(__always)
    private static func retired(before ip: UnsafePointer<Instruction>, _ limit: UInt64, _ budget: UInt64) -> UInt64 {
        limit &- budget &- UInt64(ip.pointee.blockLength)
    }

    @inline(__always)
    private static func settle(_ cpu: VCPUState, at ip: UnsafePointer<Instruction>, _ code: UnsafePointer<Instruction>, retired: UInt64) {
        cpu.pc = ip - code
        cpu.retired = retired
    }

    /// Stops the vCPU on a fault at `ip`, which does not retire.
    @inline(never)
    private func fault(
        _ kind: GuestFault.Kind, _ cpu: VCPUState, _ ip: UnsafePointer<Instruction>, _ code: UnsafePointer<Instruction>,
        _ limit: UInt64, _ budget: UInt64
    ) -> LoopOutcome {
        _ = leave(.halted, cpu, ip, code, limit, budget)
        if cpu.fault == nil { cpu.fault = GuestFault(kind: kind, vcpu: cpu.index, pc: cpu.pc, instructionCount: cpu.retired) }
        return .faulted
    }

    /// Moves to `next` at the end of a block and charges the block that starts there; true when
    /// that block would end past the limit (the budget has then wrapped below zero by what was
    /// missing). Takes its state inout rather than capturing it: a capturing local function made
    /// the compiler keep `ip` in memory and store it on every instruction.
    @inline(__always)
    private static func transfer(_ ip: inout UnsafePointer<Instruction>, _ budget: inout UInt64, to next: UnsafePointer<Instruction>) -> Bool {
        ip = next
        let (left, overdrawn) = budget.subtractingReportingOverflow(UInt64(next.pointee.blockLength))
        budget = left
        return overdrawn
    }

    /// The block at `ip` does not fit: stop at its start.
    @inline(never)
    private func budgetSpent(
        _ cpu: VCPUState, _ ip: UnsafePointer<Instruction>, _ code: UnsafePointer<Instruction>, _ limit: UInt64, _ budget: UInt64
    ) -> LoopOutcome {
        Self.settle(cpu, at: ip, code, retired: Self.retired(before: ip, limit, budget))
        return .budget
    }

    @inline(never)
    static func divide(_ op: Opcode, _ a: UInt64, _ b: UInt64) -> UInt64 {
        switch op {
        case .divs:
            let (q, overflow) = Int64(bitPattern: a).dividedReportingOverflow(by: Int64(bitPattern: b))
            return UInt64(bitPattern: overflow ? Int64.min : q)
        default:
            let (m, overflow) = Int64(bitPattern: a).remainderReportingOverflow(dividingBy: Int64(bitPattern: b))
            return overflow ? 0 : UInt64(bitPattern: m)
        }
    }
}

/// Operand access for the interpreter's handlers: each handler loads only the fields it uses
/// (loading the whole instruction at the dispatch point put six loads in front of every jump).
extension UnsafePointer where Pointee == Instruction {
    @inline(__always) var d: Int { Int(pointee.rd) }
    @inline(__always) var a: Int { Int(pointee.ra) }
    @inline(__always) var b: Int { Int(pointee.rb) }
    @inline(__always) var imm: Int64 { pointee.imm }
    @inline(__always) var target: Int { Int(pointee.target) }
}

extension Opcode {
    /// The instructions that order memory or the devices between vCPUs: the atomics, the fence
    /// and the ordered accesses (docs/ISA.md, "Memory model"), and the writes of the machine's
    /// device registers, `settimer` and `dmapost` (one timer and one receive buffer for every
    /// vCPU). The `recorded` interleaving tickets each of them.
    public var synchronises: Bool {
        switch self {
        case .cas, .xadd, .fence, .ldacq, .strel, .settimer, .dmapost: true
        default: false
        }
    }

    /// `settimer` and `dmapost`: they write the machine's device registers.
    public var writesDevice: Bool { self == .settimer || self == .dmapost }

    /// The device instructions: the register writes and `wfi`, which only a device ends.
    public var usesDevice: Bool { writesDevice || self == .wfi }
}
