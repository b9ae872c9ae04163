-- The same sieve as ftbench's built-in `sieve`: 2..10,000,000, one flag per number, three times.
local N = 10000000
local t0 = os.clock()
local count = 0
for _ = 1, 3 do
  local flags = {}
  for i = 2, N do flags[i] = 1 end
  local i = 2
  while i * i <= N do
    if flags[i] == 1 then
      for j = i * i, N, i do flags[j] = 0 end
    end
    i = i + 1
  end
  count = 0
  for k = 2, N do count = count + flags[k] end
end
local seconds = os.clock() - t0
print(string.format("%d", count))
print(string.format("seconds %.6f", seconds))
