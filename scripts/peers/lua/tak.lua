-- Takeuchi's tak(24, 16, 8), the same algorithm as ftbench's built-in `tak` (the outer call is
-- a tail call in both).
local function tak(x, y, z)
  if y >= x then return z end
  return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y))
end
local t0 = os.clock()
local result = tak(24, 16, 8)
local seconds = os.clock() - t0
print(string.format("%d", result))
print(string.format("seconds %.6f", seconds))
