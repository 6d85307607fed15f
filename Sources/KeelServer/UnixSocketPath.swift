import Glibc
import KeelCore

/// Prepares a Unix socket path for binding: a stale socket file left by a crash is removed; a
/// live one (another process accepts on it) or a non-socket file is refused.
enum UnixSocketPath {
    /// Longest path `sockaddr_un` holds on Linux, less the terminator.
    static let maximumLength = 107

    static func prepare(_ path: String) throws {
        guard path.utf8.count <= maximumLength else {
            throw KeelError(.invalidParams, "socket path is \(path.utf8.count) bytes; Unix sockets allow \(maximumLength). Use a shorter path.")
        }
        var st = stat()
        guard lstat(path, &st) == 0 else { return }  // nothing there
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw KeelError(.invalidParams, "\(path) exists and is not a socket; refusing to replace it")
        }
        if isLive(path) {
            throw KeelError(.invalidParams, "another process is serving on \(path); stop it or choose another --socket")
        }
        unlink(path)
    }

    /// A socket path inside a fresh 0700 directory next to `path`, to bind before ``publish(_:at:)``.
    static func stagingPath(for path: String) throws -> (directory: String, socket: String) {
        let parent = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        var template = Array("\(parent.isEmpty ? "/" : parent)/.keel-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw KeelError(.invalidParams, "cannot create a directory next to \(path): \(String(cString: strerror(errno)))")
        }
        let directory = String(cString: made)
        let socket = directory + "/s"
        guard socket.utf8.count <= maximumLength else {
            rmdir(directory)
            throw KeelError(.invalidParams, "socket path \(path) is too long to bind safely; use one under \(maximumLength - 14) bytes")
        }
        return (directory, socket)
    }

    /// Makes the staged socket owner-only and moves it to `path` (an atomic rename).
    static func publish(_ staging: (directory: String, socket: String), at path: String) throws {
        defer { rmdir(staging.directory) }
        guard chmod(staging.socket, 0o600) == 0, rename(staging.socket, path) == 0 else {
            unlink(staging.socket)
            throw KeelError(.internalError, "cannot publish the socket at \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes a staged socket that was never published, and its directory.
    static func discard(_ staging: (directory: String, socket: String)) {
        unlink(staging.socket)
        rmdir(staging.directory)
    }

    /// True when something accepts connections on the socket at `path`.
    static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(maximumLength))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return rc == 0
    }
}
