; The trivial program whose whole-process `ftbench exec` time scripts/peers/run.sh measures:
; one output and a halt.
.data
msg: .ascii "hi\n"
.text
start:
    li r1, msg
    li r2, 3
    out r1, r2
    halt
