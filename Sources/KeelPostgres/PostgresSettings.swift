import KeelStorage
import NIOSSL
import PostgresNIO

/// One ``PostgresLocation`` as postgres-nio's two configurations (a single connection, the pool),
/// with the session settings every Keel connection carries.
struct PostgresSettings {
    let location: PostgresLocation

    init(_ location: PostgresLocation) {
        self.location = location
    }

    /// Sent in the startup packet, so they hold from the first statement on.
    var startupParameters: [(String, String)] {
        [
            ("application_name", "keel"),
            ("idle_in_transaction_session_timeout", String(PostgresStore.idleInTransactionTimeoutMillis)),
        ]
    }

    func connection() throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch location.endpoint {
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS =
                switch location.tls {
                case .disable: .disable
                case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            configuration = .init(
                host: host, port: port, username: location.user, password: location.password,
                database: location.database, tls: tls)
        case .unixSocket:
            configuration = .init(
                unixSocketPath: location.socketPath ?? "", username: location.user, password: location.password,
                database: location.database)
        }
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    func pool(maximumConnections: Int) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch location.endpoint {
        case .tcp(let host, let port):
            let tls: PostgresClient.Configuration.TLS =
                switch location.tls {
                case .disable: .disable
                case .prefer: .prefer(.makeClientConfiguration())
                case .require: .require(.makeClientConfiguration())
                }
            configuration = .init(
                host: host, port: port, username: location.user, password: location.password,
                database: location.database, tls: tls)
        case .unixSocket:
            configuration = .init(
                unixSocketPath: location.socketPath ?? "", username: location.user, password: location.password,
                database: location.database)
        }
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }
}
