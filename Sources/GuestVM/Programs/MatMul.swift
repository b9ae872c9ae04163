extension BuiltinPrograms {
    static let matmul = """
        ; matmul: integer matrix multiply C = A * B of 120 x 120 matrices of 64-bit values, 6
        ; times, with A[i][j] = (i + 2j) mod 10 and B[i][j] = (3i + j) mod 10. The inner loop
        ; walks a row of A and a column of B by pointer (7 instructions per multiply-add,
        ; 72.6 M in all). The same algorithm in Lua and WebAssembly is under scripts/peers/.
        ; Prints the sum of C's entries over all repetitions.
        .const N = 120
        .const REPEAT = 6
        .data
        .align 64
        ma: .zero N * N * 8
        mb: .zero N * N * 8
        mc: .zero N * N * 8
        .text
        start:
            li r12, 10
            li r1, 0                ; i
        .fill_row:
            li r2, 0                ; j
        .fill:
            muli r3, r1, N
            add r3, r3, r2
            shli r3, r3, 3          ; byte offset of [i][j]
            shli r4, r2, 1
            add r4, r4, r1
            remu r4, r4, r12
            st64 [r3 + ma], r4
            muli r4, r1, 3
            add r4, r4, r2
            remu r4, r4, r12
            st64 [r3 + mb], r4
            addi r2, r2, 1
            blti r2, N, .fill
            addi r1, r1, 1
            blti r1, N, .fill_row
            li r10, REPEAT
            li r11, 0               ; checksum
        .repeat:
            li r6, ma               ; &A[i][0]
            li r13, mc              ; &C[i][j]
            li r14, ma + N * N * 8  ; end of A
        .row:
            li r2, 0                ; j
        .column:
            li r4, 0                ; sum
            mov r7, r6              ; &A[i][k]
            shli r8, r2, 3
            addi r8, r8, mb         ; &B[k][j]
            addi r9, r6, N * 8      ; end of A's row i
        .dot:
            ld64 r3, [r7]
            ld64 r5, [r8]
            mul r3, r3, r5
            add r4, r4, r3
            addi r7, r7, 8
            addi r8, r8, N * 8
            bltu r7, r9, .dot
            st64 [r13], r4
            add r11, r11, r4
            addi r13, r13, 8
            addi r2, r2, 1
            blti r2, N, .column
            addi r6, r6, N * 8
            bltu r6, r14, .row
            addi r10, r10, -1
            bnei r10, 0, .repeat
            mov r1, r11
            call print_u64
            halt

        """
}
