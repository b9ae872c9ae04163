extension BuiltinPrograms {
    static let lockHeavy = """
        ; lock-heavy: every vCPU runs SECTIONS rounds of private work followed by a critical
        ; section (a cas spinlock released with strel) that adds 1 to a shared counter. The
        ; private work is sized so that the two synchronising instructions of an uncontended
        ; round (cas, strel) come at SYNC_RATE per 1,000 instructions: 2000 / SYNC_RATE
        ; instructions a round, 10 of them the critical section and loop, the rest a 4-instruction
        ; hashing loop (a contended cas spins, adding synchronising instructions). vCPU 0 waits
        ; for the others (load-acquire) and prints the counter, SECTIONS times the vCPU count.
        ; Data-race-free. `--define SYNC_RATE=N` (1 to 100) sets the rate.
        .vcpus 2
        .const SYNC_RATE = 1
        .const SECTIONS = 20000
        .data
        .align 64
        lock:    .u64 0
        .align 64
        counter: .u64 0
        .align 64
        done:    .u64 0
        .text
        start:
            mov r12, r1             ; vCPU count
            li r13, 2000
            li r2, SYNC_RATE
            divu r13, r13, r2
            addi r13, r13, -10
            shri r13, r13, 2        ; iterations of the 4-instruction work loop
            li r10, SECTIONS
            li r1, lock
            li r2, counter
            li r9, 1
            addi r7, r0, 0x51ED
        .round:
            mov r8, r13
        .work:
            muli r7, r7, 0x2545F491
            xori r7, r7, 0x3C6E
            addi r8, r8, -1
            bnei r8, 0, .work
        .acquire:
            li r4, 0
            cas r4, [r1], r9
            bnei r4, 0, .acquire
            ld64 r5, [r2]
            addi r5, r5, 1
            st64 [r2], r5
            strel [r1], r4          ; r4 is 0 here
            addi r10, r10, -1
            bnei r10, 0, .round
            li r1, done
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
