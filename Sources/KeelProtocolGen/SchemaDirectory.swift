public import Foundation

extension ProtocolTypeGenerator {
    /// Where the package keeps the schemas and the generated file, relative to its root.
    public static let schemaFolder = "Schemas/protocol"
    public static let outputPath = "Sources/KeelProtocol/Generated/ProtocolTypes.swift"

    /// The generated source for the schemas in `packageRoot`/Schemas/protocol.
    /// - Throws: a file system error, or `GeneratorError` for a schema it cannot read.
    public static func generate(packageRoot: URL) throws -> String {
        let folder = packageRoot.appendingPathComponent(schemaFolder)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw GeneratorError("no \(schemaFolder) under \(packageRoot.path): run it from the package root, or pass the root")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
        let files = try names.map {
            File(name: $0, text: try String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8))
        }
        return try ProtocolTypeGenerator(files: files).generate()
    }
}
