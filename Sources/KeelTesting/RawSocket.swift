import Dispatch
import Foundation
public import KeelCore

/// A Unix-socket client that sends raw bytes: for feeding the orchestrator bad input that no
/// well-behaved client library would produce. Its blocking calls run on their own dispatch
/// queue, never on the cooperative pool that an in-process orchestrator needs.
public final class RawSocket: @unchecked Sendable {
    // @unchecked: `pending` is touched only on `receiveQueue`; `fd` is immutable.
    private let sendQueue = DispatchQueue(label: "keel.test.rawsocket.send")
    private let receiveQueue = DispatchQueue(label: "keel.test.rawsocket.receive")
    let fd: Int32
    private var pending: [UInt8] = []

    public init(path: String) throws {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        fd = try Self.connect(family: AF_UNIX, to: addr)
    }

    /// Connects over TCP to an IPv4 address, e.g. `127.0.0.1`.
    public init(host: String, port: Int) throws {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        fd = try Self.connect(family: AF_INET, to: addr)
    }

    /// A stream socket of `family` connected to `address`, with the default receive timeout.
    private static func connect<Address>(family: Int32, to address: Address) throws -> Int32 {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        var address = address
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<Address>.size))
            }
        }
        guard rc == 0 else {
            let reason = errno
            close(fd)
            throw KeelError(.connectionClosed, "connect failed: errno \(reason)")
        }
        var tv = timeval(tv_sec: defaultReceiveTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    deinit { close(fd) }

    /// How long a read waits before it gives up: long, because an answer on busy CI cores can
    /// take tens of seconds, and a read that times out is a test failure, not a pass.
    public static let defaultReceiveTimeoutSeconds = 60

    /// Sets how long a read waits before it gives up (default ``defaultReceiveTimeoutSeconds``).
    public func setReceiveTimeout(seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    public func send(_ bytes: [UInt8]) async {
        await on(sendQueue) { self.sendBlocking(bytes) }
    }

    public func send(_ text: String) async { await send(Array(text.utf8)) }

    /// The next line as JSON, or nil on EOF/timeout.
    public func readLine() async -> JSONValue? {
        await on(receiveQueue) { self.readLineBlocking() }
    }

    /// True when the peer closed the connection (EOF) within the receive timeout.
    public func isClosedByPeer() async -> Bool {
        await on(receiveQueue) { self.isClosedBlocking() }
    }

    public func initialize() async {
        await send(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"1"}}"# + "\n")
        _ = await readLine()
    }

    private func on<T: Sendable>(_ queue: DispatchQueue, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in queue.async { c.resume(returning: body()) } }
    }

    private func sendBlocking(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    private func readLineBlocking() -> JSONValue? {
        while true {
            if let nl = pending.firstIndex(of: 0x0A) {
                let line = Array(pending[..<nl])
                pending.removeFirst(nl + 1)
                return try? JSONParser.parse(line)
            }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            // A signal (a child process of another test exiting) interrupts the wait; it is not the end.
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            pending.append(contentsOf: buffer[..<n])
        }
    }

    private func isClosedBlocking() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n == 0 { return true }
            if n < 0 { return false }
        }
    }

    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
}
