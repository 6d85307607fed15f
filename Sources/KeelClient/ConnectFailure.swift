import Glibc
import NIOCore
import NIOPosix

/// Why a connection attempt failed, in words a person can act on: the system's reason for an I/O
/// error ("Connection refused", "No such file or directory"), not the library's internals
/// (`connect(descriptor:addr:size:)`).
enum ConnectFailure {
    static func reason(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        if let connection = error as? NIOConnectionError {
            if let first = connection.connectionErrors.first { return reason(first.error) }
            if connection.dnsAError != nil || connection.dnsAAAAError != nil {
                return "cannot resolve \(connection.host)"
            }
        }
        if error is ChannelError { return "the connection could not be opened (\(error))" }
        return "\(type(of: error))"
    }
}
