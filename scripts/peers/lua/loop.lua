-- The same loop as ftbench's built-in `loop`: 100 M iterations of acc = (acc + i) xor 0x5bd1,
-- i counting down. Lua 5.4 (64-bit integers, the ~ operator); loop.luajit.lua is LuaJIT's.
local t0 = os.clock()
local acc = 0
for i = 100000000, 1, -1 do
  acc = (acc + i) ~ 0x5bd1
end
local seconds = os.clock() - t0
print(string.format("%d", acc))
print(string.format("seconds %.6f", seconds))
