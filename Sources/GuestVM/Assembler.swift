/// Assembles guest programs from text. The syntax is documented in docs/ISA.md.
///
/// Two passes: the first tokenizes every line, assigns label values and lays out `.data`; the
/// second encodes instructions and data values, so labels may be used before they are defined.
/// Any input yields either a `Program` or one `AssemblyError` naming file:line:column.
public enum Assembler {
    /// - Parameter defines: values that replace those of the program's `.const`s of the same
    ///   names (`--define NAME=VALUE`); naming a constant the program does not define is an error.
    public static func assemble(_ source: String, file: String = "<input>", defines: [String: Int64] = [:]) throws(AssemblyError) -> Program {
        try assemble(bytes: Array(source.utf8), file: file, defines: defines)
    }

    public static func assemble(bytes: [UInt8], file: String, defines: [String: Int64] = [:]) throws(AssemblyError) -> Program {
        var state = AssemblerState(file: file, defines: defines)
        try state.firstPass(bytes)
        if let unknown = defines.keys.sorted().first(where: { !state.constants.contains($0) }) {
            throw AssemblyError(file: file, line: 0, column: 0, message: "--define \(unknown): the program has no .const \(unknown)")
        }
        return try state.secondPass()
    }

    /// The mnemonic table, derived from the ISA definition.
    static let mnemonics: [String: Opcode] = Dictionary(
        uniqueKeysWithValues: Opcode.allCases.filter(\.isAssemblable).map { ($0.mnemonic, $0) })
}

private struct PendingLine {
    var line: Int
    var tokens: [Token]
    /// The global label in force, for resolving `.local` references.
    var scope: String
}

private struct PendingData {
    var line: PendingLine
    var address: Int
    var width: Int
    var valueTokens: ArraySlice<Token>
}

private enum Section { case text, data }

private struct AssemblerState {
    let file: String
    var symbols: [String: Program.Symbol] = [:]
    var instructionLines: [PendingLine] = []
    var dataFixups: [PendingData] = []
    var segments: [Program.DataSegment] = []
    var section = Section.text
    var dataCursor = Program.dataOrigin
    var scope = ""
    var entry: (name: String, line: PendingLine)?
    var memory = Program.defaultMemory
    var vcpus = 1
    let defines: [String: Int64]
    /// The names of the program's `.const`s.
    var constants: Set<String> = []

    init(file: String, defines: [String: Int64]) {
        self.file = file
        self.defines = defines
    }

    func error(_ line: Int, _ column: Int, _ message: String) -> AssemblyError {
        AssemblyError(file: file, line: line, column: column, message: message)
    }

    // MARK: Pass 1

    mutating func firstPass(_ bytes: [UInt8]) throws(AssemblyError) {
        var lineStart = 0
        var lineNumber = 1
        while lineStart <= bytes.count {
            var end = lineStart
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            let lexer = LineLexer(bytes: bytes[lineStart..<end], lineNumber: lineNumber, file: file)
            try firstPass(line: lineNumber, tokens: try lexer.tokenize(), length: end - lineStart)
            lineStart = end + 1
            lineNumber += 1
        }
        guard !instructionLines.isEmpty else {
            throw error(1, 1, "program has no instructions")
        }
    }

    mutating func firstPass(line: Int, tokens: [Token], length: Int) throws(AssemblyError) {
        var rest = tokens[...]
        // Labels: `name:` (a `.name:` label is local to the last global label).
        while rest.count >= 2, case .identifier(let name) = rest[rest.startIndex].kind,
              rest[rest.startIndex + 1].kind == .punctuation(0x3A) {
            let column = rest[rest.startIndex].column
            if !name.hasPrefix(".") { scope = name }
            let qualified = qualify(name)
            guard Assembler.mnemonics[name] == nil, AssemblerState.register(name) == nil else {
                throw error(line, column, "\(quoted(name)) is reserved and cannot be a label")
            }
            guard symbols[qualified] == nil else { throw error(line, column, "label \(quoted(name)) is defined twice") }
            symbols[qualified] = section == .text ? .code(instructionLines.count) : .value(Int64(dataCursor))
            rest = rest.dropFirst(2)
        }
        guard let first = rest.first else { return }
        let pending = PendingLine(line: line, tokens: Array(rest), scope: scope)
        guard case .identifier(let word) = first.kind else {
            throw error(line, first.column, "expected a label, directive or instruction, found \(quoted(first.text))")
        }
        if word.hasPrefix(".") {
            try directive(word, pending, length: length)
            return
        }
        guard let op = Assembler.mnemonics[word.lowercased()] else {
            throw error(line, first.column, "unknown mnemonic \(quoted(word))")
        }
        guard section == .text else {
            throw error(line, first.column, "instruction '\(op.mnemonic)' in .data (write .text first)")
        }
        instructionLines.append(pending)
    }

