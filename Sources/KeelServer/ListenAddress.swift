public import KeelCore

/// A `HOST:PORT` (or `[IPv6]:PORT`) listen address as `--metrics-listen` takes it.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    /// 0 asks the kernel for a free port; the bound one is logged and in ``KeelServer/Endpoints``.
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `text`. - Throws: `KeelError(.invalidParams)` saying what is wrong with it.
    public init(parsing text: String) throws {
        let bad = { (why: String) in KeelError(.invalidParams, "\"\(text)\" is not HOST:PORT: \(why)") }
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw bad("an IPv6 host is written [::1]:9464")
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw bad("the port is missing") }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            if host.contains(":") { throw bad("an IPv6 host is written [::1]:9464") }
        }
        guard !host.isEmpty else { throw bad("the host is missing (use 127.0.0.1 or 0.0.0.0)") }
        guard let number = Int(port), (0...65_535).contains(number) else { throw bad("the port must be 0 to 65535") }
        self.init(host: String(host), port: number)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
