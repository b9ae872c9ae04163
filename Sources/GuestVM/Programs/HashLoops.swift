extension BuiltinPrograms {
    /// The 64 KiB input both hash loops read: byte i is (i * 131 + 7) mod 251. Ends with r2 =
    /// one past the buffer.
    static let hashInput = """
        .const BYTES = 65536
        .data
        .align 64
        buf: .zero BYTES
        .text
        start:
            li r1, buf
            li r2, buf + BYTES
            li r4, 0
            li r5, 251
        .fill:
            muli r6, r4, 131
            addi r6, r6, 7
            remu r6, r6, r5
            st8 [r1], r6
            addi r1, r1, 1
            addi r4, r4, 1
            bltu r1, r2, .fill

        """

    static let hashRem = """
        ; hash-rem: a byte-hash loop whose step is a remainder by a constant,
        ; h = (h * 31 + byte) mod 1,000,003, over a 64 KiB buffer 256 times (16.8 M bytes, six
        ; instructions each). The same algorithm in Lua and WebAssembly is under scripts/peers/.
        ; Prints the hash.
        .const PASSES = 256
        .const MODULUS = 1000003

        """ + hashInput + """
            li r10, PASSES
            li r7, 0
            li r8, MODULUS
        .pass:
            li r1, buf
        .byte:
            ld8 r6, [r1]
            muli r7, r7, 31
            add r7, r7, r6
            remu r7, r7, r8
            addi r1, r1, 1
            bltu r1, r2, .byte
            addi r10, r10, -1
            bnei r10, 0, .pass
            mov r1, r7
            call print_u64
            halt

        """

    static let hashMul = """
        ; hash-mul: a multiply-heavy byte hash in the manner of FNV-1a, kept to 28 bits so that
        ; every peer computes it exactly (LuaJIT's numbers are doubles):
        ; h = ((h xor byte) * 16,777,619) and 0xFFFFFFF, over a 64 KiB buffer 256 times (16.8 M
        ; bytes, six instructions each). The same algorithm in Lua and WebAssembly is under
        ; scripts/peers/. Prints the hash.
        .const PASSES = 256
        .const PRIME = 16777619

        """ + hashInput + """
            li r10, PASSES
            li r7, 0x11C9DC5
            li r8, PRIME
        .pass:
            li r1, buf
        .byte:
            ld8 r6, [r1]
            xor r7, r7, r6
            mul r7, r7, r8
            andi r7, r7, 0xFFFFFFF
            addi r1, r1, 1
            bltu r1, r2, .byte
            addi r10, r10, -1
            bnei r10, 0, .pass
            mov r1, r7
            call print_u64
            halt

        """
}
