;; Takeuchi's tak(24, 16, 8), the same algorithm as ftbench's built-in `tak`; the outer call is a
;; tail call there (a jump), a loop here.
(module
  (func $tak (param $x i64) (param $y i64) (param $z i64) (result i64)
    (local $a i64) (local $b i64)
    (loop $tail
      (if (i64.ge_s (local.get $y) (local.get $x)) (then (return (local.get $z))))
      (local.set $a (call $tak (i64.sub (local.get $x) (i64.const 1)) (local.get $y) (local.get $z)))
      (local.set $b (call $tak (i64.sub (local.get $y) (i64.const 1)) (local.get $z) (local.get $x)))
      (local.set $z (call $tak (i64.sub (local.get $z) (i64.const 1)) (local.get $x) (local.get $y)))
      (local.set $x (local.get $a))
      (local.set $y (local.get $b))
      (br $tail))
    (unreachable))
  (func (export "run") (result i64) (call $tak (i64.const 24) (i64.const 16) (i64.const 8))))
