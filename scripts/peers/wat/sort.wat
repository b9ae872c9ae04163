;; The same heapsort as ftbench's built-in `sort`: 100,000 i64 values at 0 from
;; x = x * 16807 mod (2^31 - 1), seed 42; then h = (h * 31 + value) mod 1,000,003 over the
;; sorted array, plus 10,000,000 for each value smaller than its predecessor.
(module
  (memory 13)
  ;; Moves a[root] down the max-heap a[0 ..< end].
  (func $sift (param $root i32) (param $end i32)
    (local $child i32) (local $c i64) (local $r i64)
    (block $done
      (loop $down
        (local.set $child (i32.add (i32.shl (local.get $root) (i32.const 1)) (i32.const 1)))
        (br_if $done (i32.ge_s (local.get $child) (local.get $end)))
        (local.set $c (i64.load (i32.shl (local.get $child) (i32.const 3))))
        (if (i32.lt_s (i32.add (local.get $child) (i32.const 1)) (local.get $end))
          (then
            (if (i64.lt_u (local.get $c) (i64.load offset=8 (i32.shl (local.get $child) (i32.const 3))))
              (then
                (local.set $child (i32.add (local.get $child) (i32.const 1)))
                (local.set $c (i64.load (i32.shl (local.get $child) (i32.const 3))))))))
        (local.set $r (i64.load (i32.shl (local.get $root) (i32.const 3))))
        (br_if $done (i64.ge_u (local.get $r) (local.get $c)))
        (i64.store (i32.shl (local.get $root) (i32.const 3)) (local.get $c))
        (i64.store (i32.shl (local.get $child) (i32.const 3)) (local.get $r))
        (local.set $root (local.get $child))
        (br $down))))
  (func (export "run") (result i64)
    (local $i i32) (local $x i64) (local $t i64) (local $v i64)
    (local $h i64) (local $previous i64) (local $disorder i64)
    (local.set $x (i64.const 42))
    (loop $generate
      (local.set $x (i64.rem_u (i64.mul (local.get $x) (i64.const 16807)) (i64.const 2147483647)))
      (i64.store (i32.shl (local.get $i) (i32.const 3)) (local.get $x))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $generate (i32.lt_u (local.get $i) (i32.const 100000))))
    (local.set $i (i32.const 49999))
    (loop $heapify
      (call $sift (local.get $i) (i32.const 100000))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $heapify (i32.ge_s (local.get $i) (i32.const 0))))
    (local.set $i (i32.const 99999))
    (loop $extract
      (local.set $t (i64.load (i32.const 0)))
      (i64.store (i32.const 0) (i64.load (i32.shl (local.get $i) (i32.const 3))))
      (i64.store (i32.shl (local.get $i) (i32.const 3)) (local.get $t))
      (call $sift (i32.const 0) (local.get $i))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $extract (i32.ge_s (local.get $i) (i32.const 1))))
    (local.set $i (i32.const 0))
    (loop $check
      (local.set $v (i64.load (i32.shl (local.get $i) (i32.const 3))))
      (local.set $disorder (i64.add (local.get $disorder) (i64.extend_i32_u (i64.lt_u (local.get $v) (local.get $previous)))))
      (local.set $previous (local.get $v))
      (local.set $h (i64.rem_u (i64.add (i64.mul (local.get $h) (i64.const 31)) (local.get $v)) (i64.const 1000003)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $check (i32.lt_u (local.get $i) (i32.const 100000))))
    (i64.add (local.get $h) (i64.mul (local.get $disorder) (i64.const 10000000)))))
