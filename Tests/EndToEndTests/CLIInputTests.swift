import Foundation
import Testing

extension EndToEnd {
    /// Issue 10, item 7: `keel call NAME -` takes stdin's bytes as they are.
    @Suite("keel call input from stdin", .timeLimit(.minutes(3)))
    struct CLIInputTests {
        @Test func invalidUTF8OnStdinIsRefusedNotReplaced() async throws {
            // "\xff" inside a JSON string: decoding stdin to a String first turned it into U+FFFD
            // and sent it on; nothing listens on this socket, so a refusal must come before any connect.
            let (status, out, err) = try await keelCLI(
                ["call", "x.y", "-", "--socket", "/tmp/keel-no-such-socket"], stdin: [0x22, 0xFF, 0x22])
            #expect(status == 2, "stdout: \(out) stderr: \(err)")
            #expect(err.contains("invalid UTF-8"))
        }

        @Test(arguments: ["1e300s", "9999999999999999999d", "infs"])
        func aDurationThatDoesNotFitIsRefusedNotATrap(_ duration: String) async throws {
            let (status, _, err) = try await keelCLI(
                ["call", "x.y", "1", "--start-to-close", duration, "--socket", "/tmp/keel-no-such-socket"])
            #expect(status != 0)
            #expect(err.contains("is not a duration"), "\(duration): \(err)")
        }
    }
}