    mutating func directive(_ word: String, _ pending: PendingLine, length: Int) throws(AssemblyError) {
        let line = pending.line
        var cursor = TokenCursor(tokens: pending.tokens[...].dropFirst(), line: line, file: file, endColumn: length + 1)
        let column = pending.tokens[0].column
        switch word {
        case ".text":
            section = .text
        case ".data":
            section = .data
        case ".const", ".equ":
            let (name, nameColumn) = try cursor.identifier("a constant name")
            try cursor.expect(0x3D, "'='")
            let value = try cursor.expression(self, scope: pending.scope)
            guard symbols[name] == nil else { throw error(line, nameColumn, "\(quoted(name)) is defined twice") }
            symbols[name] = .value(defines[name] ?? value)
            constants.insert(name)
        case ".entry":
            let (name, _) = try cursor.identifier("an entry label")
            entry = (name, pending)
        case ".memory":
            let value = try cursor.expression(self, scope: pending.scope)
            guard value >= 64 << 10, value <= 1 << 32 else {
                throw error(line, column, ".memory must be between 64 KiB and 4 GiB, got \(value)")
            }
            memory = Int(value)
        case ".vcpus":
            let value = try cursor.expression(self, scope: pending.scope)
            guard value >= 1, value <= 64 else { throw error(line, column, ".vcpus must be 1...64, got \(value)") }
            vcpus = Int(value)
        case ".org", ".align", ".zero", ".u8", ".u16", ".u32", ".u64", ".ascii", ".asciz":
            guard section == .data else { throw error(line, column, "\(word) belongs in .data") }
            try dataDirective(word, &cursor, pending)
            return
        default:
            throw error(line, column, "unknown directive \(quoted(word))")
        }
        try cursor.expectEnd()
    }

    mutating func dataDirective(_ word: String, _ cursor: inout TokenCursor, _ pending: PendingLine) throws(AssemblyError) {
        let line = pending.line
        let column = pending.tokens[0].column
        let limit = 1 << 32
        func checkedSize(_ v: Int64) throws(AssemblyError) -> Int {
            guard v >= 0, v <= limit else { throw error(line, column, "\(word) size \(v) is out of range 0...\(limit)") }
            return Int(v)
        }
        switch word {
        case ".org":
            let address = try checkedSize(try cursor.expression(self, scope: pending.scope))
            guard address >= dataCursor || segments.isEmpty && dataFixups.isEmpty else {
                throw error(line, column, ".org \(address) moves backwards over data already placed (at \(dataCursor))")
            }
            dataCursor = address
        case ".align":
            let alignment = try checkedSize(try cursor.expression(self, scope: pending.scope))
            guard alignment > 0, alignment & (alignment - 1) == 0 else {
                throw error(line, column, ".align needs a power of two, got \(alignment)")
            }
            // Guest memory starts zeroed, so padding and `.zero` only move the cursor.
            dataCursor = (dataCursor + alignment - 1) & ~(alignment - 1)
        case ".zero":
            dataCursor += try checkedSize(try cursor.expression(self, scope: pending.scope))
        case ".ascii", ".asciz":
            guard let token = cursor.next(), case .string(var bytes) = token.kind else {
                throw error(line, column, "\(word) expects a string literal")
            }
            if word == ".asciz" { bytes.append(0) }
            emit(bytes)
        default:
            let width = word == ".u8" ? 1 : word == ".u16" ? 2 : word == ".u32" ? 4 : 8
            // Values may name labels defined later, so they are evaluated in pass 2.
            repeat {
                let start = cursor.index
                try cursor.skipExpression()
                dataFixups.append(PendingData(line: pending, address: dataCursor, width: width,
                                              valueTokens: cursor.tokens[start..<cursor.index]))
                emit(Array(repeating: 0, count: width))
            } while cursor.consume(0x2C)
        }
        try cursor.expectEnd()
        guard dataCursor <= limit else { throw error(line, column, "data extends past 4 GiB") }
    }

