import Testing
import Topology
@testable import GuestVM

@Suite("Guest memory placement")
struct GuestMemoryPlacementTests {
    /// `--primary-node`/`--backup-node` place guest memory with libnuma. On this one-node machine
    /// node 0 is the only node to test; where libnuma reports no NUMA support the memory is an
    /// ordinary allocation and says so (`node` nil).
    @Test("guest memory asked for on node 0 is allocated there, zeroed and usable")
    func nodeZero() throws {
        let program = try assemble(".data\nv: .u64 7\n.text\nli r2, v\nld64 r1, [r2]\nhalt")
        let machine = try Machine(program: program, memoryNode: 0)
        #expect(machine.memory.node == (HostTopology.current().numaAvailable ? 0 : nil))
        #expect(machine.run(vcpu: 0, until: .max) == .halted && machine.register(1) == 7)
        #expect(machine.memory.load64(at: 0x8000) == 0)
        #expect(try Machine(program: program).memory.node == nil)
    }
}
