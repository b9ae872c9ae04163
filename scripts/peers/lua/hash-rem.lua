-- The same byte hash as ftbench's built-in `hash-rem`: h = (h * 31 + byte) mod 1,000,003 over
-- a 64 KiB buffer (byte i = (i * 131 + 7) mod 251), 256 times.
local BYTES, PASSES, MODULUS = 65536, 256, 1000003
local t0 = os.clock()
local buf = {}
for i = 1, BYTES do buf[i] = ((i - 1) * 131 + 7) % 251 end
local h = 0
for _ = 1, PASSES do
  for i = 1, BYTES do
    h = (h * 31 + buf[i]) % MODULUS
  end
end
local seconds = os.clock() - t0
print(string.format("%d", h))
print(string.format("seconds %.6f", seconds))
