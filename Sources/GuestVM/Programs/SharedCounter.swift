extension BuiltinPrograms {
    static let sharedCounter = """
        ; shared-counter: every vCPU adds 1 to a shared counter 100,000 times under a
        ; test-and-set spinlock (cas to acquire, a store-release to release) and 100,000 times
        ; with xadd. vCPU 0 waits for the others (load-acquire) and prints both totals, each
        ; 100,000 times the number of vCPUs. Data-race-free: every shared access is atomic or
        ; inside the lock (docs/ISA.md, "Memory model"). On entry r0 holds the vCPU's index and
        ; r1 the number of vCPUs.
        .vcpus 4
        .const ITERATIONS = 100000
        .data
        .align 64
        lock:           .u64 0
        .align 64
        counter:        .u64 0
        .align 64
        atomic_counter: .u64 0
        .align 64
        done:           .u64 0
        .text
        start:
            mov r12, r1             ; vCPU count
            li r10, ITERATIONS
            li r1, lock
            li r2, counter
            li r3, atomic_counter
            li r9, 1
        .again:
            li r4, 0
            cas r4, [r1], r9        ; r4 = old lock; taken if it was 0
            bnei r4, 0, .again
            ld64 r5, [r2]
            addi r5, r5, 1
            st64 [r2], r5
            li r4, 0
            strel [r1], r4          ; release
            xadd r6, [r3], r9
            addi r10, r10, -1
            bnei r10, 0, .again
            li r1, done
            xadd r6, [r1], r9
            bnei r0, 0, .finished
        .wait:
            ldacq r6, [r1]
            bltu r6, r12, .wait
            ld64 r1, [r2]
            call print_u64
            li r1, atomic_counter
            ld64 r1, [r1]
            call print_u64
        .finished:
            halt

        """
}
