import KeelCore
import KeelProtocol

/// One running MCP server after the handshake, in the era it speaks.
///
/// Era negotiation (docs/mcp.md, "Protocol revisions"): in `.auto` the bridge probes
/// `server/discover` (2026-07-28) first; a result that lists 2026-07-28 makes the session modern
/// (no `initialize`; every request carries the protocol version, client info and capabilities in
/// `_meta`). Any error answer falls back to `initialize` on the same connection; a server that
/// exits or stays silent on the probe is started again and spoken to with `initialize` alone.
final class ServerSession: Sendable {
    /// Which revisions the bridge tries.
    enum Mode: String, Sendable, CaseIterable {
        /// `server/discover`, falling back to `initialize`.
        case auto
        /// `initialize` only (2024-11-05 … 2025-11-25).
        case legacy
    }

    let link: ServerLink
    /// The revision in use: the one `initialize` answered, or ``ProtocolVersion/modern``.
    let protocolVersion: String
    /// The `_meta` every request carries in the modern era (nil in the legacy one).
    let stamp: JSONValue?

    var process: ServerProcess { link.process }
    var connection: RPCConnection { link.connection }

    private init(link: ServerLink, protocolVersion: String, stamp: JSONValue?) {
        self.link = link
        self.protocolVersion = protocolVersion
        self.stamp = stamp
    }

    static let clientInfo: JSONValue = ["name": "keel", "version": "0.1.0"]

    /// Starts `argv` and runs the handshake of `mode`.
    /// - Throws: `KeelError(.unsupportedProtocolVersion)` for a revision Keel does not speak,
    ///   `.requestTimedOut` when the server does not answer within `handshakeTimeout`, or its error.
    static func start(
        argv: [String], mode: Mode, handshakeTimeout: Duration, onToolsChanged: @escaping @Sendable () -> Void
    ) async throws -> ServerSession {
        let handler = ServerRequests(onToolsChanged: onToolsChanged)
        var link = try await ServerLink.open(argv: argv, handler: handler)
        if mode == .auto {
            switch await probe(link, timeout: min(handshakeTimeout, .seconds(10))) {
            case .modern(let stamp):
                return ServerSession(link: link, protocolVersion: ProtocolVersion.modern, stamp: stamp)
            case .legacy:
                break
            case .gone:
                Log.write("the MCP server \(argv[0]) exited or stayed silent on server/discover; starting it again for initialize")
                await link.close()
                link = try await ServerLink.open(argv: argv, handler: handler)
            }
        }
        do {
            let version = try await initialize(link, timeout: handshakeTimeout)
            return ServerSession(link: link, protocolVersion: version, stamp: nil)
        } catch {
            await link.close()
            throw error
        }
    }

    private enum Probe {
        case modern(stamp: JSONValue)
        case legacy
        case gone
    }

