/// An assembly error with its location: `file:line:column: message`.
public struct AssemblyError: Error, Equatable, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `file:line:column: message`, or `file: message` for an error of no line (line 0).
    public var description: String { line == 0 ? "\(file): \(message)" : "\(file):\(line):\(column): \(message)" }
}

/// One lexical token of a source line. Columns are 1-based byte offsets.
struct Token: Equatable {
    enum Kind: Equatable {
        case identifier(String)
        case number(UInt64)
        case string([UInt8])
        /// One of `, : [ ] + - * ( ) =`.
        case punctuation(UInt8)
    }

    var kind: Kind
    var column: Int

    var text: String {
        switch kind {
        case .identifier(let s): s
        case .number(let n): String(n)
        case .string: "string literal"
        case .punctuation(let p): String(UnicodeScalar(p))
        }
    }
}

/// Splits one line of assembly into tokens. Works on bytes so that no input, however malformed,
/// can make it trap: every unexpected byte becomes an `AssemblyError`.
struct LineLexer {
    let bytes: ArraySlice<UInt8>
    let lineNumber: Int
    let file: String

    func error(_ column: Int, _ message: String) -> AssemblyError {
        AssemblyError(file: file, line: lineNumber, column: column, message: message)
    }

    static func isIdentifierStart(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F || b == 0x2E
    }

    static func isIdentifierContinue(_ b: UInt8) -> Bool {
        isIdentifierStart(b) || (b >= 0x30 && b <= 0x39)
    }

    func tokenize() throws(AssemblyError) -> [Token] {
        var tokens: [Token] = []
        var i = bytes.startIndex
        let start = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            let column = i - start + 1
            switch b {
            case 0x20, 0x09, 0x0D:
                i += 1
            case 0x3B, 0x23:  // ; and # start a comment
                return tokens
            case _ where Self.isIdentifierStart(b):
                var j = i + 1
                while j < bytes.endIndex, Self.isIdentifierContinue(bytes[j]) { j += 1 }
                tokens.append(Token(kind: .identifier(String(decoding: bytes[i..<j], as: UTF8.self)), column: column))
                i = j
            case 0x30...0x39:
                let (value, end) = try number(at: i)
                tokens.append(Token(kind: .number(value), column: column))
                i = end
            case 0x22:  // "
                let (value, end) = try quoted(at: i, terminator: 0x22)
                tokens.append(Token(kind: .string(value), column: column))
                i = end
            case 0x27:  // 'c' is a number
                let (value, end) = try quoted(at: i, terminator: 0x27)
                guard value.count == 1 else { throw error(column, "a character literal holds exactly one byte") }
                tokens.append(Token(kind: .number(UInt64(value[0])), column: column))
                i = end
            case 0x2C, 0x3A, 0x5B, 0x5D, 0x2B, 0x2D, 0x2A, 0x28, 0x29, 0x3D:
                tokens.append(Token(kind: .punctuation(b), column: column))
                i += 1
            default:
                if b >= 0x21 && b < 0x7F {
                    throw error(column, "unexpected character '\(UnicodeScalar(b))'")
                }
                throw error(column, "unexpected byte 0x\(String(b, radix: 16, uppercase: true)) (not assembly text)")
            }
        }
        return tokens
    }

    /// Decimal, `0x` hex or `0b` binary, with `_` separators; rejects values above 2^64 - 1.
    private func number(at index: Int) throws(AssemblyError) -> (UInt64, Int) {
        let column = index - bytes.startIndex + 1
        var radix: UInt64 = 10
        var i = index
        if bytes[i] == 0x30, i + 1 < bytes.endIndex {
            switch bytes[i + 1] {
            case 0x78, 0x58: radix = 16; i += 2
            case 0x62, 0x42: radix = 2; i += 2
            default: break
            }
        }
        var value: UInt64 = 0
        var digits = 0
        while i < bytes.endIndex, Self.isIdentifierContinue(bytes[i]) {
            let c = bytes[i]
            i += 1
            if c == 0x5F { continue }
            let digit: UInt64
            switch c {
            case 0x30...0x39: digit = UInt64(c - 0x30)
            case 0x61...0x66: digit = UInt64(c - 0x61 + 10)
            case 0x41...0x46: digit = UInt64(c - 0x41 + 10)
            default: digit = 99
            }
            guard digit < radix else {
                throw error(column, "malformed number: '\(UnicodeScalar(c))' is not a base-\(radix) digit")
            }
            let (m, o1) = value.multipliedReportingOverflow(by: radix)
            let (s, o2) = m.addingReportingOverflow(digit)
            guard !o1, !o2 else { throw error(column, "number does not fit in 64 bits") }
            value = s
            digits += 1
        }
        guard digits > 0 else { throw error(column, "malformed number: no digits") }
        return (value, i)
    }

    /// A string or character literal with escapes `\n \t \r \0 \\ \" \' \xNN`.
    private func quoted(at index: Int, terminator: UInt8) throws(AssemblyError) -> ([UInt8], Int) {
        let column = index - bytes.startIndex + 1
        var out: [UInt8] = []
        var i = index + 1
        while i < bytes.endIndex {
            let c = bytes[i]
            if c == terminator { return (out, i + 1) }
            if c == 0x5C {
                guard i + 1 < bytes.endIndex else { break }
                let e = bytes[i + 1]
                i += 2
                switch e {
                case 0x6E: out.append(0x0A)
                case 0x74: out.append(0x09)
                case 0x72: out.append(0x0D)
                case 0x30: out.append(0)
                case 0x5C, 0x22, 0x27: out.append(e)
                case 0x78:
                    guard i + 1 < bytes.endIndex,
                          let hi = Self.hexValue(bytes[i]), let lo = Self.hexValue(bytes[i + 1])
                    else { throw error(i - bytes.startIndex + 1, "\\x needs two hex digits") }
                    out.append(hi << 4 | lo)
                    i += 2
                default:
                    throw error(i - 1 - bytes.startIndex, "unknown escape '\\\(UnicodeScalar(e))'")
                }
                continue
            }
            out.append(c)
            i += 1
        }
        throw error(column, "unterminated literal")
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
}
