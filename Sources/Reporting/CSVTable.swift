/// A CSV file read whole (RFC 4180: quoted fields may hold commas, quotes and line breaks), its
/// first line the header. Cells are looked up by column name.
public struct CSVTable: Sendable {
    public var columns: [String]
    public var rows: [[String]]
    private var index: [String: Int]

    /// - Parameter file: the name errors give, with the line of the problem.
    public init(text: String, file: String) throws(ReportError) {
        var records: [[String]] = []
        var field = "", record: [String] = []
        var quoted = false, afterQuote = false, line = 1, recordLine = 1
        var lines: [Int] = []
        var iterator = text.unicodeScalars.makeIterator()
        while let c = iterator.next() {
            if quoted {
                if c == "\"" { quoted = false; afterQuote = true } else { field.unicodeScalars.append(c) }
                if c == "\n" { line += 1 }
                continue
            }
            switch c {
            case "\"":
                guard field.isEmpty, !afterQuote else {
                    if afterQuote { field.unicodeScalars.append(c); quoted = true; afterQuote = false; continue }
                    throw ReportError("\(file):\(line): a quote inside an unquoted field")
                }
                quoted = true
            case ",":
                record.append(field); field = ""; afterQuote = false
            case "\r":
                continue
            case "\n":
                record.append(field); field = ""; afterQuote = false
                records.append(record); lines.append(recordLine); record = []
                line += 1; recordLine = line
            default:
                guard !afterQuote else { throw ReportError("\(file):\(line): text after a closing quote") }
                field.unicodeScalars.append(c)
            }
        }
        guard !quoted else { throw ReportError("\(file):\(recordLine): a quoted field is not closed") }
        if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record); lines.append(recordLine) }
        guard let header = records.first, !(header.count == 1 && header[0].isEmpty) else { throw ReportError("\(file): empty, no header line") }
        columns = header
        index = Dictionary(header.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        rows = Array(records.dropFirst())
        for (i, row) in rows.enumerated() where row.count != header.count {
            throw ReportError("\(file):\(lines[i + 1]): \(row.count) fields where the header has \(header.count)")
        }
    }

    /// The cell of `column` in `row` ("" for a column the file does not have).
    public func cell(_ row: Int, _ column: String) -> String {
        guard let i = index[column] else { return "" }
        return rows[row][i]
    }

    /// The cell as a number (nil when empty or not a number).
    public func number(_ row: Int, _ column: String) -> Double? { Double(cell(row, column)) }
}

/// Input that cannot be read as a result set, or a chart or comparison that cannot be made:
/// one line, naming the file.
public struct ReportError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
