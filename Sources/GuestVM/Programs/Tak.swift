extension BuiltinPrograms {
    static let tak = """
        ; tak: Takeuchi's function tak(24, 16, 8) = 9, the classic call-heavy benchmark with three
        ; arguments: 2.49 M calls, each saving its arguments on the stack and reading them back
        ; with stack-relative loads for the next call; the outer call is a tail call (a jump).
        ; The same algorithm in Lua and WebAssembly is under scripts/peers/. Prints the result.
        .const X = 24
        .const Y = 16
        .const Z = 8
        .text
        start:
            li r1, X
            li r2, Y
            li r3, Z
            call tak
            call print_u64
            halt

        ; tak: r1 = x, r2 = y, r3 = z -> r1 = tak(x, y, z).
        ; tak(x, y, z) = z if y >= x, else tak(tak(x-1, y, z), tak(y-1, z, x), tak(z-1, x, y)).
        tak:
            blt r2, r1, .recurse
            mov r1, r3
            ret
        .recurse:
            push r1                 ; x
            push r2                 ; y
            push r3                 ; z
            addi r1, r1, -1
            call tak                ; a = tak(x-1, y, z)
            push r1                 ; a at [sp], z [sp+8], y [sp+16], x [sp+24]
            ld64 r1, [sp + 16]
            addi r1, r1, -1
            ld64 r2, [sp + 8]
            ld64 r3, [sp + 24]
            call tak                ; b = tak(y-1, z, x)
            push r1                 ; b at [sp], a [sp+8], z [sp+16], y [sp+24], x [sp+32]
            ld64 r1, [sp + 16]
            addi r1, r1, -1
            ld64 r2, [sp + 32]
            ld64 r3, [sp + 24]
            call tak                ; c = tak(z-1, x, y)
            mov r3, r1
            pop r2
            pop r1
            addi sp, sp, 24
            jmp tak                 ; tail call tak(a, b, c)

        """
}
