import Foundation
import WAT
import WasmKit

// Usage: wasmkit-peer FILE.wat. Prints the i64 that the module's exported `run` returns, then
// `seconds S`: the wall time of that call alone (assembly, validation, compilation and
// instantiation excluded, as ftbench's guest time excludes loading and assembly).
let arguments = CommandLine.arguments
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: wasmkit-peer FILE.wat\n".utf8))
    exit(64)
}
do {
    let text = try String(contentsOfFile: arguments[1], encoding: .utf8)
    let module = try parseWasm(bytes: try wat2wasm(text))
    let store = Store(engine: Engine())
    let instance = try module.instantiate(store: store)
    guard let run = instance.exports[function: "run"] else {
        FileHandle.standardError.write(Data("\(arguments[1]): no exported function `run`\n".utf8))
        exit(65)
    }
    let clock = ContinuousClock()
    let start = clock.now
    let result = try run([])
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print(result.first?.i64 ?? 0)
    print("seconds " + String(format: "%.6f", seconds))
} catch {
    FileHandle.standardError.write(Data("\(arguments[1]): \(error)\n".utf8))
    exit(65)
}
