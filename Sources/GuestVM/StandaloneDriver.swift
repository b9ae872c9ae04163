import Topology

/// Runs a guest alone, with real inputs: the host's monotonic clock, a seeded random generator,
/// a timer that ticks in host time, and a client that sends requests by DMA whenever the guest
/// has a receive buffer posted (one request in flight, as fast as the guest takes them).
/// Optionally records every input as an `EventScript`, so that the run can be replayed.
public struct StandaloneDriver: HostDriver {
    /// Requests the client still has to send, made one at a time when the guest can take one:
    /// a program that never posts a receive buffer costs nothing however many are asked for.
    private let makeRequest: (Int) -> [UInt8]
    private let requestCount: Int
    private var random: SplitMix64
    private var timer = TimerDevice()
    private let onOutput: (UnsafeRawBufferPointer) -> Void
    /// Every input given to the guest, if recording.
    public private(set) var recording: EventScript?
    public var timerTicks: Int { timer.ticks }
    public private(set) var requestsSent = 0

    /// - Parameters:
    ///   - requests: DMA payloads the client sends, in order.
    ///   - seed: seed of the generator behind `rdrand`.
    ///   - record: keep an `EventScript` of every input.
    ///   - onOutput: receives each guest output.
    public init(requests: [[UInt8]] = [], seed: UInt64, record: Bool = false,
                onOutput: @escaping (UnsafeRawBufferPointer) -> Void = { _ in }) {
        self.init(requestCount: requests.count, makeRequest: { requests[$0] }, seed: seed, record: record, onOutput: onOutput)
    }

    /// - Parameters:
    ///   - requestCount: requests the client sends, request `i` being `makeRequest(i)`.
    public init(requestCount: Int, makeRequest: @escaping (Int) -> [UInt8], seed: UInt64, record: Bool = false,
                onOutput: @escaping (UnsafeRawBufferPointer) -> Void = { _ in }) {
        self.requestCount = requestCount
        self.makeRequest = makeRequest
        self.random = SplitMix64(seed: seed)
        self.recording = record ? EventScript() : nil
        self.onOutput = onOutput
    }

    public mutating func sliceEnd(vcpu: Int, count: UInt64, quantumEnd: UInt64) -> UInt64 { quantumEnd }

    public mutating func injectEvents(into machine: Machine, vcpu: Int, count: UInt64) throws {
        if timer.tick(machine, vcpu: vcpu, now: monotonicNanos()) {
            recording?.injections.append(.init(vcpu: vcpu, count: count, event: .interrupt(.timer)))
        }
        if let buffer = machine.devices.dmaBuffer, buffer.vcpu == vcpu, requestsSent < requestCount {
            let request = makeRequest(requestsSent)
            guard machine.deliverDMA(request) == .delivered(vcpu: vcpu) else {
                throw DriverError(message: "request of \(request.count) bytes does not fit the guest's \(buffer.length)-byte receive buffer")
            }
            recording?.injections.append(.init(vcpu: vcpu, count: count, event: .dma(request)))
            requestsSent += 1
        }
    }

    public mutating func value(for exit: Exit, vcpu: Int, count: UInt64) throws -> UInt64 {
        let value: UInt64
        if case .clockRead = exit { value = monotonicNanos() } else { value = random.next() }
        recording?.values.append(.init(vcpu: vcpu, count: count, value: value))
        return value
    }

    public mutating func output(_ bytes: UnsafeRawBufferPointer, vcpu: Int, count: UInt64) throws {
        onOutput(bytes)
    }

    public mutating func idle(_ machine: Machine) throws -> Bool {
        if requestsSent < requestCount, machine.devices.dmaBuffer != nil { return true }
        let now = monotonicNanos()
        guard let due = timer.deadline(machine, now: now) else { return false }
        if due > now { sleepNanos(due - now) }
        return true
    }
}

public struct DriverError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
