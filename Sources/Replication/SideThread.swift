import GuestVM
import Topology

/// One side's run (a backup's parallel execution) on a thread of its own, while the calling
/// thread runs the other side. The side's machine is handed to the thread, which alone touches
/// it until `join`; the result is written by that thread and read after `join`, which orders
/// both.
final class SideThread<Value: Sendable, Failure: Error>: @unchecked Sendable {
    private let machine: Machine
    private var result: Result<Value, Failure>?
    private var thread: PinnedThread?

    init(name: String, running machine: Machine, _ body: @escaping @Sendable (Machine) throws(Failure) -> Value) {
        self.machine = machine
        thread = PinnedThread(cpus: nil, name: name) { [self] in
            result = Result { () throws(Failure) in try body(self.machine) }
        }
    }

    func join() throws(Failure) -> Value {
        thread?.join()
        return try result!.get()
    }
}
