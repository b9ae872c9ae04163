import ArgumentParser

/// The two CPUs of `--cpus`: the primary's (or a ring's producer's) and the backup's.
struct CPUPair: Equatable {
    var primary: Int
    var backup: Int

    /// Parses `A,B`, with an error that says what is wrong with it.
    init(_ text: String, option: String) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]) else {
            throw ValidationError("\(option) '\(text.prefix(40))' is not two CPU numbers such as 0,1")
        }
        guard a >= 0, b >= 0 else { throw ValidationError("\(option) '\(text)': CPU numbers are not negative") }
        guard a != b else { throw ValidationError("\(option) '\(text)' names CPU \(a) twice: the two sides need different CPUs") }
        primary = a
        backup = b
    }
}
