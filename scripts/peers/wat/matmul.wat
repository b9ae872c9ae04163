;; The same matrix multiply as ftbench's built-in `matmul`: C = A * B for 120 x 120 matrices of
;; i64 (A at 0, B at 115200, C at 230400), A[i][j] = (i + 2j) mod 10, B[i][j] = (3i + j) mod 10,
;; 6 times; the inner loop walks a row of A and a column of B by pointer. Returns the sum of C's
;; entries over all repetitions.
(module
  (memory 6)
  (func (export "run") (result i64)
    (local $i i32) (local $j i32) (local $off i32) (local $rep i32) (local $row i32)
    (local $a i32) (local $b i32) (local $end i32) (local $c i32)
    (local $sum i64) (local $checksum i64)
    (loop $fill_row
      (local.set $j (i32.const 0))
      (loop $fill
        (local.set $off (i32.shl (i32.add (i32.mul (local.get $i) (i32.const 120)) (local.get $j)) (i32.const 3)))
        (i64.store (local.get $off)
          (i64.extend_i32_u (i32.rem_u (i32.add (local.get $i) (i32.shl (local.get $j) (i32.const 1))) (i32.const 10))))
        (i64.store offset=115200 (local.get $off)
          (i64.extend_i32_u (i32.rem_u (i32.add (i32.mul (local.get $i) (i32.const 3)) (local.get $j)) (i32.const 10))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $fill (i32.lt_u (local.get $j) (i32.const 120))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill_row (i32.lt_u (local.get $i) (i32.const 120))))
    (local.set $rep (i32.const 6))
    (loop $repeat
      (local.set $row (i32.const 0))
      (local.set $c (i32.const 230400))
      (loop $rows
        (local.set $j (i32.const 0))
        (loop $columns
          (local.set $sum (i64.const 0))
          (local.set $a (local.get $row))
          (local.set $b (i32.add (i32.shl (local.get $j) (i32.const 3)) (i32.const 115200)))
          (local.set $end (i32.add (local.get $row) (i32.const 960)))
          (loop $dot
            (local.set $sum (i64.add (local.get $sum) (i64.mul (i64.load (local.get $a)) (i64.load (local.get $b)))))
            (local.set $a (i32.add (local.get $a) (i32.const 8)))
            (local.set $b (i32.add (local.get $b) (i32.const 960)))
            (br_if $dot (i32.lt_u (local.get $a) (local.get $end))))
          (i64.store (local.get $c) (local.get $sum))
          (local.set $checksum (i64.add (local.get $checksum) (local.get $sum)))
          (local.set $c (i32.add (local.get $c) (i32.const 8)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $columns (i32.lt_u (local.get $j) (i32.const 120))))
        (local.set $row (i32.add (local.get $row) (i32.const 960)))
        (br_if $rows (i32.lt_u (local.get $row) (i32.const 115200))))
      (local.set $rep (i32.sub (local.get $rep) (i32.const 1)))
      (br_if $repeat (local.get $rep)))
    (local.get $checksum)))
