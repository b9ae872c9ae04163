import Foundation
import TOMLKit

/// A benchmark suite: groups of scenarios, each group spelled as the options of `ftbench run`
/// (every combination of its lists is a scenario), run together in rotated rounds into one
/// result set. Built-in suites and user files share one TOML schema (docs/SUITES.md) and this
/// parser; a problem is reported with the file and the key path (`scenarios[2].rate`).
public struct Suite: Sendable {
    public var name: String
    public var description: String
    /// Where the suite came from: `built-in` or the file's path.
    public var source: String
    /// The TOML text, kept in the result set as `suite.toml` so the set can be reproduced.
    public var text: String
    /// Rounds: every scenario runs once per round, in an order rotated each round.
    public var repeats: Int
    /// Round N runs with the seed plus N.
    public var seedPerRound: Bool
    public var groups: [Group]

    /// One `[[scenarios]]` table, its `[defaults]` applied: the arguments of one `ftbench run`.
    public struct Group: Sendable, Equatable {
        /// Where it is written, for errors: `quick.toml: scenarios[2]`.
        public var location: String
        public var title: String
        public var options: [Option]

        /// Every option as command-line arguments.
        public var arguments: [String] { options.flatMap(\.arguments) }
    }

    /// One key of a group: its location and the arguments it stands for (`--rate 5000,10000`).
    public struct Option: Sendable, Equatable {
        public var key: String
        public var location: String
        public var arguments: [String]
    }

    /// Suite-level keys; every other key of a group is an `ftbench run` option.
    static let topKeys: Set<String> = ["description", "repeat", "seed-per-round", "include", "defaults", "scenarios"]
    /// Options a suite sets itself, or that would make its scenarios unlike the others.
    static let refusedKeys: [String: String] = [
        "name": "the result set is named after the suite",
        "output": "give --output to `ftbench suite`",
        "repeat": "set repeat at the top level of the suite",
        "seed-per-round": "set seed-per-round at the top level of the suite",
        "no-calibration": "give --no-calibration to `ftbench suite`",
        "record-log": "give --record-log to `ftbench suite`",
    ]
    /// Options that may be given several times: an array gives each element once.
    static let repeatedKeys: Set<String> = ["fault", "define"]

