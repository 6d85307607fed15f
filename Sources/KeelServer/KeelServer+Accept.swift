import KeelCore
import KeelEngine
import KeelProtocol
import Logging
import NIOCore

/// The listeners' accept loop: admission (connection caps, the token-failure throttle), the
/// handshake limits, then one session per connection.
extension KeelServer {
    /// The admission shared by every listener, its global cap fitted to the descriptor limit.
    func makeAdmission() -> Admission {
        var cap = options.connections.maxConnections
        if let soft = FileDescriptorLimit.raiseToHard() {
            cap = min(cap, FileDescriptorLimit.connectionBudget(softLimit: soft))
            logger.debug("file-descriptor limit", metadata: ["soft": "\(soft)", "maxConnections": "\(cap)"])
        }
        return Admission(limits: options.connections, maxConnections: cap, clock: clock)
    }

    func accept(
        _ server: NIOAsyncChannel<AcceptedChannel, Never>, transport: String, credentials: Credentials,
        anonymous: Grant?, engine: Engine, admission: Admission
    ) async {
        do {
            try await server.executeThenClose { inbound in
                // The connections being served, by channel identity.
                let open = Locked<[ObjectIdentifier: any Channel]>([:])
                await withDiscardingTaskGroup { group in
                    do {
                        for try await child in inbound {
                            // Unix-socket peers have no address: only the global cap applies to them.
                            let peer = transport == "tcp" ? child.channel.channel.remoteAddress?.ipAddress : nil
                            if let refusal = admission.admit(peer: peer) {
                                refuse(child, refusal, peer: peer)
                                continue
                            }
                            let channel = child.channel.channel
                            open.withLock { $0[ObjectIdentifier(channel)] = channel }
                            group.addTask {
                                await self.serve(
                                    child, transport: transport, credentials: credentials, anonymous: anonymous,
                                    engine: engine, admission: admission, peer: peer)
                                admission.release(peer: peer)
                                open.withLock { $0[ObjectIdentifier(channel)] = nil }
                            }
                        }
                    } catch {
                        self.logger.error("listener failed", metadata: ["transport": "\(transport)", "error": "\(error)"])
                    }
                    // The listener closed (the server stops): so do the connections it accepted,
                    // which this group waits for. Their peers reconnect to another node or later.
                    for channel in open.withLock({ $0.values }) { channel.close(promise: nil) }
                }
            }
        } catch {
            logger.error("listener failed", metadata: ["transport": "\(transport)", "error": "\(error)"])
        }
    }

    /// Writes `refusal` as the connection's only line, then closes it; nothing is read from it.
    /// A TLS connection is closed at once: the line could only follow a TLS handshake, which a
    /// refused peer is not worth (and nothing reads from it to drive one).
    private func refuse(_ child: AcceptedChannel, _ refusal: KeelError, peer: String?) {
        logger.info(
            "connection refused",
            metadata: ["peer": "\(peer ?? "unix")", "code": "\(refusal.code.rpcCode)", "reason": "\(refusal.message)"])
        let channel = child.channel.channel
        if child.isTLS {
            channel.close(promise: nil)
            return
        }
        let line = RPCMessage.error(id: nil, error: RPCErrorObject(refusal)).line
        channel.writeAndFlush(ByteBuffer(bytes: line)).whenComplete { _ in channel.close(promise: nil) }
    }

    private func serve(
        _ child: AcceptedChannel, transport: String, credentials: Credentials, anonymous: Grant?, engine: Engine,
        admission: Admission, peer: String?
    ) async {
        let box = SessionBox()
        let handshake = Handshake(
            timeoutMs: options.connections.handshakeTimeoutMs, frameLimit: child.frameLimit,
            fullFrameBytes: options.limits.maxFrameBytes)
        let logger = self.logger
        await RPCChannel.serve(
            child.channel, limits: options.limits,
            setUp: { connection in
                let s = Session(
                    connection: connection, transport: transport, credentials: credentials, anonymous: anonymous,
                    peer: peer)
                box.set(s)
                handshake.begin(s, on: child.channel.channel.eventLoop)
                await engine.attach(s)
                return SessionHandler(engine: engine, session: s)
            },
            afterRequest: {
                guard let s = box.get() else { return false }
                handshake.check(s)
                // A failed token check: the session asked to close after its answer.
                guard s.shouldClose else { return false }
                admission.recordAuthFailure(peer: peer)
                logger.info("failed token check", metadata: ["peer": "\(peer ?? "unix")", "transport": "\(transport)"])
                return true
            },
            tearDown: { _ in
                handshake.end()
                if let s = box.get() { await engine.detach(s) }
            })
    }
}
