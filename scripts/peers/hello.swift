// The start-up floor: a Swift hello world linked the way ftbench is (scripts/peers/run.sh).
print("hello")