    /// Parses a suite; `file` names it in errors (`quick` for a built-in, else the path).
    public static func parse(_ text: String, name: String, file: String, source: String) throws(SuiteError) -> Suite {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw SuiteError("\(file):\(error.source.begin.line):\(error.source.begin.column): \(error.description)")
        } catch {
            throw SuiteError("\(file): \(error)")
        }
        for (key, _) in table where !topKeys.contains(key) {
            throw SuiteError("\(file): \(key): unknown key (a suite has \(topKeys.sorted().joined(separator: ", ")); options go in [[scenarios]] or [defaults])")
        }
        var suite = Suite(name: name, description: "", source: source, text: text, repeats: 6, seedPerRound: false, groups: [])
        if let value = table["description"] {
            guard let d = value.string else { throw SuiteError("\(file): description: expected a string, got \(value.typeName)") }
            suite.description = d
        }
        if let value = table["repeat"] {
            guard let n = value.int, (1...1_000).contains(n) else { throw SuiteError("\(file): repeat: expected an integer from 1 to 1000, got \(value.debugText)") }
            suite.repeats = n
        }
        if let value = table["seed-per-round"] {
            guard let b = value.bool else { throw SuiteError("\(file): seed-per-round: expected true or false, got \(value.typeName)") }
            suite.seedPerRound = b
        }
        var defaults: [Option] = []
        if let value = table["defaults"] {
            guard let t = value.table else { throw SuiteError("\(file): defaults: expected a table ([defaults]), got \(value.typeName)") }
            defaults = try options(of: t, at: "\(file): defaults")
        }
        if let value = table["include"] {
            guard let names = value.array?.map(\.string), names.allSatisfy({ $0 != nil }) else {
                throw SuiteError("\(file): include: expected an array of built-in suite names, got \(value.debugText)")
            }
            for (i, included) in names.compactMap({ $0 }).enumerated() {
                guard included != name, let builtin = BuiltinSuites.text(of: included) else {
                    throw SuiteError("\(file): include[\(i + 1)]: '\(included)' is not a built-in suite (\(BuiltinSuites.names.filter { $0 != name }.joined(separator: ", ")))")
                }
                suite.groups += try parse(builtin, name: included, file: included, source: "built-in").groups
            }
        }
        if let value = table["scenarios"] {
            guard let groups = value.array else { throw SuiteError("\(file): scenarios: expected an array of tables ([[scenarios]]), got \(value.typeName)") }
            for i in 0..<groups.count {
                let location = "\(file): scenarios[\(i + 1)]"
                guard let t = groups[i].table else { throw SuiteError("\(location): expected a table, got \(groups[i].typeName)") }
                var title = ""
                if let value = t["title"] {
                    guard let s = value.string else { throw SuiteError("\(location).title: expected a string, got \(value.typeName)") }
                    title = s
                }
                let own = try options(of: t, at: location)
                let inherited = defaults.filter { d in !own.contains { $0.key == d.key } }
                suite.groups.append(Group(location: location, title: title, options: inherited + own))
            }
        }
        guard !suite.groups.isEmpty else { throw SuiteError("\(file): no scenarios: add [[scenarios]] tables or include built-in suites") }
        return suite
    }

    /// A table's keys as `ftbench run` options (`title` excepted).
    static func options(of table: TOMLTable, at location: String) throws(SuiteError) -> [Option] {
        var options: [Option] = []
        for (key, value) in table.sorted(by: { $0.0 < $1.0 }) where key != "title" {
            let path = "\(location).\(key)"
            if let reason = refusedKeys[key] { throw SuiteError("\(path): not allowed in a suite: \(reason)") }
            let values: [String]
            if let array = value.array {
                var items: [String] = []
                for i in 0..<array.count {
                    guard let text = scalar(array[i]) else {
                        throw SuiteError("\(path)[\(i + 1)]: expected a string or a number, got \(array[i].typeName)")
                    }
                    items.append(text)
                }
                guard !items.isEmpty else { throw SuiteError("\(path): empty array") }
                values = items
            } else if let text = scalar(value) {
                values = [text]
            } else {
                throw SuiteError("\(path): expected a string, a number or an array of them, got \(value.typeName)")
            }
            if key == "rate", values.contains(where: { $0.hasPrefix("sweep") }) {
                throw SuiteError("\(path): a sweep is not allowed in a suite (its length is not known in advance): list the rates")
            }
            let arguments: [String]
            if repeatedKeys.contains(key) {
                arguments = values.flatMap { ["--\(key)", $0] }
            } else {
                // Profiles hold commas of their own (3ms,bw=1gbit): ';' separates them.
                arguments = ["--\(key)", values.joined(separator: key == "profile" ? ";" : ",")]
            }
            options.append(Option(key: key, location: path, arguments: arguments))
        }
        return options
    }

    /// A string or a number as the command line spells it; nil for anything else.
    static func scalar(_ value: any TOMLValueConvertible) -> String? {
        if let s = value.string { return s }
        if let i = value.int { return String(i) }
        if let d = value.double { return Format.number(d) }
        return nil
    }
}

/// A suite that cannot be read: one line with the file, the key path and the problem.
public struct SuiteError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension TOMLValueConvertible {
    /// The value for an error message: scalars as written, anything else by its type.
    var debugText: String { Suite.scalar(self) ?? (bool.map { String($0) } ?? typeName) }

    /// The value's kind, for an error message: `a boolean`, `a table`.
    var typeName: String {
        switch type {
        case .table: "a table"
        case .array: "an array"
        case .string: "a string"
        case .int: "an integer"
        case .double: "a number"
        case .bool: "a boolean"
        case .date, .time, .dateTime: "a date or time"
        }
    }
}