    mutating func emit(_ bytes: [UInt8]) {
        if let last = segments.last, last.address + last.bytes.count == dataCursor {
            segments[segments.count - 1].bytes += bytes
        } else {
            segments.append(.init(address: dataCursor, bytes: bytes))
        }
        dataCursor += bytes.count
    }

    func qualify(_ name: String) -> String {
        name.hasPrefix(".") ? scope + name : name
    }

    static func register(_ name: String) -> UInt8? {
        if name == "sp" { return UInt8(Register.stackPointer) }
        guard name.count >= 2, name.count <= 3, name.first == "r", let n = UInt8(name.dropFirst()),
              n < Register.count, !(name.count == 3 && name.dropFirst().first == "0")
        else { return nil }
        return n
    }

    // MARK: Pass 2

    func secondPass() throws(AssemblyError) -> Program {
        var instructions: [Instruction] = []
        instructions.reserveCapacity(instructionLines.count + 1)
        for pending in instructionLines {
            instructions.append(try encode(pending))
        }
        var data = segments
        for fixup in dataFixups {
            var cursor = TokenCursor(tokens: fixup.valueTokens, line: fixup.line.line, file: file, endColumn: 1)
            let value = try cursor.expression(self, scope: fixup.line.scope)
            let column = fixup.valueTokens.first?.column ?? 1
            if fixup.width < 8 {
                let bits = fixup.width * 8
                guard value >= -(Int64(1) << (bits - 1)), value < Int64(1) << bits else {
                    throw error(fixup.line.line, column, "value \(value) does not fit in \(bits) bits")
                }
            }
            let segment = data.firstIndex { $0.address <= fixup.address && fixup.address < $0.address + $0.bytes.count }!
            let offset = fixup.address - data[segment].address
            for k in 0..<fixup.width {
                data[segment].bytes[offset + k] = UInt8(truncatingIfNeeded: UInt64(bitPattern: value) >> (8 * k))
            }
        }
        var entryIndex = 0
        if let entry {
            guard case .code(let index) = symbols[entry.name] else {
                throw error(entry.line.line, entry.line.tokens[1].column, "entry \(quoted(entry.name)) is not a code label")
            }
            entryIndex = index
        } else if case .code(let index) = symbols["start"] {
            entryIndex = index
        }
        return Program(
            name: file, instructions: instructions, data: data, entry: entryIndex, symbols: symbols,
            sourceLines: instructionLines.map(\.line), minimumMemory: memory, preferredVCPUs: vcpus)
    }

    func encode(_ pending: PendingLine) throws(AssemblyError) -> Instruction {
        let head = pending.tokens[0]
        guard case .identifier(let word) = head.kind, let op = Assembler.mnemonics[word.lowercased()] else {
            throw error(pending.line, head.column, "unknown mnemonic \(quoted(head.text))")
        }
        let endColumn = (pending.tokens.last.map { $0.column + $0.text.utf8.count }) ?? 1
        var c = TokenCursor(tokens: pending.tokens[1...], line: pending.line, file: file, endColumn: endColumn)
        var inst = Instruction(op)
        switch op.format {
        case .none:
            break
        case .d:
            inst.rd = try c.register()
        case .a:
            inst.ra = try c.register()
        case .dImm:
            inst.rd = try c.register()
            try c.comma()
            inst.imm = try c.expression(self, scope: pending.scope)
        case .dA:
            inst.rd = try c.register(); try c.comma()
            inst.ra = try c.register()
        case .dAB:
            inst.rd = try c.register(); try c.comma()
            inst.ra = try c.register(); try c.comma()
            inst.rb = try c.register()
        case .dAImm:
            inst.rd = try c.register(); try c.comma()
            inst.ra = try c.register(); try c.comma()
            inst.imm = try c.immediate32(self, scope: pending.scope)
        case .dAShift:
            inst.rd = try c.register(); try c.comma()
            inst.ra = try c.register(); try c.comma()
            let column = c.column
            inst.imm = try c.expression(self, scope: pending.scope)
            guard (0...63).contains(inst.imm) else {
                throw error(pending.line, column, "shift amount \(inst.imm) is out of range 0...63")
            }
        case .load:
            inst.rd = try c.register(); try c.comma()
            (inst.ra, inst.imm) = try c.memoryOperand(self, scope: pending.scope)
        case .store:
            (inst.ra, inst.imm) = try c.memoryOperand(self, scope: pending.scope)
            try c.comma()
            inst.rb = try c.register()
        case .branch:
            inst.ra = try c.register(); try c.comma()
            inst.rb = try c.register(); try c.comma()
            inst.target = try c.codeLabel(self, scope: pending.scope)
        case .branchImm:
            inst.ra = try c.register(); try c.comma()
            inst.imm = try c.immediate32(self, scope: pending.scope); try c.comma()
            inst.target = try c.codeLabel(self, scope: pending.scope)
        case .label:
            inst.target = try c.codeLabel(self, scope: pending.scope)
        case .aB:
            inst.ra = try c.register(); try c.comma()
            inst.rb = try c.register()
        case .atomic:
            inst.rd = try c.register(); try c.comma()
            try c.expect(0x5B, "'['")
            inst.ra = try c.register()
            try c.expect(0x5D, "']' (atomics take no offset)")
            try c.comma()
            inst.rb = try c.register()
        }
        try c.expectEnd()
        return inst
    }

