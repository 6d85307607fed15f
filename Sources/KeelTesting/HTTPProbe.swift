import Dispatch
import Foundation
public import KeelCore

/// A minimal HTTP/1.1 client over a real TCP socket, for tests of the metrics listener: one
/// request with `Connection: close`, read to EOF. Blocking calls run on their own queue.
public enum HTTPProbe {
    /// A parsed response.
    public struct Response: Sendable {
        public var status: Int
        /// Header names lowercased.
        public var headers: [String: String]
        public var body: String
    }

    /// Sends `method path` to `host:port` (IPv4) and returns the response.
    /// - Throws: `KeelError(.connectionClosed)` when the connection fails or the answer is not HTTP.
    public static func request(_ method: String, _ path: String, host: String = "127.0.0.1", port: Int) async throws
        -> Response
    {
        try await send("\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n\r\n", host: host, port: port)
    }

    /// Sends `text` as is (a malformed request, say) and parses what comes back before EOF.
    public static func send(_ text: String, host: String = "127.0.0.1", port: Int) async throws -> Response {
        let socket = try RawSocket(host: host, port: port)
        await socket.send(text)
        let bytes = await withCheckedContinuation { c in
            DispatchQueue(label: "keel.test.http").async { c.resume(returning: readToEnd(socket.fd)) }
        }
        return try parse(bytes)
    }

    /// Sends `GET path` and reads until the text so far contains `marker` (a server-sent event,
    /// say), EOF, or the socket's receive timeout (60 s). Returns everything read.
    public static func read(_ path: String, until marker: String, host: String = "127.0.0.1", port: Int) async throws -> String {
        let socket = try RawSocket(host: host, port: port)
        await socket.send("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n\r\n")
        let bytes = await withCheckedContinuation { c in
            DispatchQueue(label: "keel.test.http").async { c.resume(returning: readUntil(socket.fd, marker: Array(marker.utf8))) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads until `marker` has arrived (an empty marker: until the peer closes).
    private static func readUntil(_ fd: Int32, marker: [UInt8]) -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return all }
            all.append(contentsOf: buffer[..<n])
            if !marker.isEmpty, all.count >= marker.count, (0...(all.count - marker.count)).contains(where: { all[$0..<($0 + marker.count)].elementsEqual(marker) }) {
                return all
            }
        }
    }

    /// Everything until the peer closes.
    private static func readToEnd(_ fd: Int32) -> [UInt8] { readUntil(fd, marker: []) }

    static func parse(_ bytes: [UInt8]) throws -> Response {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else {
            throw KeelError(.connectionClosed, "not an HTTP response: \(text.prefix(200))")
        }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw KeelError(.connectionClosed, "not an HTTP status line: \(lines[0])")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(status: status, headers: headers, body: String(text[split.upperBound...]))
    }
}
