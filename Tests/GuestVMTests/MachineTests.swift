import GuestVM
import Testing

/// `Machine`: interrupts, devices, traps to the host, state hashing and configuration.
@Suite("Machine")
struct MachineTests {
    /// Three instructions of set-up, then a loop of two; the handler copies the loop counter.
    static let counter = """
        start:
            setivec handler
            ei
            li r2, 0
        .loop:
            addi r2, r2, 1
            jmp .loop
        handler:
            mov r3, r2
            cause r4
            halt
        """

    @Test("drive hashes the final state unless told not to, and the run is the same either way")
    func driveWithoutHashing() throws {
        let program = try #require(try BuiltinPrograms.program(named: "tak"))
        var summaries: [RunSummary] = []
        var hashes: [UInt64] = []
        for hashing in [true, false] {
            let machine = try Machine(program: program)
            var driver = StandaloneDriver(seed: 1)
            let summary = try machine.drive(&driver, hashingState: hashing)
            #expect(summary.guestStoppedNanos > 0)
            summaries.append(summary)
            hashes.append(machine.stateHash())
        }
        #expect(summaries[0].stateHash == hashes[0])
        #expect(summaries[1].stateHash == 0)
        #expect(hashes[0] == hashes[1])
        #expect(summaries[0].instructions == summaries[1].instructions)
        #expect(summaries[0].outputHash == summaries[1].outputHash)
    }

    @Test("an interrupt raised at count N is taken before instruction N+1", arguments: [3, 4, 5, 10, 11, 1001])
    func interruptAtExactCount(_ n: UInt64) throws {
        let machine = try Machine(program: try assemble(Self.counter))
        #expect(machine.run(vcpu: 0, until: n) == .reachedLimit)
        machine.raise(.timer)
        #expect(machine.run(vcpu: 0, until: .max) == .halted)
        #expect(machine.register(3) == (n - 3 + 1) / 2, "addi instructions executed before the interrupt")
        #expect(machine.register(4) == UInt64(Interrupt.timer.rawValue))
        #expect(machine.instructionCount(vcpu: 0) == n + 3)
    }

    @Test("interrupts wait while disabled and are taken at ei; iret returns and re-enables")
    func disabledInterrupts() throws {
        let machine = try Machine(program: try assemble("""
            setivec handler
            li r2, 0
            addi r2, r2, 1      ; interrupt raised before this one, but disabled
            addi r2, r2, 1
            ei                  ; taken here
            addi r2, r2, 100
            halt
            handler:
            mov r3, r2
            iret
            """))
        #expect(machine.run(vcpu: 0, until: 2) == .reachedLimit)
        machine.raise(.dma)
        #expect(machine.run(vcpu: 0, until: .max) == .halted)
        #expect(machine.register(3) == 2)
        #expect(machine.register(2) == 102)
    }

    @Test("an interrupt with no vector is a guest fault")
    func noVector() throws {
        let machine = try Machine(program: try assemble("ei\nnop\nnop\nhalt"))
        #expect(machine.run(vcpu: 0, until: 1) == .reachedLimit)
        machine.raise(.timer)
        #expect(machine.run(vcpu: 0, until: .max) == .fault(GuestFault(kind: .noInterruptVector, vcpu: 0, pc: 1, instructionCount: 1)))
    }

    @Test("wfi waits until an interrupt is pending, even with interrupts disabled")
    func waitForInterrupt() throws {
        let machine = try Machine(program: try assemble("li r1, 1\nwfi\nli r1, 2\nhalt"))
        #expect(machine.run(vcpu: 0, until: .max) == .waitingForInterrupt)
        #expect(machine.isWaiting(vcpu: 0))
        #expect(machine.run(vcpu: 0, until: .max) == .waitingForInterrupt, "still nothing pending")
        #expect(machine.instructionCount(vcpu: 0) == 2)
        machine.raise(.timer)
        #expect(machine.run(vcpu: 0, until: .max) == .halted)
        #expect(machine.register(1) == 2)
    }

    @Test("rdclock and rdrand trap to the host, which supplies the value")
    func clockAndRandom() throws {
        let machine = try Machine(program: try assemble("rdclock r5\nrdrand r6\nadd r1, r5, r6\nhalt"))
        #expect(machine.run(vcpu: 0, until: .max) == .clockRead(register: 5))
        #expect(machine.instructionCount(vcpu: 0) == 1, "the read has retired")
        machine.setRegister(5, to: 1000)
        #expect(machine.run(vcpu: 0, until: .max) == .randomRead(register: 6))
        machine.setRegister(6, to: 234)
        #expect(machine.run(vcpu: 0, until: .max) == .halted)
        #expect(machine.register(1) == 1234)
    }

