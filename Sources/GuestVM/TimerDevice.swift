/// The host side of the guest's timer: decides, in host time, when a tick is due.
public struct TimerDevice: Sendable {
    private var nextTick: UInt64?
    public private(set) var ticks = 0

    public init() {}

    /// Raises the timer interrupt on `vcpu` if it is the timer's vCPU and a tick is due at
    /// `now`; returns true if it raised one. A late tick is not made up with a burst: the next
    /// one is a period after this one.
    public mutating func tick(_ machine: Machine, vcpu: Int, now: UInt64) -> Bool {
        let devices = machine.devices
        guard devices.timerPeriodMicros > 0 else {
            nextTick = nil
            return false
        }
        guard vcpu == devices.timerVCPU else { return false }
        let period = devices.timerPeriodMicros &* 1000
        guard let due = nextTick else {
            nextTick = now &+ period
            return false
        }
        guard now >= due else { return false }
        machine.raise(.timer, vcpu: vcpu)
        ticks += 1
        nextTick = max(due &+ period, now)
        return true
    }

    /// When the next tick is due, or nil if the timer is stopped.
    public mutating func deadline(_ machine: Machine, now: UInt64) -> UInt64? {
        guard machine.devices.timerPeriodMicros > 0 else { return nil }
        if nextTick == nil { nextTick = now &+ machine.devices.timerPeriodMicros &* 1000 }
        return nextTick
    }
}
