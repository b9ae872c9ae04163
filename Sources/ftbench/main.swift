import FTBenchCLI

FTBench.main()
