import CPlatform
#if canImport(Glibc)
import Glibc
#endif

/// A host thread, optionally pinned to one CPU before its body runs. Used to put the primary and
/// the backup (or a ring's producer and consumer) on cores of their own.
public final class PinnedThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void
    /// The CPUs it may run on (nil: any).
    public let cpus: [Int]?
    public let name: String?
    /// Set if pinning failed; the body runs unpinned.
    public private(set) var pinningError: TopologyError?

    /// Starts `body` on a new thread pinned to `cpus` (nil: not pinned) and named `name` (see
    /// `nameCurrentThread`).
    public init(cpus: [Int]?, name: String? = nil, _ body: @escaping @Sendable () -> Void) {
        self.cpus = cpus
        self.name = name
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            let me = Unmanaged<PinnedThread>.fromOpaque(context!).takeRetainedValue()
            if let name = me.name { nameCurrentThread(name) }
            if let cpus = me.cpus {
                do throws(TopologyError) { try pinCurrentThread(toCPUs: cpus) } catch { me.pinningError = error }
            }
            me.body()
            return nil
        }, context)
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    /// Starts `body` on a new thread pinned to one CPU (nil: not pinned).
    public convenience init(cpu: Int?, name: String? = nil, _ body: @escaping @Sendable () -> Void) {
        self.init(cpus: cpu.map { [$0] }, name: name, body)
    }

    /// Waits for the body to finish.
    public func join() {
        pthread_join(thread, nil)
    }
}

/// Names the calling thread by its role (`primary-vcpu0`, `backup-vcpu1`, ...), so that
/// `perf report --sort comm` splits the cost by role; perf records each rename, so a thread that
/// changes role (a backup that takes over) is split at the change. Linux keeps 15 bytes.
public func nameCurrentThread(_ name: String) {
    _ = ftb_set_thread_name(name)
}
