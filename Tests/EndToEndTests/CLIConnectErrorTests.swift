import Foundation
import KeelTesting
import Testing

extension EndToEnd {
    /// A CLI that cannot reach Keel says where it tried and why, in words, and never prints the
    /// token (issue 11, secrets; issue 13: `tcp(host:…, token: "t")` and `connect(descriptor:…)`).
    @Suite("keel cannot reach the orchestrator")
    struct CLIConnectErrorTests {
        @Test func aRefusedTCPConnectionNamesTheAddressAndNeverTheToken() async throws {
            let token = "never-print-this-token-7f3a"
            let (status, _, stderr) = try await keelCLI(
                ["call", "greet.hello", "{}", "--tcp", "127.0.0.1:1"], env: ["KEEL_TOKEN": token])
            #expect(status != 0)
            #expect(stderr.contains("cannot reach the orchestrator at tcp:127.0.0.1:1"), "\(stderr)")
            #expect(stderr.contains("Connection refused"), "\(stderr)")
            #expect(!stderr.contains(token), "\(stderr)")
            #expect(!stderr.contains("descriptor"), "\(stderr)")
        }

        @Test func aMissingSocketSaysSoInWords() async throws {
            let path = NSTemporaryDirectory() + "keel-absent-\(UUID().uuidString)/k.sock"
            let (status, _, stderr) = try await keelCLI(["call", "greet.hello", "{}", "--socket", path])
            #expect(status != 0)
            #expect(stderr.contains("cannot reach the orchestrator at unix:\(path)"), "\(stderr)")
            #expect(stderr.contains("No such file or directory"), "\(stderr)")
            #expect(!stderr.contains("descriptor"), "\(stderr)")
        }
    }
}