    @Test("out hands a guest buffer to the host")
    func output() throws {
        let machine = try Machine(program: try assemble("""
            .data
            msg: .ascii "reply"
            .text
            li r1, msg
            li r2, 5
            out r1, r2
            halt
            """))
        let exit = machine.run(vcpu: 0, until: .max)
        #expect(exit == .output(address: UInt64(Program.dataOrigin), length: 5))
        #expect(machine.memory.bytes(at: UInt64(Program.dataOrigin), count: 5) == Array("reply".utf8))
    }

    @Test("DMA writes length and bytes into the posted buffer, consumes it and raises the DMA interrupt")
    func dma() throws {
        let machine = try Machine(program: try assemble("""
            setivec handler
            li r1, 0x3000
            li r2, 24
            dmapost r1, r2
            ei
            wfi
            halt
            handler:
            ld64 r3, [r1]
            ld8 r4, [r1 + 8]
            cause r5
            halt
            """))
        #expect(machine.deliverDMA([1]) == .noBufferPosted)
        #expect(machine.run(vcpu: 0, until: .max) == .waitingForInterrupt)
        #expect(machine.devices.dmaBuffer == .init(address: 0x3000, length: 24, vcpu: 0))
        #expect(machine.deliverDMA(Array(repeating: 1, count: 17)) == .tooLarge(capacity: 16))
        #expect(machine.deliverDMA([9, 8, 7]) == .delivered(vcpu: 0))
        #expect(machine.devices.dmaBuffer == nil, "a posting takes one request")
        #expect(machine.run(vcpu: 0, until: .max) == .halted)
        #expect(machine.register(3) == 3)
        #expect(machine.register(4) == 9)
        #expect(machine.register(5) == UInt64(Interrupt.dma.rawValue))
    }

    @Test("settimer programs the timer device")
    func timer() throws {
        let machine = try Machine(program: try assemble("li r1, 250\nsettimer r1\nhalt"))
        #expect(machine.run(vcpu: 0, until: .max) == .halted)
        #expect(machine.devices.timerPeriodMicros == 250)
    }

    @Test("each vCPU starts with its index in r0, the vCPU count in r1 and its own stack")
    func vcpuStart() throws {
        let machine = try Machine(program: try assemble("cpuid r2\nhalt"), vcpus: 3, memorySize: 1 << 20)
        for v in 0..<3 {
            #expect(machine.run(vcpu: v, until: .max) == .halted)
            #expect(machine.register(0, vcpu: v) == UInt64(v))
            #expect(machine.register(1, vcpu: v) == 3)
            #expect(machine.register(2, vcpu: v) == UInt64(v))
            #expect(machine.register(15, vcpu: v) == UInt64((1 << 20) - v * Program.stackSize))
        }
    }

    @Test("the state hash covers registers, memory and devices")
    func stateHash() throws {
        let program = try assemble("li r1, 5\nhalt")
        let a = try Machine(program: program), b = try Machine(program: program)
        #expect(a.stateHash() == b.stateHash())
        _ = a.run(vcpu: 0, until: .max)
        #expect(a.stateHash() != b.stateHash())
        _ = b.run(vcpu: 0, until: .max)
        #expect(a.stateHash() == b.stateHash())
        b.memory.write([1], at: 0x30_0000)
        #expect(a.stateHash() != b.stateHash(), "one byte of memory")
        b.memory.write([0], at: 0x30_0000)
        #expect(a.stateHash() == b.stateHash())
        b.setRegister(9, to: 1)
        #expect(a.stateHash() != b.stateHash(), "one register")
        b.setRegister(9, to: 0)
        b.raise(.timer)
        #expect(a.stateHash() != b.stateHash(), "a pending interrupt")
    }

    @Test("bad configurations are rejected")
    func configuration() throws {
        let program = try assemble("halt")
        #expect(throws: Machine.ConfigurationError.badVCPUCount(0)) { try Machine(program: program, vcpus: 0) }
        #expect(throws: Machine.ConfigurationError.memoryTooSmall(requested: 4096, needed: Program.dataOrigin + Program.stackSize)) {
            try Machine(program: program, memorySize: 4096)
        }
        #expect(throws: Machine.ConfigurationError.memoryTooLarge(1 << 33)) { try Machine(program: program, memorySize: 1 << 33) }
    }
}
