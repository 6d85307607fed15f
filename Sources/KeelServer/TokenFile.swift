import Foundation
import KeelCore

/// Reads tokens from files that only their owner can read (docs/security.md).
public enum TokenFile {
    /// The token in `path`, trimmed of surrounding whitespace.
    /// - Throws: `KeelError(.invalidParams)` when the file is missing, readable or writable by
    ///   group or others, or empty. The message names the file and its mode, never its content.
    public static func read(_ path: String) throws -> String {
        try OwnerOnlyFile.check(path, kind: "token file")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeelError(.invalidParams, "cannot read token file \(path)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw KeelError(.invalidParams, "token file \(path) is empty") }
        return token
    }

    /// A fresh token: 256 random bits from the system's CSPRNG, as 64 hex digits.
    public static func newToken() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<4).map { _ -> String in
            let s = String(rng.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }.joined()
    }
}
