/// A machine's inputs pinned to exact instruction counts: interrupts and DMA to inject, and the
/// answers to clock and random reads. Replaying the same script on the same program gives the
/// same state hash, always; this is the determinism that replication rests on.
public struct EventScript: Equatable, Sendable {
    public enum Event: Equatable, Sendable {
        case interrupt(Interrupt)
        case dma([UInt8])
    }

    /// `event` enters `vcpu` when it has retired exactly `count` instructions.
    public struct Injection: Equatable, Sendable {
        public var vcpu: Int
        public var count: UInt64
        public var event: Event

        public init(vcpu: Int = 0, count: UInt64, event: Event) {
            self.vcpu = vcpu
            self.count = count
            self.event = event
        }
    }

    /// The answer to the clock or random read that retired on `vcpu` at `count`.
    public struct Value: Equatable, Sendable {
        public var vcpu: Int
        public var count: UInt64
        public var value: UInt64

        public init(vcpu: Int = 0, count: UInt64, value: UInt64) {
            self.vcpu = vcpu
            self.count = count
            self.value = value
        }
    }

    public var injections: [Injection]
    public var values: [Value]

    public init(injections: [Injection] = [], values: [Value] = []) {
        self.injections = injections
        self.values = values
    }
}

/// Replay found the machine somewhere the script did not expect: the guest diverged, or the
/// script does not belong to this program.
public struct ReplayDivergence: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { "replay diverged: \(message)" }
}

/// Drives a machine from an `EventScript`, checking that every read and every injection point
/// is reached exactly where the script says.
public struct ScriptDriver: HostDriver {
    public let script: EventScript
    private var nextInjection = 0
    private var nextValue = 0

    public init(_ script: EventScript) { self.script = script }

    /// True when every injection and value of the script has been used.
    public var isExhausted: Bool {
        nextInjection == script.injections.count && nextValue == script.values.count
    }

    public mutating func sliceEnd(vcpu: Int, count: UInt64, quantumEnd: UInt64) -> UInt64 {
        guard nextInjection < script.injections.count else { return quantumEnd }
        let next = script.injections[nextInjection]
        guard next.vcpu == vcpu, next.count >= count else { return quantumEnd }
        return min(quantumEnd, next.count)
    }

    public mutating func injectEvents(into machine: Machine, vcpu: Int, count: UInt64) throws {
        while nextInjection < script.injections.count {
            let next = script.injections[nextInjection]
            guard next.vcpu == vcpu else { return }
            guard next.count <= count else { return }
            guard next.count == count else {
                throw ReplayDivergence(message: "injection #\(nextInjection) is due at instruction \(next.count) on vCPU \(vcpu), which is already at \(count)")
            }
            switch next.event {
            case .interrupt(let line):
                machine.raise(line, vcpu: vcpu)
            case .dma(let bytes):
                let result = machine.deliverDMA(bytes)
                guard result == .delivered(vcpu: vcpu) else {
                    throw ReplayDivergence(message: "DMA injection #\(nextInjection) at instruction \(count) on vCPU \(vcpu) failed: \(result)")
                }
            }
            nextInjection += 1
        }
    }

    public mutating func value(for exit: Exit, vcpu: Int, count: UInt64) throws -> UInt64 {
        guard nextValue < script.values.count else {
            throw ReplayDivergence(message: "vCPU \(vcpu) read a value at instruction \(count) after the script's last one")
        }
        let next = script.values[nextValue]
        guard next.vcpu == vcpu, next.count == count else {
            throw ReplayDivergence(message: "value #\(nextValue) belongs to vCPU \(next.vcpu) at instruction \(next.count), but vCPU \(vcpu) read one at \(count)")
        }
        nextValue += 1
        return next.value
    }

    public mutating func output(_ bytes: UnsafeRawBufferPointer, vcpu: Int, count: UInt64) throws {}

    public mutating func idle(_ machine: Machine) throws -> Bool {
        guard nextInjection < script.injections.count else { return false }
        let next = script.injections[nextInjection]
        // Due exactly where its vCPU waits: the next pass of the scheduler injects it.
        if machine.instructionCount(vcpu: next.vcpu) == next.count { return true }
        throw ReplayDivergence(message: "every vCPU is idle but injection #\(nextInjection) is due on vCPU \(next.vcpu) at instruction \(next.count), which is at \(machine.instructionCount(vcpu: next.vcpu))")
    }
}
