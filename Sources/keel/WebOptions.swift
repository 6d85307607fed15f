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
    static func add(
        http: String, readOnly: Bool, nextFreePortIfTaken: Bool = false, to options: inout KeelServer.Options, command: String
    ) throws {
        #if canImport(KeelWeb)
        let address: ListenAddress
        do { address = try ListenAddress(parsing: http) } catch let error as KeelError {
            FileHandle.standardError.write(Data("keel \(command): --http \(error.message)\n".utf8))
            throw ExitCode(2)
        }
        do {
            var web = WebUI.Options(address: address)
            web.readOnly = readOnly
            web.nextFreePortIfTaken = nextFreePortIfTaken
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
