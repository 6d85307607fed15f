import Foundation

/// A fresh directory under /tmp (short, so Unix socket paths fit), removed at the end unless
/// `KEEL_TEST_KEEP_TMPDIR=1`, in which case its path is printed.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init() throws {
        let template = "/tmp/keel-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let p = mkdtemp(&bytes) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: p)
    }

    public func file(_ name: String) -> String { path + "/" + name }

    public func remove() {
        if ProcessInfo.processInfo.environment["KEEL_TEST_KEEP_TMPDIR"] == "1" {
            FileHandle.standardError.write(Data("kept test dir: \(path)\n".utf8))
            return
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Runs `body` with a new directory and removes it afterwards.
    public static func with<T>(_ body: (TemporaryDirectory) async throws -> T) async throws -> T {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        return try await body(dir)
    }
}
