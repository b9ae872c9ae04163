import Benchmark
import GuestVM
import Topology

/// Interpreter speed on the built-in programs, in picoseconds per guest instruction (a custom
/// metric: package-benchmark metrics are integers), with malloc counts for the measured region,
/// which covers only `Machine.run` and must allocate nothing.
///
/// Run: `swift package benchmark --target GuestVMBenchmarks` (release build).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, Metrics.picosecondsPerInstruction, Metrics.guestMIPS],
        timeUnits: .milliseconds,
        warmupIterations: 1,
        maxDuration: .seconds(5),
        maxIterations: 25
    )

    // `sieve.runTracked`: the interpreter while a state transfer tracks writes (each store also
    // marks its page), what the guest pays during pre-copy, against `sieve.run`, the store-heavy
    // program run without tracking.
    // `shared-counter` on one vCPU: what the atomics cost (each iteration a `cas`, a `strel` and
    // an `xadd` among 9 instructions; host atomics since ISA version 2).
    // tak, hash-rem, hash-mul, matmul and sort: the programs scripts/peers/run.sh also runs on
    // LuaJIT, Lua 5.4 and WasmKit (docs/INTERPRETER.md).
    let programs = [("fib", false), ("sieve", false), ("loop", false), ("sieve", true), ("shared-counter", false)]
        + ["tak", "hash-rem", "hash-mul", "matmul", "sort"].map { ($0, false) }
    for (name, tracked) in programs {
        Benchmark("GuestVM.\(name).run\(tracked ? "Tracked" : "")") { benchmark in
            let machine = try makeMachine(name)
            if tracked { _ = machine.memory.startTrackingWrites() }
            benchmark.startMeasurement()
            let start = monotonicNanos()
            while !machine.isHalted(vcpu: 0) {
                _ = machine.run(vcpu: 0, until: .max)
            }
            let elapsed = monotonicNanos() - start
            benchmark.stopMeasurement()
            report(benchmark, instructions: machine.instructionCount(vcpu: 0), nanos: elapsed)
        }
    }

    // Replication stops the guest at exact instruction counts to inject events. This is `loop`
    // stopped every 1,000 instructions (the kvstore workload sees an event every few thousand),
    // against the free run above.
    Benchmark("GuestVM.loop.stopEvery1000") { benchmark in
        let machine = try makeMachine("loop")
        benchmark.startMeasurement()
        let start = monotonicNanos()
        var next: UInt64 = 1000
        while !machine.isHalted(vcpu: 0) {
            if machine.run(vcpu: 0, until: next) == .reachedLimit { next += 1000 }
        }
        let elapsed = monotonicNanos() - start
        benchmark.stopMeasurement()
        report(benchmark, instructions: machine.instructionCount(vcpu: 0), nanos: elapsed)
    }

    // `partitioned` (data-race-free, fixed work) on 2 vCPUs: on 2 host threads in parallel
    // (`FreeRun`, the `free` interleaving) against round-robin on one thread. Wall time is the
    // figure (guest MIPS would count spin-waits); this machine has 2 cores, so free is not
    // oversubscribed.
    for free in [false, true] {
        Benchmark("GuestVM.partitioned.\(free ? "free" : "roundRobin")2") { benchmark in
            let machine = try Machine(program: try BuiltinPrograms.program(named: "partitioned")!, vcpus: 2)
            benchmark.startMeasurement()
            let start = monotonicNanos()
            if free {
                _ = try FreeRun.run(machine, seed: 1, namePrefix: "bench")
            } else {
                var driver = StandaloneDriver(seed: 1)
                _ = try machine.drive(&driver)
            }
            let elapsed = monotonicNanos() - start
            benchmark.stopMeasurement()
            report(benchmark, instructions: machine.totalInstructions, nanos: elapsed)
        }
    }

    // Baseline: the same recursive fib(32) compiled natively, to show the interpreter's factor.
    Benchmark("Native.fib", configuration: .init(metrics: [.wallClock, .mallocCountTotal])) { benchmark in
        blackHole(nativeFib(32 + Int(benchmark.currentIteration % 1)))
    }
}

enum Metrics {
    static let picosecondsPerInstruction = BenchmarkMetric.custom("ps/instruction", polarity: .prefersSmaller, useScalingFactor: false)
    static let guestMIPS = BenchmarkMetric.custom("guest MIPS", polarity: .prefersLarger, useScalingFactor: false)
}

func makeMachine(_ name: String) throws -> Machine {
    guard let program = try BuiltinPrograms.program(named: name) else {
        fatalError("no built-in program \(name)")
    }
    return try Machine(program: program)
}

func report(_ benchmark: Benchmark, instructions: UInt64, nanos: UInt64) {
    guard instructions > 0, nanos > 0 else { return }
    benchmark.measurement(Metrics.picosecondsPerInstruction, Int(nanos * 1000 / instructions))
    benchmark.measurement(Metrics.guestMIPS, Int(instructions * 1000 / nanos))
}

@inline(never)
func nativeFib(_ n: Int) -> Int {
    n < 2 ? n : nativeFib(n - 1) + nativeFib(n - 2)
}
