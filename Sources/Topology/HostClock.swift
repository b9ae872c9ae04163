#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds of the host's monotonic clock (CLOCK_MONOTONIC: never steps backwards; about
/// 20 ns per read on the development machine, in ~10 ns steps).
@inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Sleeps for at least `nanos` nanoseconds (resuming after signals).
public func sleepNanos(_ nanos: UInt64) {
    var ts = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
    var rest = timespec()
    while nanosleep(&ts, &rest) != 0 { ts = rest }
}

/// Waits until the monotonic clock reaches `deadline`: sleeps while it is far away, then spins,
/// because a sleep overshoots by tens of microseconds (measured ~60 µs on this VM) and emulated
/// latencies must land within a few percent.
public func waitUntil(_ deadline: UInt64, spinBelowNanos: UInt64 = 200_000) {
    var now = monotonicNanos()
    if deadline > now + spinBelowNanos { sleepNanos(deadline - now - spinBelowNanos) }
    now = monotonicNanos()
    while now < deadline {
        cpuRelax()
        now = monotonicNanos()
    }
}
