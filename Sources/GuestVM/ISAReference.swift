/// The instruction table of docs/ISA.md, generated from the ISA definition (`ftbench isa`).
public enum ISAReference {
    public static let beginMarker = "<!-- BEGIN GENERATED: ftbench isa; do not edit by hand -->"
    public static let endMarker = "<!-- END GENERATED -->"

    public static func markdownTable() -> String {
        var lines = ["| syntax | class | semantics |", "| --- | --- | --- |"]
        for op in Opcode.allCases where op.isAssemblable {
            let kind: String
            switch op.instructionClass {
            case .straight: kind = "straight"
            case .transfer: kind = "transfer"
            case .trap: kind = "trap"
            }
            lines.append("| `\(op.syntax)` | \(kind) | \(op.summary.replacingPipes) |")
        }
        return ([beginMarker] + lines + [endMarker]).joined(separator: "\n")
    }
}

extension String {
    fileprivate var replacingPipes: String { split(separator: "|", omittingEmptySubsequences: false).joined(separator: "\\|") }
}