    /// `server/discover` at the modern revision: modern when the answer lists it, legacy on any
    /// error answer (or an answer without it), gone when the server exited or did not answer.
    private static func probe(_ link: ServerLink, timeout: Duration) async -> Probe {
        let stamp: JSONValue = [
            "io.modelcontextprotocol/protocolVersion": .string(ProtocolVersion.modern),
            "io.modelcontextprotocol/clientInfo": clientInfo,
            "io.modelcontextprotocol/clientCapabilities": [:],
        ]
        do {
            let answer = try await Deadline.run(timeout, what: "the MCP server's answer to server/discover") {
                try await link.connection.call("server/discover", params: ["_meta": stamp])
            }
            let versions = answer["supportedVersions"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return versions.contains(ProtocolVersion.modern) ? .modern(stamp: stamp) : .legacy
        } catch let error as KeelError where error.code == .connectionClosed || error.code == .requestTimedOut {
            return .gone
        } catch {
            return link.isClosed ? .gone : .legacy
        }
    }

    /// `initialize` asking for ``ProtocolVersion/latest``, then `notifications/initialized`.
    private static func initialize(_ link: ServerLink, timeout: Duration) async throws -> String {
        let answer = try await Deadline.run(timeout, what: "the MCP server's answer to initialize") {
            try await link.connection.call(
                "initialize",
                params: [
                    "protocolVersion": .string(ProtocolVersion.latest), "capabilities": ["roots": ["listChanged": false]],
                    "clientInfo": clientInfo,
                ])
        }
        let version = answer["protocolVersion"]?.stringValue ?? ""
        guard ProtocolVersion.supported.contains(version) else {
            throw KeelError(
                .unsupportedProtocolVersion,
                "the MCP server answered protocol revision \"\(version)\"; Keel speaks \(ProtocolVersion.supported.joined(separator: ", "))")
        }
        link.connection.notify("notifications/initialized", params: [:])
        return version
    }

    /// `params` with the modern era's `_meta` merged in (unchanged in the legacy era).
    func stamped(_ params: JSONValue) -> JSONValue {
        guard let stamp = stamp?.objectValue, case .object(var object) = params else { return params }
        var meta = object["_meta"]?.objectValue ?? JSONObject()
        for (key, value) in stamp.dictionary { meta[key] = value }
        object["_meta"] = .object(meta)
        return .object(object)
    }

    /// Every tool, following `nextCursor` (at most `maxPages` pages).
    func listTools(timeout: Duration, maxPages: Int = 100) async throws -> [Tool] {
        var tools: [Tool] = []
        var cursor: String?
        for _ in 0..<maxPages {
            let params = stamped(cursor.map { ["cursor": .string($0)] } ?? [:])
            let page = try await Deadline.run(timeout, what: "the MCP server's answer to tools/list") {
                try await self.connection.call("tools/list", params: params)
            }
            tools += try (page["tools"]?.arrayValue ?? []).map(Tool.init(json:))
            guard let next = page["nextCursor"]?.stringValue, !next.isEmpty else { return tools }
            cursor = next
        }
        throw KeelError(.internalError, "the MCP server's tools/list did not end after \(maxPages) pages")
    }

    /// How one `tools/call` ended.
    enum CallEnd: Sendable {
        case answered(JSONValue)
        case failed(KeelError)
        case timedOut
        case cancelled
    }

    /// Calls `tool`, waiting at most `timeout`; polls `isCancelled` meanwhile. On a timeout or a
    /// cancel the request is abandoned and the server sent `notifications/cancelled`.
    func callTool(
        _ tool: String, arguments: JSONValue, meta: JSONValue, timeout: Duration, isCancelled: @escaping @Sendable () -> Bool
    ) async -> CallEnd {
        let id = connection.makeRequestID()
        let params = stamped(["name": .string(tool), "arguments": arguments, "_meta": meta])
        let connection = self.connection
        return await withTaskGroup(of: CallEnd.self) { group in
            group.addTask {
                do {
                    return .answered(try await connection.call("tools/call", params: params, id: id))
                } catch let error as KeelError {
                    return .failed(error)
                } catch {
                    return .failed(KeelError(.internalError, "\(error)", cause: error))
                }
            }
            group.addTask {
                let deadline = ContinuousClock.now + timeout
                while ContinuousClock.now < deadline {
                    if isCancelled() { return .cancelled }
                    do { try await Task.sleep(for: .milliseconds(50)) } catch { return .cancelled }
                }
                return .timedOut
            }
            let first = await group.next() ?? .cancelled
            switch first {
            case .timedOut, .cancelled:
                connection.abandon(id, with: CancellationError())
                let reason = if case .timedOut = first { "the activity's start-to-close timeout passed" } else { "cancelled by Keel" }
                connection.notify("notifications/cancelled", params: stamped(["requestId": id.json, "reason": .string(reason)]))
            default:
                break
            }
            group.cancelAll()
            return first
        }
    }

    /// True once the server closed its stdout (exited or crashed).
    var isClosed: Bool { link.isClosed }

    /// Ends the session: kills the server's process group and reaps it.
    func close() async { await link.close() }
}