    func value(of name: String, scope: String) -> Int64? {
        let qualified = name.hasPrefix(".") ? scope + name : name
        switch symbols[qualified] {
        case .code(let index): return Int64(index)
        case .value(let v): return v
        case nil: return nil
        }
    }
}

/// Reads operands from a line's tokens. Every failure is an `AssemblyError` at the offending
/// token's column (or just past the line's end when something is missing).
private struct TokenCursor {
    var tokens: ArraySlice<Token>
    var index: Int
    let line: Int
    let file: String
    let endColumn: Int

    init(tokens: ArraySlice<Token>, line: Int, file: String, endColumn: Int) {
        self.tokens = tokens
        self.index = tokens.startIndex
        self.line = line
        self.file = file
        self.endColumn = endColumn
    }

    var column: Int { index < tokens.endIndex ? tokens[index].column : endColumn }

    func error(_ message: String, at column: Int? = nil) -> AssemblyError {
        AssemblyError(file: file, line: line, column: column ?? self.column, message: message)
    }

    var found: String { index < tokens.endIndex ? quoted(tokens[index].text) : "end of line" }

    mutating func next() -> Token? {
        guard index < tokens.endIndex else { return nil }
        defer { index += 1 }
        return tokens[index]
    }

    mutating func consume(_ p: UInt8) -> Bool {
        guard index < tokens.endIndex, tokens[index].kind == .punctuation(p) else { return false }
        index += 1
        return true
    }

    mutating func expect(_ p: UInt8, _ what: String) throws(AssemblyError) {
        guard consume(p) else { throw error("expected \(what), found \(found)") }
    }

    mutating func comma() throws(AssemblyError) { try expect(0x2C, "','") }

    func expectEnd() throws(AssemblyError) {
        guard index >= tokens.endIndex else { throw error("unexpected \(found) after the operands") }
    }

    mutating func identifier(_ what: String) throws(AssemblyError) -> (String, Int) {
        let column = self.column
        let found = self.found
        guard let token = next(), case .identifier(let name) = token.kind else {
            throw error("expected \(what), found \(found)", at: column)
        }
        return (name, column)
    }

    mutating func register() throws(AssemblyError) -> UInt8 {
        let column = self.column
        guard index < tokens.endIndex, case .identifier(let name) = tokens[index].kind,
              let r = AssemblerState.register(name)
        else {
            throw error("expected a register (r0-r15 or sp), found \(found)", at: column)
        }
        index += 1
        return r
    }

    mutating func immediate32(_ state: AssemblerState, scope: String) throws(AssemblyError) -> Int64 {
        let column = self.column
        let v = try expression(state, scope: scope)
        guard v >= Int64(Int32.min), v <= Int64(Int32.max) else {
            throw error("immediate \(v) is out of range for a 32-bit signed field", at: column)
        }
        return v
    }

