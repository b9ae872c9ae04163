extension BuiltinPrograms {
    static let compute = """
        ; compute: CPU-bound hashing of a 256 KiB buffer, 8,192 passes (about 2.4 G
        ; instructions), with a 1 ms timer interrupt whose handler counts ticks and reads the
        ; clock every 8th tick, as a kernel's timekeeping does. The analogue of the VMware FT
        ; paper's SPECjbb and kernel-compile runs: long deterministic stretches, few events.
        ; Prints a checksum of the buffer, which the interrupts do not change.
        .const WORDS = 32768
        .const PASSES = 8192
        .data
        .align 64
        ticks:      .u64 0
        last_clock: .u64 0
        .align 64
        buf:        .zero WORDS * 8
        .text
        start:
            setivec tick
            li r1, 1000
            settimer r1
            ei
            li r1, buf
            li r2, buf + WORDS * 8
            li r3, 0x2545F4914F6CDD1D
        .fill:                      ; xorshift64
            shli r4, r3, 13
            xor r3, r3, r4
            shri r4, r3, 7
            xor r3, r3, r4
            shli r4, r3, 17
            xor r3, r3, r4
            st64 [r1], r3
            addi r1, r1, 8
            bltu r1, r2, .fill
            li r10, PASSES
            li r6, 0x9E3779B97F4A7C15
        .pass:
            li r1, buf
            li r5, 0
        .mix:
            ld64 r3, [r1]
            mul r3, r3, r6
            add r3, r3, r5
            shri r4, r3, 29
            xor r3, r3, r4
            st64 [r1], r3
            mov r5, r3
            addi r1, r1, 8
            bltu r1, r2, .mix
            addi r10, r10, -1
            bnei r10, 0, .pass
            li r1, buf
            li r7, 0
        .sum:
            ld64 r3, [r1]
            add r7, r7, r3
            addi r1, r1, 8
            bltu r1, r2, .sum
            li r1, 0
            settimer r1
            mov r1, r7
            call print_u64
            halt

        tick:
            push r1
            push r2
            li r1, ticks
            ld64 r2, [r1]
            addi r2, r2, 1
            st64 [r1], r2
            andi r2, r2, 7
            bnei r2, 0, .done
            rdclock r2
            li r1, last_clock
            st64 [r1], r2
        .done:
            pop r2
            pop r1
            iret

        """
}
