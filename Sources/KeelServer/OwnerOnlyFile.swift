import Glibc
import KeelCore

/// Files that must be readable by their owner only: token files and TLS private keys
/// (docs/security.md). Checks the mode bits, not `access()`, so the rule holds for root too.
enum OwnerOnlyFile {
    /// - Parameter kind: what the file is, for messages: `token file`, `TLS key file`.
    /// - Throws: `KeelError(.invalidParams)` when `path` cannot be stat'ed or group or others may
    ///   read or write it. The message names the file and its mode, never its content.
    static func check(_ path: String, kind: String) throws {
        let mode = try permissions(path, kind: kind)
        guard mode & 0o077 == 0 else {
            throw KeelError(
                .invalidParams,
                "\(kind) \(path) has mode \(String(mode, radix: 8)): group or others can read it; run chmod 600 \(path)")
        }
    }

    /// The permission bits of `path`.
    /// - Throws: `KeelError(.invalidParams)` naming the file when it cannot be stat'ed (missing, a bad path).
    static func permissions(_ path: String, kind: String) throws -> mode_t {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw KeelError(.invalidParams, "cannot read \(kind) \(path): \(String(cString: strerror(errno)))")
        }
        return st.st_mode & 0o777
    }
}
