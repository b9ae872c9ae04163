;; The same sieve as ftbench's built-in `sieve`: 2..10,000,000, one byte flag per number (at the
;; number's address), three times; returns the number of primes.
(module
  (memory 153)
  (func (export "run") (result i64)
    (local $rep i32) (local $i i32) (local $j i32) (local $count i64)
    (local.set $rep (i32.const 3))
    (loop $repeat
      (local.set $i (i32.const 2))
      (loop $fill
        (i32.store8 (local.get $i) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $fill (i32.le_u (local.get $i) (i32.const 10000000))))
      (local.set $i (i32.const 2))
      (block $done
        (loop $outer
          (br_if $done (i32.gt_u (i32.mul (local.get $i) (local.get $i)) (i32.const 10000000)))
          (if (i32.load8_u (local.get $i))
            (then
              (local.set $j (i32.mul (local.get $i) (local.get $i)))
              (loop $cross
                (i32.store8 (local.get $j) (i32.const 0))
                (local.set $j (i32.add (local.get $j) (local.get $i)))
                (br_if $cross (i32.le_u (local.get $j) (i32.const 10000000))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $outer)))
      (local.set $count (i64.const 0))
      (local.set $i (i32.const 2))
      (loop $tally
        (local.set $count (i64.add (local.get $count) (i64.load8_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $tally (i32.le_u (local.get $i) (i32.const 10000000))))
      (local.set $rep (i32.sub (local.get $rep) (i32.const 1)))
      (br_if $repeat (local.get $rep)))
    (local.get $count)))
