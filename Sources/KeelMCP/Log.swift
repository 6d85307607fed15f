import Foundation

/// One line on stderr, which `keel serve` logs for the workers it spawns.
enum Log {
    static func write(_ line: String) {
        FileHandle.standardError.write(Data("keel mcp: \(line)\n".utf8))
    }
}
