import KeelCore
import KeelProtocol
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Opens a TLS connection for ``Endpoint/tls(host:port:token:options:)``: connects, completes the
/// TLS handshake, and only then hands the channel to the JSON-RPC layer, so a certificate the
/// client does not trust is reported as such rather than as a closed connection.
enum TLSConnection {
    static func connect(
        host: String, port: Int, options: TLSClientOptions, limits: RPCChannel.Limits
    ) async throws -> NIOAsyncChannel<Frame, Never> {
        let context = try options.makeContext()
        let serverHostname = options.serverName ?? (isIPAddress(host) ? nil : host)
        let (channel, handshake) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                let promise = channel.eventLoop.makePromise(of: Void.self)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: context, serverHostname: serverHostname))
                    try channel.pipeline.syncOperations.addHandler(HandshakeWaiter(promise: promise))
                }.flatMap {
                    RPCChannel.configure(channel, limits: limits)
                }.map { ($0, promise.futureResult) }
            }
        do {
            try await handshake.get()
        } catch {
            try? await channel.channel.close()
            throw KeelError(
                .connectionClosed, "TLS handshake with \(host):\(port) failed: \(describe(error))", cause: error)
        }
        return channel
    }

    /// True for an IPv4 or IPv6 literal, which cannot be sent as a TLS server name.
    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    /// BoringSSL's reason, e.g. `CERTIFICATE_VERIFY_FAILED`, without NIO's wrapping.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case let e as NIOSSLExtraError where e == .failedToValidateHostname:
            "the server's certificate does not name this host (\(e))"
        case ChannelError.eof, NIOSSLError.handshakeFailed(.sslError([.eofDuringHandshake])):
            "the server closed the connection (does it speak TLS on this port? is this address over its connection or failure limit?)"
        default: TLSReason.brief(error)
        }
    }
}

extension TLSClientOptions {
    /// The client context: the CA file or system roots, and the client certificate if any.
    /// - Throws: `KeelError(.invalidParams)` naming a file that cannot be loaded.
    func makeContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile {
            let roots = try Self.load("CA file", caFile) { try NIOSSLCertificate.fromPEMFile($0) }
            configuration.trustRoots = .certificates(roots)
        }
        switch (certificateFile, keyFile) {
        case (nil, nil): break
        case (let certificateFile?, let keyFile?):
            let chain = try Self.load("client certificate file", certificateFile) { try NIOSSLCertificate.fromPEMFile($0) }
            let key = try Self.load("client key file", keyFile) { try NIOSSLPrivateKey(file: $0, format: .pem) }
            configuration.certificateChain = chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(key)
        default:
            throw KeelError(.invalidParams, "a TLS client certificate needs both a certificate file and a key file")
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw KeelError(.invalidParams, "cannot set up TLS (does the client key match its certificate?): \(error)")
        }
    }

    private static func load<T>(_ what: String, _ path: String, _ body: (String) throws -> T) throws -> T {
        do {
            return try body(path)
        } catch NIOSSLError.noSuchFilesystemObject {
            throw KeelError(.invalidParams, "cannot read TLS \(what) \(path): no such file")
        } catch {
            throw KeelError(.invalidParams, "cannot load TLS \(what) \(path): not PEM or unreadable (\(error))")
        }
    }
}

/// Completes its promise when the TLS handshake succeeds, fails it when the handshake fails
/// or the connection ends first.
private final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let promise: EventLoopPromise<Void>
    private var done = false

    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { finish(.success(())) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(ChannelError.eof))
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<Void, any Error>) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
    }
}
