-- The same matrix multiply as ftbench's built-in `matmul`: C = A * B for 120 x 120 integer
-- matrices, A[i][j] = (i + 2j) mod 10, B[i][j] = (3i + j) mod 10 (0-based i, j), 6 times;
-- prints the sum of C's entries over all repetitions.
local N, REPEAT = 120, 6
local t0 = os.clock()
local A, B, C = {}, {}, {}
for i = 1, N do
  local a, b = {}, {}
  for j = 1, N do
    a[j] = ((i - 1) + 2 * (j - 1)) % 10
    b[j] = (3 * (i - 1) + (j - 1)) % 10
  end
  A[i], B[i], C[i] = a, b, {}
end
local checksum = 0
for _ = 1, REPEAT do
  for i = 1, N do
    local Ai, Ci = A[i], C[i]
    for j = 1, N do
      local sum = 0
      for k = 1, N do sum = sum + Ai[k] * B[k][j] end
      Ci[j] = sum
      checksum = checksum + sum
    end
  end
end
local seconds = os.clock() - t0
print(string.format("%d", checksum))
print(string.format("seconds %.6f", seconds))
