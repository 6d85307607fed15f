import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
/// Issue 10, item 4 against the real binary: descriptor exhaustion and memory before `initialize`.
@Suite("Connection limits of the keel binary", .serialized, .timeLimit(.minutes(4)))
struct ConnectionLimitTests {
    /// Starts `keel serve` through bash so the test can lower its limits first.
    func startKeel(_ dir: TemporaryDirectory, shellPrefix: String = "", flags: [String] = []) async throws -> ChildProcess {
        let argv = [PackagePaths.keelBinary, "serve", "--db", dir.file("keel.db"), "--socket", dir.file("k.sock")] + flags
        let command = shellPrefix + "exec " + argv.map { "'\($0)'" }.joined(separator: " ")
        let process = try ChildProcess(["/bin/bash", "-c", command], logPath: dir.file("keel.log"))
        let up = try await eventually(timeout: .seconds(30)) {
            (try? await KeelClient.withClient(.unixSocket(path: dir.file("k.sock"))) { try await $0.call("ping") }) != nil
        }
        if !up { throw KeelError(.internalError, "keel did not start: \(process.log)") }
        return process
    }

    @Test func connectionsBeyondTheDescriptorLimitAreRefusedAndTheProcessKeepsServing() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = try await startKeel(dir, shellPrefix: "ulimit -n 64; ", flags: ["--handshake-timeout", "300"])
            defer { keel.kill9() }
            var held: [RawSocket] = []
            var admitted = 0, refused = 0
            for _ in 0..<100 {
                guard let raw = try? RawSocket(path: dir.file("k.sock")) else { continue }
                held.append(raw)
                await raw.send(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"# + "\n")
                let answer = await raw.readLine()
                if answer?["result"] != nil { admitted += 1 }
                if answer?["error"]?["code"] == -32009 { refused += 1 }
            }
            #expect(admitted >= 1 && admitted < 64, "admitted \(admitted)")
            #expect(refused >= 1, "refused \(refused)")
            #expect(kill(keel.pid, 0) == 0, "keel died: \(keel.log)")
            held.removeAll()
            let served = try await eventually(timeout: .seconds(30)) {
                (try? await KeelClient.withClient(.unixSocket(path: dir.file("k.sock"))) { try await $0.call("ping") }) != nil
            }
            #expect(served, "\(keel.log)")
        }
    }

    /// `--max-requests-per-connection 2`: two waiting `activity/call`s (no worker serves the
    /// name, so each waits out its `waitTimeoutMs`) take both slots, and a third request on the
    /// same connection is read only once one of them is answered. Another connection is served
    /// meanwhile.
    @Test func requestsPastTheConnectionsLimitWaitUnread() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = try await startKeel(dir, flags: ["--max-requests-per-connection", "2"])
            defer { keel.kill9() }
            let raw = try RawSocket(path: dir.file("k.sock"))
            await raw.send(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"1"}}"# + "\n")
            #expect(await raw.readLine()?["result"] != nil)
            let sent = ContinuousClock.now
            for id in 1...2 {
                await raw.send(
                    #"{"jsonrpc":"2.0","id":\#(id),"method":"activity/call","params":{"name":"nobody.serves","input":{},"waitTimeoutMs":2000}}"#
                        + "\n")
            }
            await raw.send(#"{"jsonrpc":"2.0","id":3,"method":"ping","params":{}}"# + "\n")
            let other = try await KeelClient.withClient(.unixSocket(path: dir.file("k.sock"))) { try await $0.call("ping") }
            #expect(other == [:], "another connection is served while this one's slots are taken")
            var answered: [JSONValue] = []
            while answered.count < 3, let line = await raw.readLine() { answered.append(line["id"] ?? .null) }
            let pingAnswered = ContinuousClock.now - sent
            #expect(answered.first != 3 && answered.contains(3), "the ping is answered after a waiting call: \(answered)")
            #expect(pingAnswered >= .milliseconds(1900), "the ping was read before a slot was free (\(pingAnswered))")
        }
    }

    @Test func unauthenticatedPeersCannotMakeTheOrchestratorHoldTheirBytes() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = try await startKeel(dir, flags: [
                "--tcp", "127.0.0.1:0", "--token", "s3cret-token-for-tests", "--max-connections-per-peer", "200", "--handshake-timeout", "300",
                "--log-level", "debug",
            ])
            defer { keel.kill9() }
            let port = try tcpPort(keel)
            let baseline = peakRSSKiB(keel.pid)

            // An 8 MB batch of invalid items before initialize: refused as one oversized line.
            let raw = try RawSocket(host: "127.0.0.1", port: port)
            raw.setReceiveTimeout(seconds: 60)
            await raw.send("[" + Array(repeating: "1", count: 4_000_000).joined(separator: ",") + "]\n")
            let refused = await raw.readLine()
            #expect(refused?["error"]?["code"] == -32002, "\(String(describing: refused))")
            let afterBatch = peakRSSKiB(keel.pid)

            // 100 connections, each 1 MiB into a line that never ends, none initialized.
            var held: [RawSocket] = []
            let chunk = [UInt8](repeating: 0x61, count: 1 << 20)
            for _ in 0..<100 {
                let c = try RawSocket(host: "127.0.0.1", port: port)
                await c.send(chunk)
                held.append(c)
            }
            held[99].setReceiveTimeout(seconds: 60)
            await held[99].send("\n")
            let answer = await held[99].readLine()
            #expect(answer?["error"]?["code"] == -32002, "\(String(describing: answer)): \(keel.log)")
            let afterLines = peakRSSKiB(keel.pid)
            print("keel peak RSS KiB: baseline \(baseline), after 8 MB batch \(afterBatch), after 100 unfinished lines \(afterLines)")
            #expect(afterBatch - baseline < 64 * 1024, "an 8 MB invalid batch raised the peak by \(afterBatch - baseline) KiB")
            #expect(afterLines - baseline < 64 * 1024, "100 unfinished lines raised the peak by \(afterLines - baseline) KiB")
            #expect(!keel.log.contains("s3cret-token-for-tests"))
        }
    }

    /// The TCP port from the "keel is serving" log line.
    func tcpPort(_ keel: ChildProcess) throws -> Int {
        guard let range = keel.log.range(of: #"tcp=(\d+)"#, options: .regularExpression),
            let port = Int(keel.log[range].dropFirst(4))
        else { throw KeelError(.internalError, "no tcp port in the log: \(keel.log)") }
        return port
    }

    /// The process's peak resident set (VmHWM) in KiB.
    func peakRSSKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
}
