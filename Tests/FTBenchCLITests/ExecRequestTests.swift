import Testing

@testable import FTBenchCLI

/// `ExecRequest.quickParse`, the start-up path's reader of `exec` lines, against the full parser.
@Suite("Exec request")
struct ExecRequestTests {
    /// Every line the quick parser takes reads as the full parser reads it.
    @Test("a plain exec line reads as the full parser reads it", arguments: [
        ["fib"],
        ["scripts/peers/trivial.s", "--stats"],
        ["fib", "--quantum", "500", "--seed", "7", "--stats"],
        ["--seed=9", "sieve", "--vcpus", "2", "--memory", "64K"],
        ["fib", "--define", "N=20", "--define=M=0x10", "--requests", "3", "--interleaving", "free"],
        ["fib", "--seed", "-0"],
    ])
    func agreesWithFullParser(_ line: [String]) throws {
        let quick = try #require(ExecRequest.quickParse(line))
        #expect(quick == (try Exec.parse(line)).request)
    }

    /// Help, unknown or repeated options, values that do not parse or do not validate, and a
    /// second program go to the full parser, whose messages and exit codes the user sees.
    @Test("a line that needs the full parser is left to it", arguments: [
        [], ["--help"], ["fib", "-h"], ["fib", "--bogus", "1"], ["fib", "--quantum", "lots"],
        ["fib", "--quantum", "0"], ["fib", "--seed", "1", "--seed", "2"], ["fib", "--stats", "--stats"],
        ["fib", "sieve"], ["fib", "--vcpus", "65"], ["fib", "--memory", "12Q"], ["fib", "--memory", "--stats"],
        ["fib", "--interleaving", "sideways"], ["fib", "--define", "N"], ["fib", "--requests", "-1"], ["fib", "--quantum"],
    ])
    func leavesTheRestToFullParser(_ line: [String]) {
        #expect(ExecRequest.quickParse(line) == nil)
    }
}
