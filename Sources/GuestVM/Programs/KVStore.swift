extension BuiltinPrograms {
    static let kvstore = """
        ; kvstore: a key-value server driven by DMA and interrupts; the main replicated workload.
        ;
        ; The guest posts a receive buffer with dmapost and sleeps in wfi. The DMA device writes
        ; a request there (a 64-bit length, then the request) and raises the DMA interrupt; the
        ; handler sets `ready`, and the main loop serves the request and hands the reply to the
        ; host with `out`. Timer interrupts, if the host sets a period, only count ticks.
        ;
        ; Request, 48 bytes of little-endian u64: seq, op (1 GET, 2 PUT), key (non-zero), value,
        ;   work (extra hashing rounds, to give requests a tunable service time), reserved.
        ; Reply, 24 bytes of u64: seq, status (0 not found, 1 ok, 2 table full, 3 bad request),
        ;   value (GET: the stored value; PUT: the value written).
        ; The table: 65,536 slots of (key, value), open addressing with linear probing.
        \(kvstoreData)
        .text
        start:
            setivec irq
            li r9, rx
            li r2, RXSIZE
            dmapost r9, r2
        idle:
            di
            li r1, ready
            ld64 r2, [r1]
            bnei r2, 0, .request
            wfi                     ; wakes when an interrupt is pending, even while disabled
            ei                      ; ...and takes it here
            jmp idle
        .request:
            li r2, 0
            st64 [r1], r2           ; ready = 0
            ei
            li r9, rx
            li r4, 0                ; seq, for a request too short to carry one
            ld64 r3, [r9]
            bltui r3, REQUEST, .rejected
            ld64 r4, [r9 + 8]       ; seq
            ld64 r5, [r9 + 16]      ; op
            ld64 r6, [r9 + 24]      ; key
            ld64 r7, [r9 + 32]      ; value
            ld64 r8, [r9 + 40]      ; work rounds
            li r2, RXSIZE
            dmapost r9, r2          ; the request is in registers: let the next one land
            beqi r6, 0, .rejected
            beqi r5, OP_GET, .work
            bnei r5, OP_PUT, .rejected
        \(kvstoreServe)
        .rejected:                  ; the buffer is posted again (a second time after a bad key or op)
            li r2, RXSIZE
            dmapost r9, r2
        \(kvstoreReply)
            jmp idle

        \(kvstoreIRQ)
        """

    /// The wire format's constants and the data every kvstore guest keeps: the receive buffer,
    /// the reply, flags and counters, and the table.
    static let kvstoreData = """
        .const SLOTS = 65536
        .const SLOT_SHIFT = 48          ; 64 - log2(SLOTS): the hash's top bits pick the slot
        .const REQUEST = 48
        .const RXSIZE = 8 + 64
        .const OP_GET = 1
        .const OP_PUT = 2
        .data
        .align 64
        rx:       .zero RXSIZE
        reply:    .zero 24
        ready:    .u64 0
        served:   .u64 0
        ticks:    .u64 0
        scratch:  .u64 0
        .align 64
        table:    .zero SLOTS * 16
        """

    /// Serves the request in r4 (seq), r5 (op), r6 (key), r7 (value), r8 (work rounds) from the
    /// table, leaving the status in r2 and the value in r3, and jumps to `.reply`. Clobbers r1 and
    /// r10-r14.
    static let kvstoreServe = """
        .work:
            mov r10, r6
        .round:
            beqi r8, 0, .worked
            muli r10, r10, 0x5bd1e995
            shri r11, r10, 24
            xor r10, r10, r11
            addi r8, r8, -1
            jmp .round
        .worked:
            li r11, scratch
            st64 [r11], r10
            li r11, 0x9E3779B97F4A7C15
            mul r10, r6, r11
            shri r10, r10, SLOT_SHIFT
            shli r10, r10, 4
            li r12, table
            add r10, r10, r12       ; first slot to probe
            li r13, table + SLOTS * 16
            li r14, SLOTS           ; probes left
        .probe:
            ld64 r1, [r10]
            beq r1, r6, .found
            beqi r1, 0, .empty
            addi r10, r10, 16
            bltu r10, r13, .next
            li r10, table
        .next:
            addi r14, r14, -1
            bnei r14, 0, .probe
            li r2, 2                ; full, and the key is absent
            li r3, 0
            jmp .reply
        .found:
            beqi r5, OP_PUT, .update
            li r2, 1
            ld64 r3, [r10 + 8]
            jmp .reply
        .update:
            st64 [r10 + 8], r7
            li r2, 1
            mov r3, r7
            jmp .reply
        .empty:
            beqi r5, OP_PUT, .insert
            li r2, 0
            li r3, 0
            jmp .reply
        .insert:
            st64 [r10], r6
            st64 [r10 + 8], r7
            li r2, 1
            mov r3, r7
            jmp .reply
        """

    /// `.bad` answers "bad request"; `.reply` sends the reply (seq r4, status r2, value r3) with
    /// `out` and counts it in `served`, leaving the count in r2.
    static let kvstoreReply = """
        .bad:
            li r2, 3
            li r3, 0
        .reply:
            li r1, reply
            st64 [r1], r4
            st64 [r1 + 8], r2
            st64 [r1 + 16], r3
            li r2, 24
            out r1, r2
            li r1, served
            ld64 r2, [r1]
            addi r2, r2, 1
            st64 [r1], r2
        """

    /// The interrupt handler of the vCPU that posts the receive buffer: the DMA interrupt marks a
    /// request ready; a timer tick is counted.
    static let kvstoreIRQ = """
        ; Interrupt handler: the DMA interrupt marks a request ready; a timer tick is counted.
        irq:
            push r1
            push r2
            cause r1
            beqi r1, 1, .dma
            li r1, ticks
            ld64 r2, [r1]
            addi r2, r2, 1
            st64 [r1], r2
            jmp .return
        .dma:
            li r1, ready
            li r2, 1
            st64 [r1], r2
        .return:
            pop r2
            pop r1
            iret
        """
}
