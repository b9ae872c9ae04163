import Foundation

/// Where tests put the files and result sets they write: one directory per test process, under
/// the system's temporary directory, removed when the process exits.
///
/// Each test used to take its own path directly under the temporary directory and leave it
/// there: two days of development runs left 8,236 traces, programs and result sets (23 GB) in
/// `/tmp`. A test process that crashes still leaves its directory, named `ftbench-tests-*`.
public enum Scratch {
    /// A new path inside the process's scratch directory, not yet created: `<label>-<UUID><suffix>`.
    public static func path(_ label: String, suffix: String = "") -> String {
        root + "/" + label + "-" + UUID().uuidString + suffix
    }

    /// Created on first use; its removal is registered with `atexit` at the same time.
    private static let root: String = {
        var template = Array((FileManager.default.temporaryDirectory.path + "/ftbench-tests-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed in the temporary directory: errno \(errno)") }
        let path = String(cString: made)
        atexit { try? FileManager.default.removeItem(atPath: Scratch.root) }
        return path
    }()
}
