import ArgumentParser

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a guest program alone (no replication) and print its output.",
        discussion: """
            Inputs are real: the host clock for rdclock, a seeded generator for rdrand, a timer \
            in host time, and for programs that post a DMA buffer (kvstore) a client that sends \
            --requests requests, one at a time. Text outputs are printed as they come; binary \
            outputs (kvstore replies) are counted.
            """)

    @Argument(help: "A built-in program (see `ftbench list`) or an assembly file.")
    var program: String

    @Option(parsing: .unconditional, help: "Number of vCPUs (default: the program's .vcpus, else 1).")
    var vcpus: Int?

    @Option(help: "Guest memory size, e.g. 4M or 16MiB (default: the program's .memory, else 4 MiB).")
    var memory: String?

    @Option(parsing: .unconditional, help: "Instructions per vCPU slice before the next vCPU runs and events are injected.")
    var quantum: UInt64 = 100_000

    @Option(parsing: .unconditional, help: "Seed for rdrand and for the synthetic client's requests (default: random).")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "Requests the synthetic client sends to a program that posts a DMA buffer.")
    var requests: Int = 100_000

    @Option(help: "How vCPUs interleave: roundrobin (one host thread, turns of --quantum instructions) or free (a host thread per vCPU, in parallel, nothing recorded; programs without devices only).")
    var interleaving: ExecRequest.Interleaving = .roundrobin

    @OptionGroup var defines: DefineOptions

    @Flag(help: "Print instructions executed, wall seconds, ns per instruction and guest MIPS.")
    var stats = false

    @Flag(inversion: .prefixedNo, help: "Run common instruction pairs in one dispatch (superinstructions, docs/INTERPRETER.md); --no-superinstructions measures what they buy.")
    var superinstructions = true

    @Option(parsing: .unconditional, help: "Single-step the run (many times slower) and print the N commonest dynamic pairs of adjacent instructions whose first falls through: the candidates for superinstructions.")
    var pairs: Int?

    /// The line's values, for `ExecRequest` to check and run.
    var request: ExecRequest {
        ExecRequest(program: program, vcpus: vcpus, memory: memory, quantum: quantum, seed: seed, requests: requests,
                    interleaving: interleaving, defines: defines.texts, stats: stats, superinstructions: superinstructions, pairs: pairs)
    }

    func validate() throws { try request.validate() }

    func run() throws { try request.run() }
}

extension ExecRequest.Interleaving: ExpressibleByArgument {}
