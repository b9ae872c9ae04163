/// The built-in guest programs. Each source starts with a comment saying what it models and what
/// it prints; `ftbench asm NAME --listing` shows it assembled.
public enum BuiltinPrograms {
    public struct Entry: Sendable {
        public var name: String
        public var summary: String
        public var source: String
    }

    public static let all: [Entry] = [
        Entry(name: "fib", summary: "recursive fib(32): call-heavy dispatch benchmark", source: fib + library),
        Entry(name: "sieve", summary: "sieve of Eratosthenes to 10 M, 3 times: memory-heavy loops", source: sieve + library),
        Entry(name: "loop", summary: "100 M iterations of a 4-instruction ALU loop: raw dispatch", source: loop + library),
        Entry(name: "tak", summary: "Takeuchi's tak(24, 16, 8): call-heavy recursion with three arguments", source: tak + library),
        Entry(name: "hash-rem", summary: "byte hash whose step is a remainder by a constant, 16.8 M bytes", source: hashRem + library),
        Entry(name: "hash-mul", summary: "multiply-heavy byte hash (FNV-1a style, 28 bits), 16.8 M bytes", source: hashMul + library),
        Entry(name: "matmul", summary: "120 x 120 integer matrix multiply, 6 times", source: matmul + library),
        Entry(name: "sort", summary: "heapsort of 100,000 pseudo-random values, then a checking hash", source: sort + library),
        Entry(name: "kvstore", summary: "key-value server driven by DMA and interrupts (main replicated workload)", source: kvstore),
        Entry(name: "kvstore-split", summary: "2 vCPUs serve the kvstore: vCPU 0 drives DMA, vCPU 1 serves on timer ticks", source: kvstoreSplit),
        Entry(name: "compute", summary: "CPU-bound hashing with 1 ms timer interrupts (SPECjbb/kernel-compile analogue)", source: compute + library),
        Entry(name: "nondet", summary: "clock- and random-heavy: 200 k clock reads and random reads", source: nondet + library),
        Entry(name: "shared-counter", summary: "4 vCPUs increment a spinlock-protected shared counter", source: sharedCounter + library),
        Entry(name: "partitioned", summary: "4 vCPUs hash disjoint slices of an array, then combine", source: partitioned + library),
        Entry(name: "lock-heavy", summary: "2 vCPUs: private work and a spinlock section, SYNC_RATE synchronising instructions per 1,000", source: lockHeavy + library),
        Entry(name: "producer-consumer", summary: "2 vCPUs pass 100,000 items through a ring in guest memory (acquire/release)", source: producerConsumer + library),
        Entry(name: "racy-counter", summary: "2 vCPUs increment a shared counter without a lock: racy, its total depends on the interleaving", source: racyCounter + library),
    ]

    public static func named(_ name: String) -> Entry? { all.first { $0.name == name } }

    /// Assembles a built-in program by name.
    public static func program(named name: String) throws(AssemblyError) -> Program? {
        guard let entry = named(name) else { return nil }
        return try Assembler.assemble(entry.source, file: name)
    }

    /// Routines shared by the built-in programs, appended to their sources.
    static let library = """

        ; ---- library ----------------------------------------------------------
        ; print_u64: prints r1 in decimal and a newline as one output.
        ; Clobbers r1-r5.
        .data
        print_buf: .zero 32
        .text
        print_u64:
            li r2, print_buf + 31
            li r3, 10
            st8 [r2], r3            ; the newline ('\\n' is 10)
            li r4, 1                ; length so far
        .digit:
            remu r5, r1, r3
            divu r1, r1, r3
            addi r5, r5, '0'
            addi r2, r2, -1
            st8 [r2], r5
            addi r4, r4, 1
            bnei r1, 0, .digit
            out r2, r4
            ret

        """
}
