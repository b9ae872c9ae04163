#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// SIGINT and SIGTERM during a run: the first asks the run to stop after the current scenario
/// (it then writes what completed, marked incomplete); the handler then restores the default
/// action, so a second signal ends the process at once.
final class StopRequests: Sendable {
    /// Set by the signal handler (an async-signal-safe relaxed store), read between scenarios.
    private static let flag = Atomic<Bool>(false)

    var requested: Bool { Self.flag.load(ordering: .relaxed) }

    static func install() -> StopRequests {
        // A parent may have started us with these signals blocked (some test runners and
        // process launchers do); blocked, they would never reach the handler.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { number in
                StopRequests.flag.store(true, ordering: .relaxed)
                signal(number, SIG_DFL)
            }
        }
        return StopRequests()
    }
}
