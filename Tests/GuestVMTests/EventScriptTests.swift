import GuestVM
import Topology
import Testing

/// Determinism: the same program and the same `EventScript` give the same state hash, always;
/// and a script that does not match the run is detected, never silently accepted.
@Suite("EventScript")
struct EventScriptTests {
    static let kvRequests: [[UInt8]] = {
        var rng = SplitMix64(seed: 99)
        return (1...400).map { seq in
            let key = rng.next() % 50 + 1
            return KVStoreProtocol.request(seq: UInt64(seq), op: seq % 3 == 0 ? .get : .put, key: key, value: rng.next(), work: UInt64(seq % 5))
        }
    }()

    @Test("a hand-written script replays to the same hash every time")
    func handWritten() throws {
        let program = try assemble(MachineTests.counter.replacingOccurrences(of: "halt", with: "iret"))
        let script = EventScript(injections: [
            .init(count: 10, event: .interrupt(.timer)),
            .init(count: 57, event: .interrupt(.dma)),
            .init(count: 58, event: .interrupt(.timer)),
        ])
        var hashes: Set<UInt64> = []
        for _ in 0..<3 {
            let machine = try Machine(program: program)
            var driver = ScriptDriver(script)
            // The guest loops forever: run it in slices up to a fixed count.
            while machine.instructionCount(vcpu: 0) < 500, machine.fault(vcpu: 0) == nil {
                let count = machine.instructionCount(vcpu: 0)
                try driver.injectEvents(into: machine, vcpu: 0, count: count)
                _ = machine.run(vcpu: 0, until: try driver.sliceEnd(vcpu: 0, count: count, quantumEnd: 500))
            }
            #expect(machine.fault(vcpu: 0) == nil)
            #expect(driver.isExhausted)
            hashes.insert(machine.stateHash())
        }
        #expect(hashes.count == 1)
    }

    @Test("record and replay: kvstore driven by DMA and interrupts", arguments: [1, 2, 3] as [UInt64])
    func kvstore(seed: UInt64) throws {
        let program = try #require(try BuiltinPrograms.program(named: "kvstore"))
        let (recorded, replayed, script) = try recordAndReplay(program, requests: Self.kvRequests, seed: seed)
        #expect(recorded.outputs == Self.kvRequests.count)
        #expect(script.injections.count == Self.kvRequests.count)
        #expect(replayed == recorded)
    }

    @Test("record and replay: every built-in program but the long-running ones, several seeds",
          arguments: ["nondet", "shared-counter", "partitioned"], [11, 12] as [UInt64])
    func builtins(name: String, seed: UInt64) throws {
        let program = try assemble(try #require(BuiltinPrograms.named(name)).source
            .replacingOccurrences(of: ".const ITERATIONS = 200000", with: ".const ITERATIONS = 5000")
            .replacingOccurrences(of: ".const ITERATIONS = 100000", with: ".const ITERATIONS = 2000"))
        let (recorded, replayed, _) = try recordAndReplay(program, seed: seed, quantum: 997)
        #expect(replayed == recorded)
    }

    @Test("record and replay: compute with real timer interrupts")
    func compute() throws {
        let source = try #require(BuiltinPrograms.named("compute")).source
            .replacingOccurrences(of: ".const PASSES = 8192", with: ".const PASSES = \(longTests ? 1024 : 64)")
            .replacingOccurrences(of: "li r1, 1000\n    settimer r1", with: "li r1, 100\n    settimer r1")
        let (recorded, replayed, script) = try recordAndReplay(try assemble(source), seed: 5)
        #expect(script.injections.contains { $0.event == .interrupt(.timer) }, "timer ticks were recorded")
        #expect(replayed == recorded)
    }

    /// The other half of determinism: replay must notice when it is fed something else.
    @Test("a changed value, a moved injection or changed DMA bytes is detected")
    func divergenceIsDetected() throws {
        let nondet = try assemble(try #require(BuiltinPrograms.named("nondet")).source
            .replacingOccurrences(of: ".const ITERATIONS = 200000", with: ".const ITERATIONS = 300"))
        let (recorded, _, script) = try recordAndReplay(nondet, seed: 1)

        var changedValue = script
        changedValue.values[123].value &+= 1
        #expect(try replay(nondet, changedValue).stateHash != recorded.stateHash)

        var misplacedValue = script
        misplacedValue.values[7].count += 1
        #expect(throws: ReplayDivergence.self) { try replay(nondet, misplacedValue) }

        let kv = try #require(try BuiltinPrograms.program(named: "kvstore"))
        let (kvRecorded, _, kvScript) = try recordAndReplay(kv, requests: Self.kvRequests, seed: 1)
        var changedBytes = kvScript
        // Request 17 is a PUT: flip a bit of its key (bytes 16-23), which the guest acts on.
        guard case .dma(var bytes) = changedBytes.injections[16].event else { Issue.record("not DMA"); return }
        bytes[16] ^= 0x40
        changedBytes.injections[16].event = .dma(bytes)
        let diverged = try replay(kv, changedBytes)
        // The replies are the same (a PUT's reply echoes the value, not the key): only the state
        // hash shows the divergence, which is why replicas compare state and not just outputs.
        #expect(diverged.stateHash != kvRecorded.stateHash)

        var movedInjection = kvScript
        movedInjection.injections[40].count += 3
        #expect(throws: ReplayDivergence.self) { try replay(kv, movedInjection) }
    }

    func replay(_ program: Program, _ script: EventScript) throws -> RunSummary {
        let machine = try Machine(program: program)
        var driver = ScriptDriver(script)
        return try machine.drive(&driver, quantum: 10_000)
    }
}
