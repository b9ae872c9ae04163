extension BuiltinPrograms {
    static let partitioned = """
        ; partitioned: the vCPUs split a 1 MiB array into equal slices; each fills its slice
        ; and hashes it for 32 passes without touching the others' data, then adds its checksum
        ; into a shared total with xadd. vCPU 0 waits for all (load-acquire) and prints the
        ; total, which does not depend on the interleaving. Data-race-free. On entry r0 is the
        ; vCPU's index, r1 the vCPU count.
        .vcpus 4
        .const WORDS = 131072
        .const PASSES = 32
        .data
        .align 64
        total: .u64 0
        .align 64
        done:  .u64 0
        .align 64
        array: .zero WORDS * 8
        .text
        start:
            mov r12, r1
            li r2, WORDS
            divu r2, r2, r12        ; words per vCPU
            mul r3, r2, r0
            shli r3, r3, 3
            li r4, array
            add r3, r3, r4          ; slice start
            shli r2, r2, 3
            add r2, r2, r3          ; slice end
            addi r4, r0, 1
            muli r4, r4, 0x2545F491  ; per-slice seed
            mov r1, r3
        .fill:
            shli r5, r4, 13
            xor r4, r4, r5
            shri r5, r4, 7
            xor r4, r4, r5
            shli r5, r4, 17
            xor r4, r4, r5
            st64 [r1], r4
            addi r1, r1, 8
            bltu r1, r2, .fill
            li r10, PASSES
            li r6, 0x9E3779B97F4A7C15
        .pass:
            mov r1, r3
            li r5, 0
        .mix:
            ld64 r7, [r1]
            mul r7, r7, r6
            add r7, r7, r5
            shri r8, r7, 29
            xor r7, r7, r8
            st64 [r1], r7
            mov r5, r7
            addi r1, r1, 8
            bltu r1, r2, .mix
            addi r10, r10, -1
            bnei r10, 0, .pass
            mov r1, r3
            li r7, 0
        .sum:
            ld64 r8, [r1]
            add r7, r7, r8
            addi r1, r1, 8
            bltu r1, r2, .sum
            li r1, total
            xadd r8, [r1], r7
            li r1, done
            li r9, 1
            xadd r8, [r1], r9
            bnei r0, 0, .finished
        .wait:
            ldacq r8, [r1]
            bltu r8, r12, .wait
            li r1, total
            ld64 r1, [r1]
            call print_u64
        .finished:
            halt

        """
}
