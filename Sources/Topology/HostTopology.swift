import CPlatform

#if canImport(Glibc)
import Glibc
#endif

/// The host machine as ftbench sees it: CPUs, NUMA nodes, where threads run.
public struct HostTopology: Sendable, Equatable {
    public var cpuCount: Int
    public var numaNodes: Int
    /// Whether the kernel supports NUMA placement (libnuma's numa_available()).
    public var numaAvailable: Bool
    /// The CPU model from /proc/cpuinfo, or "unknown".
    public var cpuModel: String

    public static func current() -> HostTopology {
        HostTopology(
            cpuCount: Int(ftb_cpu_count()), numaNodes: Int(ftb_numa_node_count()),
            numaAvailable: ftb_numa_available() == 1, cpuModel: readCPUModel())
    }

    /// The NUMA node of `cpu`, or nil if there is no such CPU.
    public func node(ofCPU cpu: Int) -> Int? {
        let node = ftb_numa_node_of_cpu(Int32(cpu))
        return node >= 0 ? Int(node) : nil
    }

    private static func readCPUModel() -> String {
        let line = readTextFile("/proc/cpuinfo")?.split(separator: "\n").first { $0.hasPrefix("model name") }
        guard let line, let colon = line.firstIndex(of: ":") else { return "unknown" }
        return line[line.index(after: colon)...].trimmingWhitespace()
    }
}

public struct TopologyError: Error, Equatable, CustomStringConvertible, Sendable {
    public var description: String
}

/// Pins the calling thread to `cpus` (it may run on any of them).
public func pinCurrentThread(toCPUs cpus: [Int]) throws(TopologyError) {
    let count = Int(ftb_cpu_count())
    if let missing = cpus.first(where: { $0 < 0 || $0 >= count }) {
        throw TopologyError(description: "CPU \(missing) does not exist: this machine has CPUs 0...\(count - 1)")
    }
    let error = cpus.map(Int32.init).withUnsafeBufferPointer { ftb_pin_current_thread_set($0.baseAddress, Int32($0.count)) }
    guard error == 0 else {
        throw TopologyError(description: "cannot pin to CPU \(describeCPUs(cpus)): \(String(cString: strerror(error)))")
    }
}

/// Pins the calling thread to `cpu`.
public func pinCurrentThread(toCPU cpu: Int) throws(TopologyError) {
    try pinCurrentThread(toCPUs: [cpu])
}

/// Parses a CPU list as the kernel writes one (`0`, `0-3`, `0,2,4-7`): sorted, without
/// duplicates; nil if it is not one or names a CPU twice.
public func parseCPUList(_ text: String) -> [Int]? {
    var cpus: [Int] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        let bounds = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let low = Int(bounds[0]), low >= 0, low < 4_096 else { return nil }
        let high = bounds.count == 2 ? Int(bounds[1]) : low
        guard let high, high >= low, high < 4_096 else { return nil }
        cpus.append(contentsOf: low...high)
    }
    guard Set(cpus).count == cpus.count else { return nil }
    return cpus.sorted()
}

/// The CPUs the calling thread may run on, as the kernel reports its affinity mask: one CPU
/// for a pinned thread.
public func allowedCPUs() -> [Int] {
    var cpus = [Int32](repeating: 0, count: 1024)
    let n = ftb_allowed_cpus(&cpus, Int32(cpus.count))
    return n > 0 ? cpus.prefix(Int(n)).map(Int.init) : []
}

/// A CPU list as the kernel writes one: `0`, `0-3`, `0,2,4-7`.
public func describeCPUs(_ cpus: [Int]) -> String {
    var ranges: [String] = []
    var index = 0
    let sorted = cpus.sorted()
    while index < sorted.count {
        var end = index
        while end + 1 < sorted.count, sorted[end + 1] == sorted[end] + 1 { end += 1 }
        ranges.append(end == index ? "\(sorted[index])" : "\(sorted[index])-\(sorted[end])")
        index = end + 1
    }
    return ranges.isEmpty ? "none" : ranges.joined(separator: ",")
}

/// The CPU the calling thread is running on.
public func currentCPU() -> Int { Int(ftb_current_cpu()) }

/// The CPU's spin-wait hint: polite to the sibling hyperthread, and it keeps a spin loop from
/// flooding the memory system with speculative loads.
@inline(__always)
public func cpuRelax() { ftb_cpu_relax() }

/// Gives the CPU to another runnable thread.
public func yieldCPU() { sched_yield() }

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
