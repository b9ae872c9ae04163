-- The same byte hash as ftbench's built-in `hash-mul`: h = ((h xor byte) * 16777619) and
-- 0xFFFFFFF over a 64 KiB buffer (byte i = (i * 131 + 7) mod 251), 256 times. Lua 5.4;
-- hash-mul.luajit.lua is LuaJIT's.
local BYTES, PASSES, PRIME = 65536, 256, 16777619
local t0 = os.clock()
local buf = {}
for i = 1, BYTES do buf[i] = ((i - 1) * 131 + 7) % 251 end
local h = 0x11C9DC5
for _ = 1, PASSES do
  for i = 1, BYTES do
    h = ((h ~ buf[i]) * PRIME) & 0xFFFFFFF
  end
end
local seconds = os.clock() - t0
print(string.format("%d", h))
print(string.format("seconds %.6f", seconds))
