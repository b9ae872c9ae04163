/// The built-in suites, written in the same TOML as user suite files (docs/SUITES.md), so that
/// `ftbench suite NAME --print` shows a file a user can copy and edit.
public enum BuiltinSuites {
    public static let names = ["quick", "latency", "batching", "failover", "full"]

    public static func text(of name: String) -> String? {
        switch name {
        case "quick": quick
        case "latency": latency
        case "batching": batching
        case "failover": failover
        case "full": full
        default: nil
        }
    }

    /// The README's first command: at most 3 minutes of running on a 2-core machine.
    static let quick = """
        description = "kvstore at three offered loads and the CPU-bound compute, FT off and on over lan and cross-city, 6 rounds"
        repeat = 6

        [defaults]
        duration = 1.0
        warmup = 0.3

        [[scenarios]]
        title = "Response latency against offered load"
        workload = "kvstore"
        profile = ["lan", "cross-city"]
        ft = "both"
        rate = [5000, 20000, 40000]

        [[scenarios]]
        title = "CPU-bound guest: what FT costs a computing VM"
        workload = "compute"
        profile = ["lan", "cross-city"]
        ft = "both"

        """

    static let latency = """
        description = "Every channel profile, loopback to intercontinental: throughput and p99 against the round trip"
        repeat = 6

        [defaults]
        duration = 1.5
        warmup = 0.5
        profile = ["loopback", "lan", "datacenter", "metro", "cross-city", "intercontinental"]
        ft = "both"

        [[scenarios]]
        title = "kvstore at a moderate and a high load"
        workload = "kvstore"
        rate = [10000, 40000]

        [[scenarios]]
        title = "CPU-bound guest"
        workload = "compute"

        """

    static let batching = """
        description = "ACK policies and batch sizes over lan and cross-city: ACKs per second against the latency they add"
        repeat = 6

        [defaults]
        duration = 1.0
        warmup = 0.3

        [[scenarios]]
        title = "kvstore at 20,000 requests/s under every ACK policy"
        workload = "kvstore"
        profile = ["lan", "cross-city"]
        ack = ["every", "every:4", "every:16", "every:64", "interval:100us", "interval:1ms", "output-aware:4", "output-aware:64"]
        ft = "both"
        rate = 20000

        """

    static let failover = """
        description = "Faults on kvstore over lan: crashes, a partition settled by the arbiter, a latency spike, a slow backup; throughput and latency per 10 ms"
        repeat = 6

        [defaults]
        workload = "kvstore"
        ft = "on"
        rate = 10000
        duration = 1.5
        warmup = 0.5

        [[scenarios]]
        title = "Primary crash at a point drawn each round"
        fault = "primary-crash@0.8s..1.6s"

        [[scenarios]]
        title = "Backup crash at a point drawn each round"
        fault = "backup-crash@0.8s..1.6s"

        [[scenarios]]
        title = "Logging channel partitioned for 200 ms: split brain, settled by the arbiter"
        fault = "partition@1s+200ms"

        [[scenarios]]
        title = "Latency spike: every entry and ACK 5 ms late for 200 ms"
        fault = "latency-spike@1s+200ms:5ms"

        [[scenarios]]
        title = "Slow backup: half speed for 300 ms"
        fault = "slow-backup@1s+300ms:0.5"

        """

    static let full = """
        description = "Every built-in suite: quick, latency, batching and failover"
        repeat = 6
        include = ["quick", "latency", "batching", "failover"]

        """
}
