import Foundation
public import KeelCore

/// A throwaway PKI for TLS tests, made by `Tests/tls/make-test-certs.sh` (the `openssl` command
/// line) in a test's directory: a CA, a server certificate for `127.0.0.1` and `localhost` signed
/// by it, and a client certificate signed by it. Keys are P-256 and mode 0600. The other
/// languages' TLS tests use the same script.
public struct TestCertificates: Sendable {
    public let caCertificate: String
    public let serverCertificate: String
    public let serverKey: String
    public let clientCertificate: String
    public let clientKey: String

    /// Makes the files under `dir` (`tls/…`).
    /// - Throws: `KeelError(.internalError)` with the script's output when it fails.
    public init(in dir: TemporaryDirectory) throws {
        let base = dir.file("tls")
        caCertificate = base + "/ca.pem"
        serverCertificate = base + "/server.pem"
        serverKey = base + "/server.key"
        clientCertificate = base + "/client.pem"
        clientKey = base + "/client.key"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [PackagePaths.root + "/Tests/tls/make-test-certs.sh", base]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw KeelError(.internalError, "make-test-certs.sh failed (is openssl installed?): \(text)")
        }
    }
}
