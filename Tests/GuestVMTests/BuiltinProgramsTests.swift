import GuestVM
import Topology
import Testing

@Suite("BuiltinPrograms")
struct BuiltinProgramsTests {
    @Test("every built-in program assembles and documents itself at its top")
    func assembleAll() throws {
        for entry in BuiltinPrograms.all {
            let program = try #require(try BuiltinPrograms.program(named: entry.name))
            #expect(program.instructions.count > 5)
            #expect(entry.source.drop { $0.isWhitespace }.hasPrefix("; \(entry.name):"), "\(entry.name) starts with its description")
        }
    }

    func outputs(_ source: String, vcpus: Int? = nil, requests: [[UInt8]] = []) throws -> (String, RunSummary) {
        let program = try assemble(source)
        let machine = try Machine(program: program, vcpus: vcpus ?? program.preferredVCPUs)
        let collector = OutputCollector()
        var driver = StandaloneDriver(requests: requests, seed: 1, onOutput: { collector.outputs.append(Array($0)) })
        let summary = try machine.drive(&driver, quantum: 1_000)
        return (collector.text, summary)
    }

    @Test("fib prints fib(n)")
    func fib() throws {
        let source = try #require(BuiltinPrograms.named("fib")).source
        #expect(try outputs(source.replacingOccurrences(of: ".const N = 32", with: ".const N = 20")).0 == "6765\n")
        if longTests { #expect(try outputs(source).0 == "2178309\n") }
    }

    @Test("sieve counts the primes")
    func sieve() throws {
        let source = try #require(BuiltinPrograms.named("sieve")).source
            .replacingOccurrences(of: ".const N = 10000000", with: ".const N = \(longTests ? 10_000_000 : 100_000)")
        #expect(try outputs(source).0 == (longTests ? "664579\n" : "9592\n"))
    }

    @Test("loop computes its accumulator")
    func loop() throws {
        let source = try #require(BuiltinPrograms.named("loop")).source
            .replacingOccurrences(of: ".const ITERATIONS = 100000000", with: ".const ITERATIONS = 1000")
        var acc: UInt64 = 0
        for i in stride(from: UInt64(1000), through: 1, by: -1) { acc = (acc &+ i) ^ 0x5BD1 }
        let (text, summary) = try outputs(source)
        #expect(text == "\(acc)\n")
        #expect(summary.totalInstructions > 4000)
    }

    /// The benchmark programs against the same algorithms written here in Swift: the checksums
    /// the peers (scripts/peers/) must match.
    @Test("tak computes Takeuchi's function")
    func tak() throws {
        func tak(_ x: Int, _ y: Int, _ z: Int) -> Int { y >= x ? z : tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y)) }
        let source = try #require(BuiltinPrograms.named("tak")).source
        #expect(try outputs(source).0 == "\(tak(24, 16, 8))\n")
        let smaller = source.replacingOccurrences(of: ".const X = 24", with: ".const X = 12")
            .replacingOccurrences(of: ".const Y = 16", with: ".const Y = 8").replacingOccurrences(of: ".const Z = 8", with: ".const Z = 3")
        #expect(try outputs(smaller).0 == "\(tak(12, 8, 3))\n")
    }

    static let hashInput = (0..<65536).map { UInt64(($0 * 131 + 7) % 251) }

    @Test("hash-rem hashes with a remainder step")
    func hashRem() throws {
        var h: UInt64 = 0
        for _ in 0..<256 { for byte in Self.hashInput { h = (h &* 31 &+ byte) % 1_000_003 } }
        #expect(try outputs(try #require(BuiltinPrograms.named("hash-rem")).source).0 == "\(h)\n")
    }

    @Test("hash-mul hashes with a multiply step")
    func hashMul() throws {
        var h: UInt64 = 0x11C_9DC5
        for _ in 0..<256 { for byte in Self.hashInput { h = ((h ^ byte) &* 16_777_619) & 0xFFF_FFFF } }
        #expect(try outputs(try #require(BuiltinPrograms.named("hash-mul")).source).0 == "\(h)\n")
    }

    @Test("matmul sums the products")
    func matmul() throws {
        let n = 120
        var checksum = 0
        for _ in 0..<6 {
            for i in 0..<n {
                for j in 0..<n { checksum += (0..<n).reduce(0) { $0 + ((i + 2 * $1) % 10) * ((3 * $1 + j) % 10) } }
            }
        }
        #expect(try outputs(try #require(BuiltinPrograms.named("matmul")).source).0 == "\(checksum)\n")
    }

    @Test("sort leaves the values in order and hashes them")
    func sort() throws {
        var x: UInt64 = 42
        let values = (0..<100_000).map { _ in x = x * 16807 % 2_147_483_647; return x }.sorted()
        let h = values.reduce(UInt64(0)) { ($0 * 31 + $1) % 1_000_003 }
        #expect(try outputs(try #require(BuiltinPrograms.named("sort")).source).0 == "\(h)\n")
    }

    /// Negative control for the sort check: a heap whose sift never swaps leaves the values
    /// unsorted, and the printed figure then carries 10,000,000 per value out of order.
    @Test("sort's check catches a broken sort")
    func sortCheckCatchesDisorder() throws {
        let broken = try #require(BuiltinPrograms.named("sort")).source
            .replacingOccurrences(of: "    bgeu r8, r6, .done\n", with: "    jmp .done\n")
        let printed = try #require(UInt64(try outputs(broken).0.dropLast()))
        #expect(printed >= 10_000_000)
    }

    @Test("shared-counter: the spinlock and xadd both count every increment, at any quantum", arguments: [1, 3, 7, 1000] as [UInt64])
    func sharedCounter(quantum: UInt64) throws {
        let source = try #require(BuiltinPrograms.named("shared-counter")).source
            .replacingOccurrences(of: ".const ITERATIONS = 100000", with: ".const ITERATIONS = 300")
        for vcpus in [1, 2, 4] {
            let machine = try Machine(program: try assemble(source), vcpus: vcpus)
            let collector = OutputCollector()
            var driver = StandaloneDriver(seed: 1, onOutput: { collector.outputs.append(Array($0)) })
            _ = try machine.drive(&driver, quantum: quantum)
            #expect(collector.text == "\(300 * vcpus)\n\(300 * vcpus)\n")
        }
    }

    @Test("partitioned: the total does not depend on the interleaving")
    func partitioned() throws {
        let source = try #require(BuiltinPrograms.named("partitioned")).source
            .replacingOccurrences(of: ".const PASSES = 32", with: ".const PASSES = 2")
        let program = try assemble(source)
        var results: Set<String> = []
        for quantum in [5, 333, 100_000] as [UInt64] {
            let machine = try Machine(program: program, vcpus: 4)
            let collector = OutputCollector()
            var driver = StandaloneDriver(seed: 1, onOutput: { collector.outputs.append(Array($0)) })
            _ = try machine.drive(&driver, quantum: quantum)
            results.insert(collector.text)
        }
        #expect(results.count == 1)
        #expect(results.first?.isEmpty == false)
    }

    /// The lock-heavy workload counts every section at any quantum, and its synchronisation rate
    /// is what its `.const` says: 2 synchronising instructions (cas, strel) per 2000 / SYNC_RATE
    /// instructions when uncontended (one vCPU).
    @Test("lock-heavy: every section counted, at the synchronisation rate its SYNC_RATE sets", arguments: [1, 10] as [Int64])
    func lockHeavy(rate: Int64) throws {
        let source = try #require(BuiltinPrograms.named("lock-heavy")).source
        let program = try Assembler.assemble(source, file: "lock-heavy", defines: ["SYNC_RATE": rate, "SECTIONS": 400])
        for (vcpus, quantum) in [(1, UInt64(100_000)), (2, 777)] {
            let machine = try Machine(program: program, vcpus: vcpus)
            let collector = OutputCollector()
            var driver = StandaloneDriver(seed: 1, onOutput: { collector.outputs.append(Array($0)) })
            let summary = try machine.drive(&driver, quantum: quantum)
            #expect(collector.text == "\(400 * vcpus)\n")
            if vcpus == 1 {
                let perThousand = 2.0 * 400 / Double(summary.totalInstructions) * 1000
                #expect(abs(perThousand - Double(rate)) < Double(rate) * 0.05, "\(perThousand) per 1,000")
            }
        }
    }

    @Test("producer-consumer: every item passes the ring once, at any quantum", arguments: [5, 333, 100_000] as [UInt64])
    func producerConsumer(quantum: UInt64) throws {
        let source = try #require(BuiltinPrograms.named("producer-consumer")).source
        let program = try Assembler.assemble(source, file: "producer-consumer", defines: ["ITEMS": 2000])
        let machine = try Machine(program: program, vcpus: 2)
        let collector = OutputCollector()
        var driver = StandaloneDriver(seed: 1, onOutput: { collector.outputs.append(Array($0)) })
        _ = try machine.drive(&driver, quantum: quantum)
        #expect(collector.text == "\(2000 * 2001 / 2)\n")
    }

    /// The racy counter's total depends on where round-robin switches vCPUs (a switch between a
    /// load and its store loses an increment), but one quantum always gives one total.
    @Test("racy-counter: round-robin loses increments at its switch points, the same ones every time")
    func racyCounter() throws {
        let source = try #require(BuiltinPrograms.named("racy-counter")).source
        let program = try Assembler.assemble(source, file: "racy-counter", defines: ["ITERATIONS": 100_000])
        var totals: [String] = []
        for _ in 0..<2 {
            let machine = try Machine(program: program, vcpus: 2)
            let collector = OutputCollector()
            var driver = StandaloneDriver(seed: 1, onOutput: { collector.outputs.append(Array($0)) })
            _ = try machine.drive(&driver, quantum: 7_777)
            totals.append(collector.text)
        }
        #expect(totals[0] == totals[1])
        let total = try #require(Int(totals[0].dropLast()))
        #expect(total < 200_000 && total >= 100_000, "\(total)")
    }

    @Test("kvstore stores, finds and rejects as its protocol says")
    func kvstore() throws {
        let requests = [
            KVStoreProtocol.request(seq: 1, op: .get, key: 5),
            KVStoreProtocol.request(seq: 2, op: .put, key: 5, value: 50),
            KVStoreProtocol.request(seq: 3, op: .get, key: 5),
            KVStoreProtocol.request(seq: 4, op: .put, key: 5, value: 51, work: 100),
            KVStoreProtocol.request(seq: 5, op: .get, key: 5),
            KVStoreProtocol.request(seq: 6, op: .get, key: 0),
            [1, 2, 3],
            KVStoreProtocol.request(seq: 8, op: .get, key: 6),
        ]
        let program = try #require(try BuiltinPrograms.program(named: "kvstore"))
        let machine = try Machine(program: program)
        let collector = OutputCollector()
        var driver = StandaloneDriver(requests: requests, seed: 1, onOutput: { collector.outputs.append(Array($0)) })
        _ = try machine.drive(&driver)
        let replies: [KVStoreProtocol.Reply?] = collector.outputs.map { bytes in bytes.withUnsafeBytes { KVStoreProtocol.reply($0) } }
        let expected: [KVStoreProtocol.Reply?] = [
            .init(seq: 1, status: .notFound, value: 0),
            .init(seq: 2, status: .ok, value: 50),
            .init(seq: 3, status: .ok, value: 50),
            .init(seq: 4, status: .ok, value: 51),
            .init(seq: 5, status: .ok, value: 51),
            .init(seq: 6, status: .badRequest, value: 0),
            .init(seq: 0, status: .badRequest, value: 0),
            .init(seq: 8, status: .notFound, value: 0),
        ]
        #expect(replies == expected)
    }
}
