extension BuiltinPrograms {
    static let sort = """
        ; sort: heapsort of 100,000 pseudo-random 31-bit values (Park and Miller's minimal
        ; standard generator from seed 42: x = x * 16807 mod (2^31 - 1)), then a pass that hashes
        ; the sorted array, h = (h * 31 + value) mod 1,000,003, and counts values smaller than
        ; their predecessor. The same algorithm in Lua and WebAssembly is under scripts/peers/.
        ; Prints h + 10,000,000 * (out-of-order values): the hash alone when the sort is right.
        .const N = 100000
        .const SEED = 42
        .data
        .align 64
        arr: .zero N * 8
        .text
        start:
            li r1, arr
            li r2, arr + N * 8
            li r3, SEED
            li r4, 2147483647
        .generate:
            muli r3, r3, 16807
            remu r3, r3, r4
            st64 [r1], r3
            addi r1, r1, 8
            bltu r1, r2, .generate
            li r1, N                ; build the heap: sift(root, N) for root = N/2 - 1 down to 0
            shri r1, r1, 1
            addi r1, r1, -1
            li r2, N
        .heapify:
            call sift
            addi r1, r1, -1
            bgei r1, 0, .heapify
            li r2, N - 1            ; for end = N - 1 down to 1: swap a[0], a[end]; sift(0, end)
            li r10, arr
        .extract:
            shli r6, r2, 3
            add r6, r6, r10
            ld64 r7, [r10]
            ld64 r8, [r6]
            st64 [r10], r8
            st64 [r6], r7
            li r1, 0
            call sift
            addi r2, r2, -1
            bgei r2, 1, .extract
            li r1, arr              ; check and hash
            li r2, arr + N * 8
            li r6, 0                ; previous value
            li r7, 0                ; h
            li r8, 1000003
            li r10, 0               ; out-of-order values
        .check:
            ld64 r3, [r1]
            sltu r4, r3, r6
            add r10, r10, r4
            mov r6, r3
            muli r7, r7, 31
            add r7, r7, r3
            remu r7, r7, r8
            addi r1, r1, 8
            bltu r1, r2, .check
            muli r10, r10, 10000000
            add r1, r7, r10
            call print_u64
            halt

        ; sift: moves a[r1] down the max-heap a[0 ..< r2]. Keeps r1 and r2; clobbers r3-r9.
        sift:
            mov r3, r1              ; root
        .down:
            shli r4, r3, 1
            addi r4, r4, 1          ; child = 2 * root + 1
            bge r4, r2, .done
            shli r5, r4, 3
            addi r5, r5, arr        ; &a[child]
            ld64 r6, [r5]
            addi r7, r4, 1
            bge r7, r2, .larger
            ld64 r8, [r5 + 8]
            bgeu r6, r8, .larger
            mov r4, r7              ; the right child is larger
            addi r5, r5, 8
            mov r6, r8
        .larger:
            shli r9, r3, 3
            addi r9, r9, arr        ; &a[root]
            ld64 r8, [r9]
            bgeu r8, r6, .done
            st64 [r9], r6
            st64 [r5], r8
            mov r3, r4
            jmp .down
        .done:
            ret

        """
}
