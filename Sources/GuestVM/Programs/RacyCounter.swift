extension BuiltinPrograms {
    static let racyCounter = """
        ; racy-counter: every vCPU adds 1 to a shared counter 5,000,000 times (long enough to span
        ; several host time slices, so parallel vCPUs really overlap) with a plain load and
        ; store, no lock: deliberately NOT data-race-free (docs/ISA.md, "Memory model"). An
        ; increment is lost whenever another vCPU's store lands between one's load and store, so
        ; the total it prints depends on the interleaving: under round-robin on the switch points
        ; (deterministic), on parallel vCPUs on the host's timing. vCPU 0 waits for the others
        ; (load-acquire) and prints the total. On entry r0 holds the vCPU's index, r1 the count.
        .vcpus 2
        .const ITERATIONS = 5000000
        .data
        .align 64
        counter: .u64 0
        .align 64
        done:    .u64 0
        .text
        start:
            mov r12, r1
            li r10, ITERATIONS
            li r2, counter
        .again:
            ld64 r5, [r2]
            addi r5, r5, 1
            st64 [r2], r5
            addi r10, r10, -1
            bnei r10, 0, .again
            li r1, done
            li r9, 1
            xadd r6, [r1], r9
            bnei r0, 0, .finished
        .wait:
            ldacq r6, [r1]
            bltu r6, r12, .wait
            ld64 r1, [r2]
            call print_u64
        .finished:
            halt

        """
}
