import Foundation
public import KeelCore

/// A throwaway PKI for TLS tests, made with the `openssl` command line in a test's directory:
/// a CA, a server certificate for `127.0.0.1` and `localhost` signed by it, and a client
/// certificate signed by it. Keys are P-256 (fast to make) and mode 0600.
public struct TestCertificates: Sendable {
    public let caCertificate: String
    public let serverCertificate: String
    public let serverKey: String
    public let clientCertificate: String
    public let clientKey: String

    /// Makes the files under `dir` (`tls/…`).
    /// - Throws: `KeelError(.internalError)` with openssl's output when a step fails.
    public init(in dir: TemporaryDirectory) throws {
        let base = dir.file("tls")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        func path(_ name: String) -> String { "\(base)/\(name)" }
        caCertificate = path("ca.pem")
        serverCertificate = path("server.pem")
        serverKey = path("server.key")
        clientCertificate = path("client.pem")
        clientKey = path("client.key")
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(
            ["req", "-x509"] + ec + [
                "-keyout", path("ca.key"), "-out", caCertificate, "-days", "30", "-subj", "/CN=Keel Test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        for (name, usage, san) in [
            ("server", "serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost"), ("client", "clientAuth", nil),
        ] {
            try Self.openssl(["req"] + ec + ["-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=keel-\(name)"])
            let ext = ["basicConstraints=CA:FALSE", "extendedKeyUsage=\(usage)", san].compactMap { $0 }.joined(separator: "\n")
            try Data((ext + "\n").utf8).write(to: URL(fileURLWithPath: path("\(name).ext")))
            try Self.openssl([
                "x509", "-req", "-in", path("\(name).csr"), "-CA", caCertificate, "-CAkey", path("ca.key"),
                "-CAcreateserial", "-out", path("\(name).pem"), "-days", "30", "-extfile", path("\(name).ext"),
            ])
            chmod(path("\(name).key"), 0o600)
        }
    }

    private static func openssl(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["openssl"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw KeelError(.internalError, "openssl \(args.first ?? "") failed: \(text)")
        }
    }
}
