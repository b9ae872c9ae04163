extension BuiltinPrograms {
    static let loop = """
        ; loop: 100 M iterations of add, xor-immediate, decrement and branch: the interpreter's
        ; dispatch cost with nothing else in the way (400 M instructions). Prints the accumulator.
        .const ITERATIONS = 100000000
        .text
        start:
            li r1, ITERATIONS
            li r2, 0
        .loop:
            add r2, r2, r1
            xori r2, r2, 0x5bd1
            addi r1, r1, -1
            bnei r1, 0, .loop
            mov r1, r2
            call print_u64
            halt

        """
}
