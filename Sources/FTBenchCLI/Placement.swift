import Topology

/// Where a run's two sides go (`--primary-cpus`, `--backup-cpus`, `--primary-node`,
/// `--backup-node`), checked against this machine, and what meta.json says about it.
struct Placement {
    var primaryCPUs: [Int]?
    var backupCPUs: [Int]?
    var primaryNode: Int?
    var backupNode: Int?
    /// For meta.json: each side's CPUs and node, and any fallback taken.
    var record: [String: String] = [:]

    /// Checks the options as given; nil CPUs mean the defaults (0 and 1).
    init(primaryCPUs: String?, backupCPUs: String?, primaryNode: Int?, backupNode: Int?, host: HostTopology) throws(CLIError) {
        self.primaryCPUs = try Self.cpus(primaryCPUs ?? "0", option: "--primary-cpus", host: host)
        self.backupCPUs = try Self.cpus(backupCPUs ?? "1", option: "--backup-cpus", host: host)
        for (option, node, cpus) in [("--primary-node", primaryNode, self.primaryCPUs), ("--backup-node", backupNode, self.backupCPUs)] {
            guard let node else { continue }
            guard node < host.numaNodes else {
                throw CLIError("\(option): node \(node) does not exist: this machine has \(host.numaNodes) NUMA node\(host.numaNodes == 1 ? "" : "s") (0...\(host.numaNodes - 1))")
            }
            if host.numaAvailable, let cpus, let off = cpus.first(where: { host.node(ofCPU: $0) != node }) {
                throw CLIError("\(option) \(node): CPU \(off) of the side's CPUs is on node \(host.node(ofCPU: off).map(String.init) ?? "?"), not \(node)")
            }
        }
        // Without NUMA support nothing can be placed on a node: the sides are pinned to their
        // CPUs only, and meta.json says so.
        self.primaryNode = host.numaAvailable ? primaryNode : nil
        self.backupNode = host.numaAvailable ? backupNode : nil
        for (side, cpus, asked, placed) in [("primary", self.primaryCPUs, primaryNode, self.primaryNode),
                                            ("backup", self.backupCPUs, backupNode, self.backupNode)] {
            record["\(side)_cpus"] = cpus.map(describeCPUs) ?? "not pinned"
            record["\(side)_node"] = placed.map { "\($0): guest memory and the ring this side reads allocated there with libnuma" }
                ?? asked.map { "\($0) asked; NUMA placement unavailable here: CPU pinning only" }
                ?? "not placed (rings on the node of the side's first CPU)"
        }
    }

    /// A side's CPU list, or nil for `none`.
    static func cpus(_ text: String, option: String, host: HostTopology) throws(CLIError) -> [Int]? {
        guard text != "none" else { return nil }
        guard let cpus = parseCPUList(text) else {
            throw CLIError("\(option) '\(text.prefix(40))' is not a CPU list such as 0, 0-3 or 0,2 (each CPU once), or none")
        }
        if let missing = cpus.first(where: { $0 >= host.cpuCount }) {
            throw CLIError("\(option): CPU \(missing) does not exist: this machine has CPUs 0...\(host.cpuCount - 1)")
        }
        return cpus
    }

    /// Calibration needs a CPU of each side, distinct.
    var calibrationPair: (Int, Int)? {
        guard let a = primaryCPUs?.first, let b = backupCPUs?.first(where: { $0 != a }) else { return nil }
        return (a, b)
    }
}
