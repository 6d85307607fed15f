import Foundation
public import KeelCore

/// Where a store lives, as `keel serve --store` spells it: `sqlite:PATH`, or
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?host=SOCKETDIR&sslmode=disable|prefer|require]`
/// (also `postgresql://`). A `host` parameter names the directory of a Unix socket, as in libpq.
public enum StoreURL: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// Parses `text`; a bad URL is a one-line `invalidParams` error that names what is wrong.
    public init(parsing text: String) throws {
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw Self.invalid(text, "sqlite: needs a file path, as in sqlite:keel.db") }
            self = .sqlite(path: path)
            return
        }
        for scheme in ["postgres://", "postgresql://"] where text.hasPrefix(scheme) {
            self = .postgres(try PostgresLocation(parsing: String(text.dropFirst(scheme.count)), original: text))
            return
        }
        throw Self.invalid(text, "expected sqlite:PATH or postgres://USER@HOST:PORT/DATABASE")
    }

    static func invalid(_ text: String, _ reason: String) -> KeelError {
        KeelError(.invalidParams, "invalid store URL \(StoreURL.redacted(text)): \(reason)")
    }

    /// `text` with any password replaced by `***`, for messages and logs.
    public static func redacted(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://"), let at = text[schemeEnd.upperBound...].firstIndex(of: "@") else {
            return text
        }
        let userInfo = text[schemeEnd.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}

/// A PostgreSQL server, database and role.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The socket file `DIRECTORY/.s.PGSQL.PORT`.
        case unixSocket(directory: String, port: Int)
    }

    public enum TLSMode: String, Sendable, Equatable {
        case disable, prefer, require
    }

    public var endpoint: Endpoint
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public var socketPath: String? {
        if case .unixSocket(let directory, let port) = endpoint { return "\(directory)/.s.PGSQL.\(port)" }
        return nil
    }

    /// The URL without its password.
    public var description: String {
        switch endpoint {
        case .tcp(let host, let port): "postgres://\(user)@\(host):\(port)/\(database)"
        case .unixSocket(let directory, let port): "postgres://\(user)@localhost:\(port)/\(database)?host=\(directory)"
        }
    }

    init(parsing rest: String, original: String) throws {
        var rest = Substring(rest)
        var query: [String: String] = [:]
        if let mark = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw StoreURL.invalid(original, "query parameter '\(pair)' has no value") }
                query[String(parts[0])] = try Self.percentDecoded(parts[1], original)
            }
            rest = rest[..<mark]
        }
        guard let at = rest.lastIndex(of: "@") else {
            throw StoreURL.invalid(original, "it names no user (postgres://USER@HOST/DATABASE)")
        }
        let userInfo = rest[..<at]
        if let colon = userInfo.firstIndex(of: ":") {
            user = try Self.percentDecoded(userInfo[..<colon], original)
            password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...], original)
        } else {
            user = try Self.percentDecoded(userInfo, original)
            password = nil
        }
        guard !user.isEmpty else { throw StoreURL.invalid(original, "the user is empty") }
        let afterAt = rest[rest.index(after: at)...]
        guard let slash = afterAt.firstIndex(of: "/") else {
            throw StoreURL.invalid(original, "it names no database (postgres://USER@HOST/DATABASE)")
        }
        database = try Self.percentDecoded(afterAt[afterAt.index(after: slash)...], original)
        guard !database.isEmpty else { throw StoreURL.invalid(original, "the database name is empty") }
        let hostPort = afterAt[..<slash]
        var host = String(hostPort)
        var port = 5432
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            guard let parsed = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(parsed) else {
                throw StoreURL.invalid(original, "the port '\(hostPort[hostPort.index(after: colon)...])' is not 1-65535")
            }
            port = parsed
            host = String(hostPort[..<colon])
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let socketDirectory = query.removeValue(forKey: "host") {
            guard socketDirectory.hasPrefix("/") else {
                throw StoreURL.invalid(original, "host= must be an absolute socket directory")
            }
            endpoint = .unixSocket(directory: socketDirectory, port: port)
        } else {
            guard !host.isEmpty else { throw StoreURL.invalid(original, "the host is empty") }
            endpoint = .tcp(host: host, port: port)
        }
        let mode = query.removeValue(forKey: "sslmode") ?? "prefer"
        guard let tls = TLSMode(rawValue: mode) else {
            throw StoreURL.invalid(original, "sslmode '\(mode)' is not disable, prefer or require")
        }
        self.tls = tls
        if let unknown = query.keys.sorted().first {
            throw StoreURL.invalid(original, "unknown parameter '\(unknown)' (known: host, sslmode)")
        }
    }

    private static func percentDecoded(_ text: Substring, _ original: String) throws -> String {
        var bytes: [UInt8] = []
        var i = text.utf8.startIndex
        let utf8 = text.utf8
        while i < utf8.endIndex {
            if utf8[i] == UInt8(ascii: "%") {
                let h = utf8.index(after: i)
                guard h < utf8.endIndex, utf8.index(after: h) < utf8.endIndex,
                    let byte = UInt8(String(decoding: utf8[h...utf8.index(after: h)], as: UTF8.self), radix: 16)
                else { throw StoreURL.invalid(original, "a bad percent escape") }
                bytes.append(byte)
                i = utf8.index(h, offsetBy: 2)
            } else {
                bytes.append(utf8[i])
                i = utf8.index(after: i)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
