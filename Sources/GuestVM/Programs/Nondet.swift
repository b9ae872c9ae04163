extension BuiltinPrograms {
    static let nondet = """
        ; nondet: 200,000 iterations, each reading the clock and a random number, mixing both
        ; into an accumulator and keeping the random value in a 1,024-entry ring in memory.
        ; Every clock and random read is an event the primary logs; prints the accumulator,
        ; which differs on every run and is identical on replay.
        .const ITERATIONS = 200000
        .data
        .align 64
        samples: .zero 1024 * 8
        .text
        start:
            li r10, ITERATIONS
            li r7, 0
            li r8, samples
        .loop:
            rdclock r1
            rdrand r2
            xor r7, r7, r1
            add r7, r7, r2
            muli r7, r7, 31
            andi r3, r10, 1023
            shli r3, r3, 3
            add r3, r3, r8
            st64 [r3], r2
            addi r10, r10, -1
            bnei r10, 0, .loop
            mov r1, r7
            call print_u64
            halt

        """
}
