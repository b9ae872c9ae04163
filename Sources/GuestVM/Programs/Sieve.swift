extension BuiltinPrograms {
    static let sieve = """
        ; sieve: the sieve of Eratosthenes over 2..10,000,000, three times; one byte per number.
        ; Memory-heavy loops (byte stores with a stride, byte loads). Prints the number of primes
        ; found, 664579. The same algorithm in Lua (scripts/peers/sieve.lua) is the reference.
        .const N = 10000000
        .const REPEAT = 3
        .memory 16 * 1024 * 1024
        .data
        .align 64
        flags: .zero N + 1
        .text
        start:
            li r10, REPEAT
            li r0, 0
            li r7, flags
            li r2, flags + N + 1    ; one past the last flag
        .repeat:
            li r1, flags + 2        ; every number from 2 is a candidate
            li r3, 1
        .fill:
            st8 [r1], r3
            addi r1, r1, 1
            bltu r1, r2, .fill
            li r4, 2                ; i
        .outer:
            mul r5, r4, r4          ; i * i
            bgeui r5, N + 1, .count
            add r6, r7, r4
            ld8 r6, [r6]
            beqi r6, 0, .next
            add r5, r5, r7          ; &flags[i * i]
        .cross:
            st8 [r5], r0
            add r5, r5, r4
            bltu r5, r2, .cross
        .next:
            addi r4, r4, 1
            jmp .outer
        .count:
            li r1, flags + 2
            li r11, 0
        .tally:
            ld8 r6, [r1]
            add r11, r11, r6
            addi r1, r1, 1
            bltu r1, r2, .tally
            addi r10, r10, -1
            bnei r10, 0, .repeat
            mov r1, r11
            call print_u64
            halt

        """
}
