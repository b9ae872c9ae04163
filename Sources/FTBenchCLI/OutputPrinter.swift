/// Prints text outputs as they come and counts binary ones.
struct OutputPrinter {
    private var binaryOutputs = 0
    private var binaryBytes = 0

    mutating func take(_ bytes: UnsafeRawBufferPointer) {
        let isText = bytes.allSatisfy { $0 == 0x0A || $0 == 0x09 || ($0 >= 0x20 && $0 < 0x7F) }
        if isText {
            print(String(decoding: bytes, as: UTF8.self), terminator: "")
        } else {
            binaryOutputs += 1
            binaryBytes += bytes.count
        }
    }

    func finish() {
        if binaryOutputs > 0 { print("(\(binaryOutputs) binary outputs, \(binaryBytes) bytes)") }
    }
}
