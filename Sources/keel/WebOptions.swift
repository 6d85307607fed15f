import ArgumentParser
import Foundation
import KeelCore
import KeelServer
#if canImport(KeelWeb)
import KeelWeb
#endif

/// `--http` and `--http-read-only` of `keel serve` (docs/ui.md).
struct WebOptions: ParsableArguments {
    @Option(help: "Serve the web UI with /metrics, /healthz and /readyz on HOST:PORT (port 0: any free port; off loopback it needs a token; docs/ui.md).")
    var http: String?
    @Flag(help: "Web UI without actions: no signal, cancel, terminate or reset.")
    var httpReadOnly = false

    /// Adds the web UI to `options` (after the tokens are loaded: off loopback they guard it).
    func apply(to options: inout KeelServer.Options, command: String) throws {
        guard let http else { return }
        try Self.add(http: http, readOnly: httpReadOnly, to: &options, command: command)
    }

    /// Adds the web UI on `http` to `options`, or stops with a one-line error.
    static func add(http: String, readOnly: Bool, to options: inout KeelServer.Options, command: String) throws {
        #if canImport(KeelWeb)
        let address: ListenAddress
        do { address = try ListenAddress(parsing: http) } catch let error as KeelError {
            FileHandle.standardError.write(Data("keel \(command): --http \(error.message)\n".utf8))
            throw ExitCode(2)
        }
        do {
            var web = WebUI.Options(address: address)
            web.readOnly = readOnly
            web.adminToken = options.token
            web.clientToken = options.clientToken
            let ui = WebUI(options: web)
            try ui.validate()
            options.sidecars.append(ui)
        } catch let error as KeelError {
            FileHandle.standardError.write(Data("keel \(command): \(error.message)\n".utf8))
            throw ExitCode(2)
        }
        #else
        throw ValidationError("this keel was built lean (KEEL_LEAN=1): it has no web UI, so --http is not available")
        #endif
    }
}

/// The first port from `start` on 127.0.0.1 that nothing listens on (`keel dev`'s UI), or nil.
func firstFreeLoopbackPort(from start: Int, tries: Int = 20) -> Int? {
    for port in start..<(start + tries) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { return port }
    }
    return nil
}
