-- The same recursive fib(32) as ftbench's built-in `fib`, for the speed comparison in the README.
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
print(fib(32))
