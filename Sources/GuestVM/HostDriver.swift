import Topology
/// What a host supplies to a running machine: every input that is not a function of the guest's
/// own state. The standalone runner answers with the real clock, a random generator, a wall-clock
/// timer and a synthetic client; the script driver answers from a recorded `EventScript`; later
/// the primary VMM answers like the standalone runner and logs every answer, and the backup
/// answers from the log.
public protocol HostDriver {
    /// The instruction count at which `vcpu`'s next slice stops, given that the slice would
    /// otherwise run from `count` to `quantumEnd`. A driver that knows of an event due earlier on
    /// this vCPU returns its position; one that knows none can come for longer may return a later
    /// count (the replicated primary does, for a guest of one vCPU), and a replaying driver returns
    /// what the log says.
    mutating func sliceEnd(vcpu: Int, count: UInt64, quantumEnd: UInt64) throws -> UInt64
    /// How far the running slice of `vcpu`, now at `count`, may go before the driver is asked
    /// again: `end` (the slice's end from `sliceEnd`) runs it out; a count before `end` asks again
    /// there; `count` itself ends the slice here, early (a preemption). Asked before every run of
    /// the slice, so after every exit too. Timeslice interleaving uses it; the default runs every
    /// slice out.
    mutating func sliceLimit(vcpu: Int, count: UInt64, end: UInt64) throws -> UInt64
    /// Called at the start of each slice of `vcpu` (instruction count `count`): raise interrupts
    /// and deliver DMA that is due now. Events enter the guest only here, at exact counts.
    mutating func injectEvents(into machine: Machine, vcpu: Int, count: UInt64) throws
    /// The value for a `clockRead` or `randomRead` exit that has just retired at `count`.
    mutating func value(for exit: Exit, vcpu: Int, count: UInt64) throws -> UInt64
    /// An output the guest produced with `out` (retired at `count`).
    mutating func output(_ bytes: UnsafeRawBufferPointer, vcpu: Int, count: UInt64) throws
    /// Every vCPU that has not halted is waiting for an interrupt: block until an event can be
    /// injected and return true, or return false if none will ever come (the run ends).
    mutating func idle(_ machine: Machine) throws -> Bool
    /// Checked before each round of slices: true ends the run (a duration has elapsed, a log
    /// has ended).
    var isFinished: Bool { get }
    /// Whether `drive` times the slices that run in one go, without an exit to the driver
    /// (`ranPlainSlice`). Two clock readings a slice; false (the default) costs nothing.
    static var timesPlainSlices: Bool { get }
    /// A slice ran `instructions` (at least `Machine.timedSliceMinimum`) in `nanos` inside the
    /// interpreter alone: one call that ran it out, or to a `halt` or `wfi`, with no clock,
    /// random, output or synchronising exit and no preemption check between.
    mutating func ranPlainSlice(instructions: UInt64, nanos: UInt64)
}

extension HostDriver {
    public var isFinished: Bool { false }
    public mutating func sliceLimit(vcpu: Int, count: UInt64, end: UInt64) throws -> UInt64 { end }
    public static var timesPlainSlices: Bool { false }
    public mutating func ranPlainSlice(instructions: UInt64, nanos: UInt64) {}
}

/// What a driven run did.
public struct RunSummary: Equatable, Sendable {
    /// Instructions retired per vCPU.
    public var instructions: [UInt64]
    public var outputs: Int
    public var outputBytes: Int
    /// A hash over every output in order: equal on a primary and its faithful backup.
    public var outputHash: UInt64
    public var stateHash: UInt64
    /// The host's monotonic clock (ns) when the guest stopped, before the state was hashed: a
    /// caller timing the guest alone stops its clock here. Not part of what the run did, so
    /// equality ignores it.
    public var guestStoppedNanos: UInt64 = 0

    public var totalInstructions: UInt64 { instructions.reduce(0, +) }

    public static func == (a: RunSummary, b: RunSummary) -> Bool {
        a.instructions == b.instructions && a.outputs == b.outputs && a.outputBytes == b.outputBytes
            && a.outputHash == b.outputHash && a.stateHash == b.stateHash
    }
}

extension Machine {
    /// Output bytes after which a slice ends at the next instruction boundary (1 MiB).
    public static let outputBytesPerSlice = 1 << 20

    /// The shortest plain slice `drive` times. The two clock readings around a slice cost about
    /// 40 ns here, which in a slice of a few instructions (`kvstore`'s, that end at `wfi`) is all
    /// the slice measures: its primary showed 230 ns per instruction. From 10,000 instructions
    /// (about 10 µs) on they are under 0.5% of it.
    public static let timedSliceMinimum: UInt64 = 10_000

