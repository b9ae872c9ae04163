;; The same byte hash as ftbench's built-in `hash-mul`: h = ((h xor byte) * 16777619) and
;; 0xFFFFFFF over a 64 KiB buffer (byte i = (i * 131 + 7) mod 251), 256 times.
(module
  (memory 1)
  (func (export "run") (result i64)
    (local $pass i32) (local $i i32) (local $h i64)
    (loop $fill
      (i32.store8 (local.get $i)
        (i32.rem_u (i32.add (i32.mul (local.get $i) (i32.const 131)) (i32.const 7)) (i32.const 251)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 65536))))
    (local.set $h (i64.const 0x11C9DC5))
    (local.set $pass (i32.const 256))
    (loop $p
      (local.set $i (i32.const 0))
      (loop $byte
        (local.set $h (i64.and
          (i64.mul (i64.xor (local.get $h) (i64.load8_u (local.get $i))) (i64.const 16777619))
          (i64.const 0xFFFFFFF)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $byte (i32.lt_u (local.get $i) (i32.const 65536))))
      (local.set $pass (i32.sub (local.get $pass) (i32.const 1)))
      (br_if $p (local.get $pass)))
    (local.get $h)))
