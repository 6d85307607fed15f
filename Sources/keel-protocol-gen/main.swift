// Regenerates Sources/KeelProtocol/Generated/ProtocolTypes.swift from Schemas/protocol/*.json.
// Run from the package root: swift run keel-protocol-gen   (or pass the root as the only argument)
import Foundation
import KeelProtocolGen

let root = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : ".")
do {
    let source = try ProtocolTypeGenerator.generate(packageRoot: root)
    let output = root.appendingPathComponent(ProtocolTypeGenerator.outputPath)
    try source.write(to: output, atomically: true, encoding: .utf8)
    print("wrote \(ProtocolTypeGenerator.outputPath)")
} catch {
    FileHandle.standardError.write(Data("keel-protocol-gen: \(error)\n".utf8))
    exit(1)
}
