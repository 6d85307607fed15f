import Foundation
import Glibc
import KeelCore

/// The round-trip floor of `keel bench`: JSON-RPC requests from the bench process to a worker-language
/// process over a real Unix socket, one after another, each answered by that language's client
/// library (its framing and connection layers, as `activity/execute` is). The bench listens; the
/// peer (examples/bench/worker.py or go-worker with `KEEL_BENCH_ECHO_SOCKET` set) connects and
/// answers `bench/echo` with its params. The bench side is blocking POSIX I/O, so the figure is
/// what the socket and the worker's runtime cost, without any orchestrator hop.
final class BenchEcho {
    /// How long the peer may take to connect (a Go build is done before it starts).
    static let acceptTimeoutMs: Int32 = 15_000
    /// How long one answer may take before the floor measurement gives up.
    static let answerTimeoutMs: Int32 = 5_000

    private let listener: Int32
    private var connection: Int32 = -1
    let path: String

    /// Binds and listens on `path` (under ~100 bytes, STYLE.md §8).
    init(path: String) throws {
        self.path = path
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw Self.failure("socket") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(listener)
            throw KeelError(.invalidParams, "bench echo socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 1) == 0 else {
            close(listener)
            throw Self.failure("bind \(path)")
        }
    }

    deinit {
        if connection >= 0 { close(connection) }
        close(listener)
        unlink(path)
    }

    /// Waits up to ``acceptTimeoutMs`` for the peer to connect.
    func accept() throws {
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Self.acceptTimeoutMs) == 1 else {
            throw KeelError(.internalError, "the bench echo peer did not connect within \(Self.acceptTimeoutMs) ms")
        }
        connection = Glibc.accept(listener, nil, nil)
        guard connection >= 0 else { throw Self.failure("accept") }
    }

    /// Sends `count` `bench/echo` requests carrying `payload`, one after another, each after the
    /// previous answer; returns each round trip in milliseconds.
    /// - Throws: when the peer closes, answers late (``answerTimeoutMs``) or answers something else.
    func roundTrips(count: Int, payload: JSONValue, firstID: Int) throws -> [Double] {
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let clock = ContinuousClock()
        for i in 0..<count {
            let id = firstID + i
            let request = JSONWriter.bytes(["jsonrpc": "2.0", "id": JSONValue(id), "method": "bench/echo", "params": payload]) + [10]
            let start = clock.now
            try send(request)
            let line = try readLine(&pending, buffer: &buffer)
            let (seconds, attoseconds) = (clock.now - start).components
            latencies.append(Double(seconds) * 1000 + Double(attoseconds) / 1e15)
            let answer = try JSONParser.parse(line)
            guard answer["id"]?.int64Value == Int64(id), answer["result"] == payload else {
                throw KeelError(.internalError, "the bench echo peer answered \(answer)")
            }
        }
        return latencies
    }

    private func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
            guard n > 0 else { throw Self.failure("write") }
            sent += n
        }
    }

    /// The next line from the peer, without its newline; bytes after it stay in `pending`.
    private func readLine(_ pending: inout [UInt8], buffer: inout [UInt8]) throws -> [UInt8] {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                return line
            }
            var poller = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Self.answerTimeoutMs) == 1 else {
                throw KeelError(.internalError, "the bench echo peer did not answer within \(Self.answerTimeoutMs) ms")
            }
            let n = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
            guard n > 0 else { throw KeelError(.connectionClosed, "the bench echo peer closed its connection") }
            pending += buffer[..<n]
        }
    }

    private static func failure(_ what: String) -> KeelError {
        KeelError(.internalError, "bench echo socket: \(what) failed: \(String(cString: strerror(errno)))")
    }
}