    mutating func codeLabel(_ state: AssemblerState, scope: String) throws(AssemblyError) -> UInt32 {
        let (name, column) = try identifier("a code label")
        let qualified = name.hasPrefix(".") ? scope + name : name
        switch state.symbols[qualified] {
        case .code(let index): return UInt32(index)
        case .value: throw error("\(quoted(name)) is not a code label", at: column)
        case nil: throw error("undefined label \(quoted(name))", at: column)
        }
    }

    /// `[reg]`, `[reg + expr]` or `[reg - expr]`, offset within 32 bits.
    mutating func memoryOperand(_ state: AssemblerState, scope: String) throws(AssemblyError) -> (UInt8, Int64) {
        try expect(0x5B, "'['")
        let base = try register()
        var offset: Int64 = 0
        let column = self.column
        if consume(0x2B) {
            offset = try expression(state, scope: scope)
        } else if consume(0x2D) {
            offset = 0 &- (try expression(state, scope: scope))
        }
        guard offset >= Int64(Int32.min), offset <= Int64(Int32.max) else {
            throw error("offset \(offset) is out of range for a 32-bit signed field", at: column)
        }
        try expect(0x5D, "']'")
        return (base, offset)
    }

    /// Moves past one expression without evaluating it (pass 1 for `.u64 later_label`).
    mutating func skipExpression() throws(AssemblyError) {
        let start = index
        var depth = 0
        while index < tokens.endIndex {
            let t = tokens[index]
            if t.kind == .punctuation(0x28) { depth += 1 }
            if t.kind == .punctuation(0x29) { depth -= 1 }
            if depth == 0, t.kind == .punctuation(0x2C) { break }
            index += 1
        }
        guard index > start else { throw error("expected a value, found \(found)") }
    }

    /// expression := term (('+' | '-') term)*; term := factor ('*' factor)*;
    /// factor := number | name | '-' factor | '(' expression ')'. 64-bit wrapping arithmetic,
    /// as assemblers do, so 0xFFFF_FFFF_FFFF_FFFF means -1.
    mutating func expression(_ state: AssemblerState, scope: String, depth: Int = 0) throws(AssemblyError) -> Int64 {
        guard depth < 64 else { throw error("expression nested too deeply") }
        var value = try term(state, scope: scope, depth: depth)
        while true {
            if consume(0x2B) {
                value = value &+ (try term(state, scope: scope, depth: depth))
            } else if consume(0x2D) {
                value = value &- (try term(state, scope: scope, depth: depth))
            } else {
                return value
            }
        }
    }

    mutating func term(_ state: AssemblerState, scope: String, depth: Int) throws(AssemblyError) -> Int64 {
        var value = try factor(state, scope: scope, depth: depth)
        while consume(0x2A) {
            value = value &* (try factor(state, scope: scope, depth: depth))
        }
        return value
    }

    mutating func factor(_ state: AssemblerState, scope: String, depth: Int) throws(AssemblyError) -> Int64 {
        let column = self.column
        // Unary minus recurses here without passing through `expression`: bound it too (main
        // crashed on 100,000 minus signs).
        guard depth < 64 else { throw error("expression nested too deeply (more than 64 levels)", at: column) }
        guard let token = next() else { throw error("expected a value, found end of line", at: column) }
        switch token.kind {
        case .number(let n):
            return Int64(bitPattern: n)
        case .identifier(let name):
            if AssemblerState.register(name) != nil {
                throw error("expected a value, found register \(quoted(name))", at: column)
            }
            guard let v = state.value(of: name, scope: scope) else {
                throw error("undefined symbol \(quoted(name))", at: column)
            }
            return v
        case .punctuation(0x2D):
            return 0 &- (try factor(state, scope: scope, depth: depth + 1))
        case .punctuation(0x28):
            let v = try expression(state, scope: scope, depth: depth + 1)
            try expect(0x29, "')'")
            return v
        default:
            throw error("expected a value, found \(quoted(token.text))", at: column)
        }
    }
}

/// A name or token for an error message: quoted, and cut to 40 characters so that a
/// 2 MB identifier makes a one-line error, not a 2 MB one.
func quoted(_ text: some StringProtocol) -> String {
    text.count <= 40 ? "'\(text)'" : "'\(text.prefix(40))...' (\(text.count) characters)"
}
