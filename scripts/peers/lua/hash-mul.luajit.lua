-- hash-mul.lua for LuaJIT: h < 2^28, so (h xor byte) fits bit.bxor's 32 bits, the product stays
-- below 2^53 (exact in a double), and the mask is a remainder by 2^28.
local bxor = bit.bxor
local BYTES, PASSES, PRIME = 65536, 256, 16777619
local t0 = os.clock()
local buf = {}
for i = 1, BYTES do buf[i] = ((i - 1) * 131 + 7) % 251 end
local h = 0x11C9DC5
for _ = 1, PASSES do
  for i = 1, BYTES do
    h = (bxor(h, buf[i]) * PRIME) % 268435456
  end
end
local seconds = os.clock() - t0
print(string.format("%d", h))
print(string.format("seconds %.6f", seconds))
