#if canImport(Glibc)
import Glibc
#endif

/// CPU time on this host, split into what this process used, what other processes used and what
/// the hypervisor took (steal), from `/proc/stat` and `/proc/self/stat` (in clock ticks,
/// `sysconf(_SC_CLK_TCK)` per second, usually 100). Two samples bracket a measurement window;
/// their difference says whether anything else competed for the CPUs while it ran: on this
/// 2-core machine two spinning threads collapse 5-10x when anything else runs.
public struct HostLoad: Sendable, Equatable {
    /// Busy ticks of all CPUs (user, nice, system, irq, softirq).
    public var busy: UInt64
    /// Ticks the hypervisor ran something else while a vCPU wanted to run.
    public var steal: UInt64
    /// Every tick of all CPUs, idle included.
    public var total: UInt64
    /// Ticks this process used (all its threads, user and system).
    public var own: UInt64

    /// Reads both files now; nil if either cannot be read (not Linux, /proc not mounted).
    public static func sample() -> HostLoad? {
        guard let stat = readTextFile("/proc/stat"), let mine = readTextFile("/proc/self/stat") else { return nil }
        guard let cpuLine = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let fields = cpuLine.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 8 else { return nil }
        // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
        let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
        let total = fields[0...7].reduce(0, +)
        // /proc/self/stat: the command name may hold spaces, so count fields after its ')'.
        guard let close = mine.lastIndex(of: ")") else { return nil }
        let rest = mine[mine.index(after: close)...].split(separator: " ")
        // After ')': state is field 3, utime field 14 and stime field 15 of the whole line.
        guard rest.count > 12, let utime = UInt64(rest[11]), let stime = UInt64(rest[12]) else { return nil }
        return HostLoad(busy: busy, steal: fields[7], total: total, own: utime + stime)
    }

    /// What happened between `earlier` and this sample, as fractions of all CPUs' time.
    public func since(_ earlier: HostLoad) -> Interference {
        let total = Double(max(1, total &- earlier.total))
        let others = Double(busy &- earlier.busy) - Double(own &- earlier.own)
        return Interference(otherProcesses: max(0, others) / total, steal: Double(steal &- earlier.steal) / total)
    }

}

/// CPU time taken from a measurement by others, as fractions of all CPUs' time over a window.
public struct Interference: Sendable, Equatable {
    /// Other processes on this host.
    public var otherProcesses: Double
    /// The hypervisor (steal time).
    public var steal: Double

    public init(otherProcesses: Double, steal: Double) {
        self.otherProcesses = otherProcesses
        self.steal = steal
    }

    /// Above this share of the machine taken by others (2% of two CPUs is 40 ms of a 1 s window,
    /// enough to stall a spinning pair for several scheduler ticks), a row is flagged noisy.
    public static let noisyThreshold = 0.02

    public var isNoisy: Bool { otherProcesses + steal > Self.noisyThreshold }
}

/// The whole of a small text file (the /proc files this module reads), or nil if it cannot be
/// opened.
func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}
