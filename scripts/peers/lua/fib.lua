-- Recursive fib(32), the same algorithm as ftbench's built-in `fib`.
-- Prints the result, then the seconds the work took (os.clock, the process's CPU time).
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
local t0 = os.clock()
local result = fib(32)
local seconds = os.clock() - t0
print(string.format("%d", result))
print(string.format("seconds %.6f", seconds))
