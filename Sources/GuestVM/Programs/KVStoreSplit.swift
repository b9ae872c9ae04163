extension BuiltinPrograms {
    static let kvstoreSplit = """
        ; kvstore-split: the kvstore served by two vCPUs, a driver and a worker, speaking the
        ; kvstore's wire format (see kvstore).
        ;
        ; vCPU 0 drives the DMA device: it posts the next of RXSLOTS receive buffers and sleeps
        ; in wfi until a request has landed there (the DMA interrupt), then moves on to the next
        ; buffer, once the worker has freed it (looking every BUSY_DELAY instructions while it
        ; has not). vCPU 1 serves: every POLL_US µs its timer wakes
        ; it, and it takes every request that has landed, in order, by reading the buffer's
        ; length word with ldacq (0: nothing yet), the request with plain loads, and freeing the
        ; buffer with strel; it serves each from the table and replies with `out`. Both halt
        ; after REQUESTS requests; other vCPUs halt at once.
        ;
        ; Data-race-free: a buffer passes from the driver (dmapost) to the DMA device, whose
        ; write is a synchronising write (docs/ISA.md), to the worker (ldacq) and back to the
        ; driver (strel, ldacq); the table and the reply are the worker's alone.
        .vcpus 2
        .const REQUESTS = 20000
        .const POLL_US = 20
        .const RXSLOTS = 256
        .const RXSTRIDE = 128
        .const BUSY_DELAY = 50000
        \(kvstoreData)
        .align 64
        rxring:   .zero RXSLOTS * RXSTRIDE
        .text
        start:
            setivec irq
            beqi r0, 1, worker
            bnei r0, 0, .halt
            li r13, 0               ; requests landed
        .next:
            andi r9, r13, RXSLOTS - 1
            shli r9, r9, 7          ; * RXSTRIDE
            li r1, rxring
            add r9, r9, r1
        .busy:
            ldacq r2, [r9]          ; 0 once the worker has freed the buffer
            beqi r2, 0, .free
            li r3, BUSY_DELAY       ; the worker is RXSLOTS requests behind: look again later
        .delay:
            addi r3, r3, -1
            bnei r3, 0, .delay
            jmp .busy
        .free:
            li r2, RXSIZE
            dmapost r9, r2
        .sleep:
            di
            li r1, ready
            ld64 r2, [r1]
            bnei r2, 0, .landed
            wfi
            ei
            jmp .sleep
        .landed:
            li r2, 0
            st64 [r1], r2           ; ready = 0
            ei
            addi r13, r13, 1
            li r2, REQUESTS
            bltu r13, r2, .next
        .halt:
            halt

        worker:
            li r1, POLL_US
            settimer r1
            ei                      ; ticks are taken (and counted) at once, so wfi waits for the next
        .poll:
            li r1, served
            ld64 r1, [r1]
            andi r9, r1, RXSLOTS - 1
            shli r9, r9, 7          ; * RXSTRIDE
            li r1, rxring
            add r9, r9, r1
            ldacq r3, [r9]          ; the request's length, 0 while none has landed
            bnei r3, 0, .take
            wfi                     ; until the next tick
            jmp .poll
        .take:
            ld64 r4, [r9 + 8]       ; seq
            ld64 r5, [r9 + 16]      ; op
            ld64 r6, [r9 + 24]      ; key
            ld64 r7, [r9 + 32]      ; value
            ld64 r8, [r9 + 40]      ; work rounds
            li r2, 0
            strel [r9], r2          ; freed: the driver may post it again
            bgeui r3, REQUEST, .valid
            li r4, 0                ; too short to carry a seq
            jmp .bad
        .valid:
            beqi r6, 0, .bad
            beqi r5, OP_GET, .work
            bnei r5, OP_PUT, .bad
        \(kvstoreServe)
        \(kvstoreReply)
            li r3, REQUESTS
            bltu r2, r3, .poll
            halt

        \(kvstoreIRQ)
        """
}
