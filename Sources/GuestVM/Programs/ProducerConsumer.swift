extension BuiltinPrograms {
    static let producerConsumer = """
        ; producer-consumer: vCPU 0 puts ITEMS values into a 256-slot ring in guest memory,
        ; vCPU 1 takes them out and sums them; other vCPUs halt at once. Single producer, single
        ; consumer: each side publishes its index with strel and reads the other's with ldacq,
        ; so a slot's value is written before the producer's index says it is there, and read
        ; before the consumer's index frees it. Data-race-free. vCPU 1 prints the sum,
        ; ITEMS * (ITEMS + 1) / 2.
        .vcpus 2
        .const ITEMS = 100000
        .const SLOTS = 256
        .data
        .align 64
        head:  .u64 0               ; items produced (the producer's index)
        .align 64
        tail:  .u64 0               ; items consumed (the consumer's index)
        .align 64
        ring:  .zero SLOTS * 8
        .text
        start:
            li r2, head
            li r3, tail
            li r4, ring
            beqi r0, 0, .producer
            beqi r0, 1, .consumer
            halt
        .producer:
            li r10, 0               ; items produced
        .put:
            ldacq r5, [r3]          ; consumed so far
            sub r6, r10, r5
            bgeui r6, SLOTS, .put   ; ring full: wait
            andi r6, r10, SLOTS - 1
            shli r6, r6, 3
            add r6, r6, r4
            addi r10, r10, 1
            st64 [r6], r10          ; the value is the item's number, from 1
            strel [r2], r10
            li r7, ITEMS
            bltu r10, r7, .put
            halt
        .consumer:
            li r10, 0               ; items consumed
            li r11, 0               ; sum
        .take:
            ldacq r5, [r2]          ; produced so far
            beq r5, r10, .take      ; ring empty: wait
            andi r6, r10, SLOTS - 1
            shli r6, r6, 3
            add r6, r6, r4
            ld64 r7, [r6]
            add r11, r11, r7
            addi r10, r10, 1
            strel [r3], r10
            li r7, ITEMS
            bltu r10, r7, .take
            mov r1, r11
            call print_u64
            halt

        """
}
