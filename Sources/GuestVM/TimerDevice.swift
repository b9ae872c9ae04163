/// The host side of the guest's timer: decides, in host time, when a tick is due.
public struct TimerDevice: Sendable {
    private var nextTick: UInt64?
    public private(set) var ticks = 0

    public init() {}

    /// Raises the timer interrupt on `vcpu` if it is the timer's vCPU and a tick is due at
    /// `now`; returns true if it raised one.
    public mutating func tick(_ machine: Machine, vcpu: Int, now: UInt64) -> Bool {
        let devices = machine.devices
        guard devices.timerPeriodMicros == 0 || vcpu == devices.timerVCPU else { return false }
        guard isDue(periodMicros: devices.timerPeriodMicros, now: now) else { return false }
        machine.raise(.timer, vcpu: vcpu)
        return true
    }

    /// Whether a tick of a timer with this period (µs; 0: stopped) is due at `now`, counting it
    /// if so. The first call starts the period. A late tick is not made up with a burst: the
    /// next one is a period after this one.
    public mutating func isDue(periodMicros: UInt64, now: UInt64) -> Bool {
        guard periodMicros > 0 else {
            nextTick = nil
            return false
        }
        let period = periodMicros &* 1000
        guard let due = nextTick else {
            nextTick = now &+ period
            return false
        }
        guard now >= due else { return false }
        ticks += 1
        nextTick = max(due &+ period, now)
        return true
    }

    /// When the next tick is due, or nil if the timer is stopped.
    public mutating func deadline(_ machine: Machine, now: UInt64) -> UInt64? {
        deadline(periodMicros: machine.devices.timerPeriodMicros, now: now)
    }

    /// When the next tick of a timer with this period is due, or nil if it is stopped.
    public mutating func deadline(periodMicros: UInt64, now: UInt64) -> UInt64? {
        guard periodMicros > 0 else { return nil }
        if nextTick == nil { nextTick = now &+ periodMicros &* 1000 }
        return nextTick
    }
}
