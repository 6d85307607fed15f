import Foundation
import KeelCore

#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket listening on a free loopback port that never accepts on its own, closed on
/// deinit: a port held "in use", or a server that takes connections and never answers.
public final class LoopbackListener: @unchecked Sendable {
    public let fd: Int32
    public let port: Int

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { a in
                bind(fd, a, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, a, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            throw KeelError(.internalError, "could not hold a port: errno \(errno)")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Waits (off the cooperative pool) until a client connects; the caller owns and closes the
    /// connection, which stays unanswered.
    public func acceptOne() async throws -> Int32 {
        let fd = fd
        return try await offCooperativePool { accept(fd, nil, nil) }
    }

    deinit { close(fd) }
}
