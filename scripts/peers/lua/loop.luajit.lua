-- loop.lua for LuaJIT, whose numbers are doubles and whose bit.bxor takes 32 bits: acc stays
-- below 2^53, so acc + i is exact, and the xor with 0x5bd1 touches only the low 16 bits.
local bxor = bit.bxor
local t0 = os.clock()
local acc = 0
for i = 100000000, 1, -1 do
  local t = acc + i
  local low = t % 65536
  acc = t - low + bxor(low, 0x5bd1)
end
local seconds = os.clock() - t0
print(string.format("%d", acc))
print(string.format("seconds %.6f", seconds))
