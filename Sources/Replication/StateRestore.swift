import GuestVM
import LogChannel
import Topology

/// The new backup's half of a state transfer: reads the transfer entries from the head of its
/// log, writes each page into its fresh machine, restores the vCPUs and devices, and checks the
/// restored machine's state hash against the one the primary sent. The log proper follows.
enum StateRestore {
    /// Where the log proper starts, and the output numbering the transfer carried.
    struct Restored {
        var nextSeq: UInt64
        var outputsProduced: UInt64
        var outputsReleased: UInt64
    }

    /// Restores `machine` from the transfer at the head of `source`; nil if the log ends first
    /// (the primary stopped, or the run ended, before the transfer completed). Throws for a
    /// transfer that is malformed or whose restored state differs from the primary's, and with
    /// `CrashDue` once `crashDeadline` (an injected crash of this host) has passed.
    static func receive(from source: LogSource, into machine: Machine, crashDeadline: UInt64 = .max) throws -> Restored? {
        var expected: UInt64?
        var outputs: (produced: UInt64, released: UInt64)?
        while let entry = try source.next() {
            // A crash of this host due now strikes here too: the source checks only while it
            // waits, and a receiver that lags its sender (a starved host) never waits during a
            // transfer. One clock read per page, against a 4 KiB copy.
            if monotonicNanos() >= crashDeadline { throw CrashDue() }
            let seq = entry.header.seq
            if let expected, seq != expected {
                throw ReplicationError("state transfer: entry #\(seq) came where #\(expected) was due")
            }
            expected = seq + 1
            switch entry.header.kind {
            case .statePage:
                guard let index = entry.value,
                      machine.restorePage(Int(truncatingIfNeeded: index), from: UnsafeRawBufferPointer(rebasing: entry.payload[8...])) else {
                    throw ReplicationError("state transfer: entry #\(seq) is not a page of this machine's memory (\(entry.payload.count) bytes)")
                }
            case .machineState:
                guard entry.payload.count > 16, let state = MachineState(decoding: UnsafeRawBufferPointer(rebasing: entry.payload[16...])) else {
                    throw ReplicationError("state transfer: entry #\(seq) does not hold a machine state")
                }
                try machine.restore(state)
                outputs = (UInt64(littleEndian: entry.payload.loadUnaligned(as: UInt64.self)),
                           UInt64(littleEndian: entry.payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            case .transferEnd:
                guard let outputs else { throw ReplicationError("state transfer: entry #\(seq) ends a transfer that sent no machine state") }
                let restored = machine.stateHash()
                guard let sent = entry.value, sent == restored else {
                    throw ReplicationError("state transfer: the restored machine's state hash \(hex(restored)) differs from the primary's \(entry.value.map(hex) ?? "(none)"): the transfer missed a write")
                }
                source.consume()
                return Restored(nextSeq: seq + 1, outputsProduced: outputs.produced, outputsReleased: outputs.released)
            default:
                throw ReplicationError("state transfer: entry #\(seq) is a \(entry.header.kind) entry, which no transfer holds")
            }
            source.consume()
        }
        return nil
    }
}
