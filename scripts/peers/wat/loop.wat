;; The same loop as ftbench's built-in `loop`: 100 M iterations of acc = (acc + i) xor 0x5bd1.
(module
  (func (export "run") (result i64)
    (local $i i64) (local $acc i64)
    (local.set $i (i64.const 100000000))
    (loop $l
      (local.set $acc (i64.xor (i64.add (local.get $acc) (local.get $i)) (i64.const 0x5bd1)))
      (local.set $i (i64.sub (local.get $i) (i64.const 1)))
      (br_if $l (i64.ne (local.get $i) (i64.const 0))))
    (local.get $acc)))