    /// Runs the machine to completion (every vCPU halted, or idle with no event to come).
    ///
    /// Scheduling: vCPUs take turns in index order, each running a slice of up to `quantum`
    /// instructions, ended early by `wfi`, `halt`, the driver's `sliceEnd`, or a preemption the
    /// driver decides at a `sliceLimit` (timeslice interleaving: a recording driver logs it, a
    /// replaying one reads it). Events are injected only at slice starts. A recording driver
    /// therefore only ever places events at positions that the same loop, replaying, stops at
    /// again.
    ///
    /// `hashingState: false` leaves the summary's `stateHash` 0: hashing reads all of guest
    /// memory, which a caller that never shows the hash (`ftbench exec` without `--stats`)
    /// need not pay for at start-up.
    public func drive<D: HostDriver>(_ driver: inout D, quantum: UInt64 = 100_000, hashingState: Bool = true) throws -> RunSummary {
        precondition(quantum > 0, "quantum must be positive")
        var outputs = 0, outputBytes = 0
        var outputHasher = StateHasher()
        // Read once: `drive` is not specialised per driver, so in the loop this would be a
        // witness call on every slice (Replication.backup.replay.kvstore, whose slices are a few
        // entries long, was 2% slower for it).
        let timing = D.timesPlainSlices
        while !allHalted, !driver.isFinished {
            for vcpu in 0..<vcpuCount where !isHalted(vcpu: vcpu) {
                try driver.injectEvents(into: self, vcpu: vcpu, count: instructionCount(vcpu: vcpu))
                if isWaiting(vcpu: vcpu) { continue }
                let start = instructionCount(vcpu: vcpu)
                let (quantumEnd, overflow) = start.addingReportingOverflow(quantum)
                let end = try driver.sliceEnd(vcpu: vcpu, count: start, quantumEnd: overflow ? .max : quantumEnd)
                var sliceOutputBytes = 0
                let cpu = cpus[vcpu]
                var plain = true  // one run of the interpreter, no driver call inside the slice
                // Only a slice planned long enough to be timed reads the clock.
                let timed = timing && end > start && end - start >= Self.timedSliceMinimum
                let sliceStarted = timed ? monotonicNanos() : 0
                slice: while true {
                    let count = cpu.retired
                    let limit = min(try driver.sliceLimit(vcpu: vcpu, count: count, end: end), end)
                    if limit <= count, count < end { break slice }  // preempted here
                    let exit = run(cpu, until: limit)
                    switch exit {
                    case .reachedLimit:
                        if limit >= end { break slice }
                        plain = false
                    case .halted, .waitingForInterrupt:
                        break slice
                    case .clockRead(let register), .randomRead(let register):
                        plain = false
                        cpu.setRegister(register, to: try driver.value(for: exit, vcpu: vcpu, count: cpu.retired))
                    case .output(let address, let length):
                        plain = false
                        try memory.withBytes(at: address, count: length) { bytes in
                            outputHasher.combine(bytes: bytes)
                            try driver.output(bytes, vcpu: vcpu, count: cpu.retired)
                        }
                        outputs += 1
                        outputBytes += Int(length)
                        // A slice ends early once its outputs pass a budget: a guest writing
                        // megabytes per instruction would otherwise run a whole quantum (main
                        // took 40 s for a 0.5 s scenario) before the driver could end the run.
                        // The rule depends only on the guest, so a replaying driver stops at
                        // the same instruction and the slices stay in step.
                        sliceOutputBytes += Int(length)
                        if sliceOutputBytes >= Self.outputBytesPerSlice { break slice }
                    case .synchronise:
                        // One thread orders these itself: perform them in place.
                        plain = false
                        if let fault = performSynchronising(vcpu: vcpu) { throw fault }
                    case .fault(let fault):
                        throw fault
                    }
                }
                if timed, plain, cpu.retired - start >= Self.timedSliceMinimum {
                    driver.ranPlainSlice(instructions: cpu.retired - start, nanos: monotonicNanos() - sliceStarted)
                }
            }
            let runnable = (0..<vcpuCount).contains { !isHalted(vcpu: $0) && !isWaiting(vcpu: $0) }
            if !runnable, !allHalted, try !driver.idle(self) { break }
        }
        let stopped = monotonicNanos()
        return RunSummary(
            instructions: (0..<vcpuCount).map { instructionCount(vcpu: $0) },
            outputs: outputs, outputBytes: outputBytes, outputHash: outputHasher.finalize(),
            stateHash: hashingState ? stateHash() : 0, guestStoppedNanos: stopped)
    }
}
