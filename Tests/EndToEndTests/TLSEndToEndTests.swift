import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// Issue 11, item 5 against the real binary: `keel serve --tls-*` and the CLI's `--tls-*` options.
    @Suite("TLS with the real binary", .serialized, .timeLimit(.minutes(3)))
    struct TLSEndToEndTests {
        static let token = "e2e-tls-token-0123456789abcdef"

        @Test func theCLIReachesATLSListenerWithTheCAFileAndFailsWithoutIt() async throws {
            try await TemporaryDirectory.with { dir in
                let certs = try TestCertificates(in: dir)
                let tokenFile = dir.file("admin.token")
                FileManager.default.createFile(atPath: tokenFile, contents: Data(Self.token.utf8))
                chmod(tokenFile, 0o600)
                let keel = try ChildProcess(
                    [PackagePaths.keelBinary, "serve", "--db", dir.file("keel.db"), "--socket", dir.file("k.sock"),
                     "--tcp", "127.0.0.1:0", "--token-file", tokenFile, "--tls-cert", certs.serverCertificate,
                     "--tls-key", certs.serverKey],
                    logPath: dir.file("keel.log"))
                defer { keel.terminate() }
                let up = try await eventually(timeout: .seconds(30)) { keel.log.contains("keel is serving") }
                #expect(up, "\(keel.log)")
                let port = try Self.tcpPort(keel)
                let tcp = ["--tcp", "127.0.0.1:\(port)", "--token-file", tokenFile]
                let (status, out, err) = try await keelCLI(["workers", "--json"] + tcp + ["--tls-ca", certs.caCertificate])
                #expect(status == 0, "\(out)\(err)\n\(keel.log)")
                #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "\(out)")
                // --tls alone uses the system trust store, which does not hold the test's CA.
                let (untrusted, _, untrustedErr) = try await keelCLI(["workers"] + tcp + ["--tls"])
                #expect(untrusted != 0)
                #expect(untrustedErr.contains("TLS handshake"), "\(untrustedErr)")
                // Clear text to the TLS port gets no answer; the failure is logged with the peer.
                let (plain, _, _) = try await keelCLI(["workers"] + tcp)
                #expect(plain != 0)
                let logged = try await eventually(timeout: .seconds(30)) { keel.log.contains("TLS handshake failed") }
                #expect(logged, "\(keel.log)")
                #expect(keel.log.contains("tls=on"), "the start-up line says TLS is on")
                #expect(!keel.log.contains(Self.token))
                #expect(keel.isRunning)
            }
        }

        @Test func badTLSFilesOrFlagsRefuseStartWithExitStatus1() async throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let certs = try TestCertificates(in: dir)
            let tokenFile = dir.file("admin.token")
            FileManager.default.createFile(atPath: tokenFile, contents: Data(Self.token.utf8))
            chmod(tokenFile, 0o600)
            let openKey = dir.file("open.key")
            try FileManager.default.copyItem(atPath: certs.serverKey, toPath: openKey)
            chmod(openKey, 0o644)
            let base = ["serve", "--db", dir.file("keel.db"), "--socket", dir.file("k.sock"), "--tcp", "127.0.0.1:0",
                        "--token-file", tokenFile]
            for (flags, expected) in [
                (["--tls-cert", dir.file("nope.pem"), "--tls-key", certs.serverKey], "nope.pem"),
                (["--tls-cert", certs.serverCertificate, "--tls-key", certs.caCertificate], "key"),
                (["--tls-cert", certs.serverCertificate, "--tls-key", openKey], "chmod 600"),
            ] {
                let (status, _, stderr) = try await keelCLI(base + flags)
                #expect(status == 1, "\(flags): \(stderr)")
                #expect(stderr.contains(expected), "\(stderr)")
                #expect(!stderr.contains("Fatal error"))
            }
            let (status, _, stderr) = try await keelCLI(base + ["--tls-cert", certs.serverCertificate])
            #expect(status != 0)
            #expect(stderr.contains("--tls-key"), "\(stderr)")
        }

        /// The TCP port from the "keel is serving" log line.
        static func tcpPort(_ keel: ChildProcess) throws -> Int {
            guard let range = keel.log.range(of: #"tcp=(\d+)"#, options: .regularExpression),
                let port = Int(keel.log[range].dropFirst(4))
            else { throw KeelError(.internalError, "no tcp port in the log: \(keel.log)") }
            return port
        }
    }
}
