import KeelCore
import KeelStorage
import NIOCore
import PostgresNIO

/// PostgreSQL errors as Keel errors: a coded `storageFailure` with a reason a caller can act on,
/// and a message that says what happened without leaking the query or the password.
enum PostgresFailure {
    /// Runs `body`; a `PSQLError`, also inside a failed transaction, becomes a `storageFailure`.
    static func mapping<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PSQLError {
            throw storageFailure(error)
        } catch let error as PostgresTransactionError {
            // The first thing that failed says why: BEGIN, the statements, or COMMIT.
            let cause = error.beginError ?? error.closureError ?? error.commitError ?? error.rollbackError
            if let keel = cause as? KeelError { throw keel }
            if let psql = cause as? PSQLError { throw storageFailure(psql) }
            throw KeelError(
                .storageFailure, "PostgreSQL: the transaction failed", data: ["reason": .string("client")], cause: error)
        }
    }

    static func storageFailure(_ error: PSQLError) -> KeelError {
        let (reason, message) = describe(error)
        return KeelError(
            .storageFailure, "PostgreSQL: \(message)", data: ["reason": .string(reason)], cause: error)
    }

    /// The one-line start-up error for a store that cannot be used.
    static func startError(_ location: PostgresLocation, _ error: any Error) -> KeelError {
        if let keel = error as? KeelError {
            return KeelError(.storageFailure, "cannot use \(location): \(keel.message)", data: keel.data, cause: error)
        }
        guard let psql = error as? PSQLError else {
            return KeelError(.storageFailure, "cannot use \(location): \(error)", cause: error)
        }
        let (reason, message) = describe(psql)
        return KeelError(
            .storageFailure, "cannot use \(location): \(message)", data: ["reason": .string(reason)], cause: error)
    }

    /// A reason code and a one-line message.
    static func describe(_ error: PSQLError) -> (String, String) {
        if let info = error.serverInfo {
            let state = info[.sqlState] ?? ""
            let message = info[.message] ?? "server error"
            switch state {
            case "28P01", "28000": return ("authentication", "the server refused the credentials (\(message))")
            case "3D000": return ("noDatabase", message)
            case "57P01", "57P02", "57P03": return ("unavailable", "the server is shutting down or starting (\(message))")
            case "40001", "40P01": return ("conflict", message)
            case "22021", "22P05":
                // A NUL (U+0000) in an id, name or key: PostgreSQL's text cannot hold it.
                return ("unstorableText", "PostgreSQL cannot store this text (\(message)); ids, names and keys must not contain U+0000")
            default: return ("server", "\(message) (SQLSTATE \(state))")
            }
        }
        switch error.code {
        case .connectionError:
            let cause = error.underlying.map { "\($0)" } ?? "no connection"
            return ("unreachable", "cannot connect (\(cause))")
        case .serverClosedConnection, .clientClosedConnection, .uncleanShutdown:
            return ("connectionLost", "the connection was lost")
        case .poolClosed:
            return ("closed", "the store is closed")
        case .authMechanismRequiresPassword:
            return ("authentication", "the server asks for a password and the URL gives none")
        case .unsupportedAuthMechanism, .saslError:
            return ("authentication", "authentication failed (\(error.code))")
        default:
            return ("client", "\(error.code)")
        }
    }
}
