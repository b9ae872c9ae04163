-- The same heapsort as ftbench's built-in `sort`: 100,000 values from x = x * 16807 mod
-- (2^31 - 1), seed 42; then h = (h * 31 + value) mod 1,000,003 over the sorted array, plus
-- 10,000,000 for each value smaller than its predecessor.
local N = 100000
local t0 = os.clock()
local a = {}
local x = 42
for i = 1, N do
  x = (x * 16807) % 2147483647
  a[i] = x
end
-- 1-based heap: the children of i are 2i and 2i + 1.
local function sift(root, last)
  while true do
    local child = 2 * root
    if child > last then return end
    local c = a[child]
    if child < last and c < a[child + 1] then
      child = child + 1
      c = a[child]
    end
    local r = a[root]
    if r >= c then return end
    a[root], a[child] = c, r
    root = child
  end
end
for root = math.floor(N / 2), 1, -1 do sift(root, N) end
for last = N, 2, -1 do
  a[1], a[last] = a[last], a[1]
  sift(1, last - 1)
end
local h, previous, disorder = 0, 0, 0
for i = 1, N do
  local v = a[i]
  if v < previous then disorder = disorder + 1 end
  previous = v
  h = (h * 31 + v) % 1000003
end
local seconds = os.clock() - t0
print(string.format("%d", h + 10000000 * disorder))
print(string.format("seconds %.6f", seconds))
