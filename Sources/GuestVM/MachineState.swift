/// Everything of a machine except its memory and its program: each vCPU's architectural state
/// and the devices. With the memory's pages it is what a state transfer sends to make a new
/// backup identical to its primary (the program is part of the VM's configuration, which both
/// sides have). `Machine.stateHash()` over the restored machine checks the whole transfer.
public struct MachineState: Equatable, Sendable {
    public struct VCPU: Equatable, Sendable {
        public var registers: [UInt64]
        public var pc: Int
        public var retired: UInt64
        public var interruptsEnabled: Bool
        public var pending: UInt8
        public var savedPC: Int
        public var cause: UInt64
        public var vector: Int
        public var waiting: Bool
        public var halted: Bool
    }

    public var vcpus: [VCPU]
    public var devices: DeviceState

    public init(vcpus: [VCPU], devices: DeviceState) {
        self.vcpus = vcpus
        self.devices = devices
    }

    /// Bytes of the encoding for `vcpus` vCPUs: a count, then per vCPU 16 registers and 6 words,
    /// then the devices' 5 words (all u64, little-endian).
    public static func encodedSize(vcpus: Int) -> Int { 8 + vcpus * (16 + 6) * 8 + 5 * 8 }

    public var encodedSize: Int { Self.encodedSize(vcpus: vcpus.count) }

    /// Writes the encoding into `buffer` (at least `encodedSize` bytes).
    public func encode(into buffer: UnsafeMutableRawBufferPointer) {
        var writer = WordWriter(buffer: buffer)
        writer.put(UInt64(vcpus.count))
        for cpu in vcpus {
            for r in cpu.registers { writer.put(r) }
            writer.put(UInt64(bitPattern: Int64(cpu.pc)))
            writer.put(cpu.retired)
            writer.put((cpu.interruptsEnabled ? 1 : 0) | UInt64(cpu.pending) << 8 | (cpu.waiting ? 1 << 16 : 0) | (cpu.halted ? 1 << 17 : 0))
            writer.put(UInt64(bitPattern: Int64(cpu.savedPC)))
            writer.put(cpu.cause)
            writer.put(UInt64(bitPattern: Int64(cpu.vector)))
        }
        writer.put(devices.timerPeriodMicros)
        writer.put(UInt64(devices.timerVCPU))
        writer.put(devices.dmaBuffer.map { $0.address } ?? .max)
        writer.put(devices.dmaBuffer.map { $0.length } ?? .max)
        writer.put(devices.dmaBuffer.map { UInt64($0.vcpu) } ?? .max)
    }

    /// Decodes an encoding; nil if `bytes` is not one (wrong length, a count out of range).
    public init?(decoding bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 8 else { return nil }
        let count = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard (1...64).contains(count), bytes.count == Self.encodedSize(vcpus: Int(count)) else { return nil }
        var reader = WordReader(bytes: bytes, offset: 8)
        vcpus = (0..<Int(count)).map { _ in
            let registers = (0..<Register.count).map { _ in reader.next() }
            let pc = Int(truncatingIfNeeded: Int64(bitPattern: reader.next()))
            let retired = reader.next()
            let flags = reader.next()
            return VCPU(registers: registers, pc: pc, retired: retired, interruptsEnabled: flags & 1 != 0,
                        pending: UInt8(truncatingIfNeeded: flags >> 8), savedPC: Int(truncatingIfNeeded: Int64(bitPattern: reader.next())),
                        cause: reader.next(), vector: Int(truncatingIfNeeded: Int64(bitPattern: reader.next())),
                        waiting: flags & 1 << 16 != 0, halted: flags & 1 << 17 != 0)
        }
        devices = DeviceState()
        devices.timerPeriodMicros = reader.next()
        devices.timerVCPU = Int(truncatingIfNeeded: reader.next())
        let (address, length, vcpu) = (reader.next(), reader.next(), reader.next())
        if address != .max { devices.dmaBuffer = .init(address: address, length: length, vcpu: Int(truncatingIfNeeded: vcpu)) }
    }

