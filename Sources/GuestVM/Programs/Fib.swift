extension BuiltinPrograms {
    static let fib = """
        ; fib: recursive Fibonacci, fib(32) = 2178309.
        ; The classic call-heavy interpreter benchmark: 7.05 M calls, each a compare-and-branch,
        ; pushes, pops and two recursive calls; 45.8 M instructions in all. The same algorithm in
        ; Lua (scripts/peers/fib.lua) is the speed reference. Prints the result.
        .const N = 32
        .text
        start:
            li r1, N
            call fib
            call print_u64
            halt

        ; fib: r1 = n -> r1 = fib(n). Clobbers r2.
        fib:
            blti r1, 2, .done
            push r1
            addi r1, r1, -1
            call fib
            pop r2
            push r1
            addi r1, r2, -2
            call fib
            pop r2
            add r1, r1, r2
        .done:
            ret

        """
}
