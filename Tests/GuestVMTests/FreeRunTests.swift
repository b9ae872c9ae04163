import Testing
@testable import GuestVM

@Suite("Free run", .serialized)
struct FreeRunTests {
    static let lockedCounter = """
        .vcpus 2
        .const N = 200000
        .data
        .align 64
        lock: .u64 0
        .align 64
        counter: .u64 0
        .text
        start:
            li r10, N
            li r1, lock
            li r2, counter
            li r9, 1
        .again:
            li r4, 0
            cas r4, [r1], r9
            bnei r4, 0, .again
            ld64 r5, [r2]
            addi r5, r5, 1
            st64 [r2], r5
            li r4, 0
            strel [r1], r4
            addi r10, r10, -1
            bnei r10, 0, .again
            halt
        """

    @Test("a counter under a cas lock released by strel is exact on parallel vCPUs")
    func lockedCounterIsExact() throws {
        let program = try assemble(Self.lockedCounter)
        let machine = try Machine(program: program, vcpus: 2)
        let summary = try FreeRun.run(machine, seed: 1)
        #expect(summary.firstFault == nil)
        #expect(machine.memory.load64(at: try address(of: "counter", in: program)) == 400_000)
    }
}

extension FreeRunTests {
    /// The built-in programs that are data-race-free compute on parallel vCPUs what they compute
    /// under round-robin (their totals do not depend on the interleaving).
    @Test("data-race-free built-ins print under free interleaving what round-robin prints", arguments: ["shared-counter", "partitioned", "lock-heavy", "producer-consumer"])
    func dataRaceFreeBuiltins(name: String) throws {
        let program = try #require(try BuiltinPrograms.program(named: name))
        let machine = try Machine(program: program, vcpus: 2)
        let collector = OutputCollector()
        var driver = StandaloneDriver(seed: 1, onOutput: { collector.outputs.append(Array($0)) })
        _ = try Machine(program: program, vcpus: 2).drive(&driver)
        let summary = try FreeRun.run(machine, seed: 1)
        #expect(summary.firstFault == nil)
        #expect(summary.vcpus.flatMap(\.outputs).map { String(decoding: $0, as: UTF8.self) }.joined() == collector.text)
        #expect(summary.wallNanos > 0 && summary.vcpus.allSatisfy { $0.instructions > 0 })
    }

    @Test("a program that uses the timer or DMA is refused, with the instruction named")
    func devicesRefused() throws {
        let machine = try Machine(program: try #require(try BuiltinPrograms.program(named: "kvstore")))
        #expect(throws: FreeRun.Refused.self) { try FreeRun.run(machine, seed: 1) }
        do { _ = try FreeRun.run(machine, seed: 1) } catch { #expect(error.description.contains("dmapost")) }
    }
}

/// The address of a `.data` label.
func address(of label: String, in program: Program) throws -> UInt64 {
    guard case .value(let v) = program.symbols[label] else { throw FreeRun.Refused(description: "no data label \(label)") }
    return UInt64(v)
}