    private struct WordWriter {
        let buffer: UnsafeMutableRawBufferPointer
        var offset = 0
        mutating func put(_ word: UInt64) {
            buffer.storeBytes(of: word.littleEndian, toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
    }

    private struct WordReader {
        let bytes: UnsafeRawBufferPointer
        var offset: Int
        mutating func next() -> UInt64 {
            defer { offset += 8 }
            return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
    }
}

extension Machine {
    public enum SnapshotError: Error, Equatable, CustomStringConvertible {
        /// A faulted guest is not worth copying: its run has failed.
        case faulted(vcpu: Int)
        case vcpuCountMismatch(state: Int, machine: Int)
        case badState(vcpu: Int, reason: String)

        public var description: String {
            switch self {
            case .faulted(let vcpu): "vCPU \(vcpu) has faulted: there is no state worth transferring"
            case .vcpuCountMismatch(let state, let machine): "the state has \(state) vCPUs, the machine \(machine)"
            case .badState(let vcpu, let reason): "vCPU \(vcpu)'s transferred state is invalid: \(reason)"
            }
        }
    }

    /// Captures every vCPU's state and the devices (memory goes page by page).
    public func captureState() throws(SnapshotError) -> MachineState {
        var vcpus: [MachineState.VCPU] = []
        vcpus.reserveCapacity(cpus.count)
        for cpu in cpus {
            if cpu.fault != nil { throw .faulted(vcpu: cpu.index) }
            vcpus.append(MachineState.VCPU(
                registers: Array(UnsafeBufferPointer(start: cpu.registers, count: Register.count)), pc: cpu.pc, retired: cpu.retired,
                interruptsEnabled: cpu.interruptsEnabled, pending: cpu.pending, savedPC: cpu.savedPC, cause: cpu.cause,
                vector: cpu.vector, waiting: cpu.waiting, halted: cpu.halted))
        }
        return MachineState(vcpus: vcpus, devices: devices)
    }

    /// Makes this machine's vCPUs and devices those of `state` (a machine of the same program and
    /// vCPU count). Validates what the interpreter relies on (program counters and vectors inside
    /// the code) so that a corrupt state is an error, never a wild jump.
    public func restore(_ state: MachineState) throws(SnapshotError) {
        guard state.vcpus.count == cpus.count else { throw .vcpuCountMismatch(state: state.vcpus.count, machine: cpus.count) }
        for (cpu, saved) in zip(cpus, state.vcpus) {
            let codeCount = cpu.code.count
            guard (0...codeCount).contains(saved.pc) else { throw .badState(vcpu: cpu.index, reason: "pc \(saved.pc) is outside the code") }
            guard saved.savedPC == -1 || (0...codeCount).contains(saved.savedPC) else {
                throw .badState(vcpu: cpu.index, reason: "saved pc \(saved.savedPC) is outside the code")
            }
            guard saved.vector == -1 || (0..<codeCount).contains(saved.vector) else {
                throw .badState(vcpu: cpu.index, reason: "interrupt vector \(saved.vector) is outside the code")
            }
            guard saved.registers.count == Register.count else { throw .badState(vcpu: cpu.index, reason: "not 16 registers") }
            for (i, value) in saved.registers.enumerated() { cpu.registers[i] = value }
            cpu.pc = saved.pc
            cpu.retired = saved.retired
            cpu.interruptsEnabled = saved.interruptsEnabled
            cpu.pending = saved.pending
            cpu.savedPC = saved.savedPC
            cpu.cause = saved.cause
            cpu.vector = saved.vector
            cpu.waiting = saved.waiting
            cpu.halted = saved.halted
            cpu.fault = nil
        }
        if let buffer = state.devices.dmaBuffer, !memory.contains(address: buffer.address, count: buffer.length) || buffer.vcpu >= cpus.count {
            throw .badState(vcpu: buffer.vcpu, reason: "the posted DMA buffer is outside memory or names no vCPU")
        }
        guard (0..<cpus.count).contains(state.devices.timerVCPU) else {
            throw .badState(vcpu: state.devices.timerVCPU, reason: "the timer names no vCPU")
        }
        devices = state.devices
    }

    /// Writes a transferred page; false if `index` names no page or `bytes` is not its size.
    @discardableResult
    public func restorePage(_ index: Int, from bytes: UnsafeRawBufferPointer) -> Bool {
        guard index >= 0, index < memory.pageCount, bytes.count == memory.page(index).count else { return false }
        return memory.write(bytes, at: UInt64(index << DirtyPageLog.pageShift))
    }
}
