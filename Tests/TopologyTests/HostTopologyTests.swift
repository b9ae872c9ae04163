import Testing
import Topology

@Suite("HostTopology")
struct HostTopologyTests {
    @Test("the machine reports CPUs, NUMA nodes and a CPU model")
    func facts() {
        let host = HostTopology.current()
        #expect(host.cpuCount >= 1)
        #expect(host.numaNodes >= 1)
        #expect(!host.cpuModel.isEmpty)
        #expect(host.node(ofCPU: 0) != nil)
        #expect(host.node(ofCPU: 100_000) == nil)
    }

    @Test("a thread pins to a CPU that exists and runs there")
    func pinning() throws {
        let thread = PinnedThread(cpu: 0) {
            precondition(currentCPU() == 0, "pinned thread ran elsewhere")
        }
        thread.join()
        #expect(thread.pinningError == nil)
    }

    @Test("pinning to a CPU that does not exist is an error, not a crash")
    func badCPU() {
        #expect(throws: TopologyError.self) { try pinCurrentThread(toCPU: 4096) }
        #expect(throws: TopologyError.self) { try pinCurrentThread(toCPU: -1) }
    }
}

@Suite("NodeLocalMemory")
struct NodeLocalMemoryTests {
    @Test("memory is zeroed and aligned, placed on a node when there is one, else allocated plainly", arguments: [nil, 0, 7] as [Int?])
    func allocation(node: Int?) {
        let memory = NodeLocalMemory(size: 1 << 16, node: node)
        #expect(Int(bitPattern: memory.base) % 64 == 0)
        let bytes = UnsafeRawBufferPointer(start: memory.base, count: memory.size)
        #expect(bytes.allSatisfy { $0 == 0 })
        let host = HostTopology.current()
        if let node, node < host.numaNodes, host.numaAvailable {
            #expect(memory.node == node)
        } else {
            #expect(memory.node == nil)
        }
    }
}

@Suite("SplitMix64")
struct SplitMix64Tests {
    @Test("the same seed gives the same sequence; the published first output for seed 0")
    func determinism() {
        var a = SplitMix64(seed: 0), b = SplitMix64(seed: 0)
        #expect(a.next() == 0xE220_A839_7B1D_CDAF)
        _ = b.next()
        for _ in 0..<100 { #expect(a.next() == b.next()) }
        var c = SplitMix64(seed: 1)
        #expect((0..<1000).map { _ in c.nextUnit() }.allSatisfy { $0 >= 0 && $0 < 1 })
    }
}

@Suite("HostClock")
struct HostClockTests {
    @Test("waitUntil neither returns early nor oversleeps by much")
    func waitUntilDeadline() {
        for delay: UInt64 in [50_000, 1_000_000] {
            let deadline = monotonicNanos() + delay
            waitUntil(deadline)
            let now = monotonicNanos()
            #expect(now >= deadline)
            #expect(now - deadline < 5_000_000, "a loaded machine may delay the wake-up, not by this much")
        }
    }
}

@Suite("HostLoad")
struct HostLoadTests {
    @Test("samples /proc and attributes a busy loop of this process to itself, not to others")
    func ownTime() throws {
        let before = try #require(HostLoad.sample())
        let start = monotonicNanos()
        var x: UInt64 = 1
        while monotonicNanos() - start < 200_000_000 { x = x &* 6364136223846793005 &+ 1 }
        let after = try #require(HostLoad.sample())
        #expect(x != 0)
        #expect(after.own >= before.own + 10, "200 ms of CPU is about 20 ticks")
        let interference = after.since(before)
        #expect(interference.otherProcesses >= 0 && interference.otherProcesses <= 1)
        #expect(interference.steal >= 0 && interference.steal <= 1)
    }

    @Test("CPU lists are written as the kernel writes them")
    func cpuLists() {
        #expect(describeCPUs([0]) == "0")
        #expect(describeCPUs([3, 0, 1, 2, 7]) == "0-3,7")
        #expect(describeCPUs([]) == "none")
    }
}

@Suite("CPU lists")
struct CPUListTests {
    @Test("CPU lists parse as the kernel writes them; malformed or repeated ones are refused")
    func parse() {
        #expect(parseCPUList("0") == [0])
        #expect(parseCPUList("0-3") == [0, 1, 2, 3])
        #expect(parseCPUList("4,0-1") == [0, 1, 4])
        for bad in ["", "a", "1-", "-1", "3-1", "0,0", "0-2,1", "1,,2", "99999"] { #expect(parseCPUList(bad) == nil, "\(bad)") }
        #expect(describeCPUs(parseCPUList("0-2,5")!) == "0-2,5")
    }
}
