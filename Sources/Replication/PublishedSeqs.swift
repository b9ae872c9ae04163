import Atomics

/// One published log position per vCPU of a recording primary: how many entries vCPU N has
/// appended and flushed to its ring. Each vCPU's thread stores its own (releasing) after every
/// flush; any thread may read all of them (acquiring), which is what the output rule across vCPUs
/// snapshots.
///
/// Storage: one allocation the instance owns (freed in `deinit`), each word on its own 128
/// bytes: a word changes on every append, so two vCPUs' words must not share a cache line (nor
/// the adjacent line the prefetcher pulls in with it).
final class PublishedSeqs: @unchecked Sendable {
    private let memory: UnsafeMutableRawPointer
    private let words: [UnsafeAtomic<UInt64>]

    init(vcpus: Int) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 128 * vcpus, alignment: 128)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: 128 * vcpus)
        self.memory = memory
        words = (0..<vcpus).map { UnsafeAtomic(at: (memory + 128 * $0).bindMemory(to: UInt64.AtomicRepresentation.self, capacity: 1)) }
    }

    deinit { memory.deallocate() }

    var count: Int { words.count }

    @inline(__always)
    func publish(_ seq: UInt64, vcpu: Int) { words[vcpu].store(seq, ordering: .releasing) }

    @inline(__always)
    subscript(vcpu: Int) -> UInt64 { words[vcpu].load(ordering: .acquiring) }
}
