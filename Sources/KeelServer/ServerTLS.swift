public import KeelEngine
import KeelCore
import KeelProtocol
import NIOSSL

/// TLS on the TCP listener (`keel serve --tls-cert --tls-key [--tls-client-ca] [--tls-client-role]`,
/// docs/security.md "TLS").
public struct ServerTLSOptions: Sendable {
    /// PEM file with the server certificate, followed by any intermediates.
    public var certificateFile: String
    /// PEM file with the server's private key; must be owner-only (mode 0600 or stricter).
    public var keyFile: String
    /// PEM file of CA certificates: when set, every TCP peer must present a client certificate
    /// signed by one of them, or its TLS handshake fails.
    public var clientCAFile: String?
    /// The role a peer with a verified client certificate gets when it sends no token; nil: the
    /// certificate is only a gate and the token still decides the role. Needs ``clientCAFile``.
    public var clientRole: Role?

    public init(certificateFile: String, keyFile: String, clientCAFile: String? = nil, clientRole: Role? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
        self.clientRole = clientRole
    }

    /// The grant of a peer with a verified client certificate and no token, for ``Session``'s
    /// `anonymous`; nil when certificates grant nothing by themselves.
    func clientCertificateGrant(workerNames: NameAllowList) -> Grant? {
        guard clientCAFile != nil, let clientRole else { return nil }
        switch clientRole {
        case .admin: return .admin("tls-client-cert")
        case .worker: return Grant(roles: [.worker, .client], workerNames: workerNames, identity: "tls-client-cert")
        case .client: return Grant(roles: [.client], identity: "tls-client-cert")
        }
    }

    /// Loads the files and builds the server context.
    /// - Throws: `KeelError(.invalidParams)` naming the file when one is missing, unreadable, not
    ///   PEM, the key is readable by others or does not match the certificate. Never the key's content.
    func makeContext() throws -> NIOSSLContext {
        if clientRole != nil && clientCAFile == nil {
            throw KeelError(.invalidParams, "--tls-client-role needs --tls-client-ca: only a verified client certificate may stand in for a token")
        }
        // A missing file is named as such (BoringSSL would only say "not PEM").
        let files = [(certificateFile, "TLS certificate file"), (keyFile, "TLS key file")]
            + (clientCAFile.map { [($0, "TLS client CA file")] } ?? [])
        for (file, kind) in files { _ = try OwnerOnlyFile.permissions(file, kind: kind) }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw KeelError(.invalidParams, "cannot load TLS certificate file \(certificateFile): \(Self.describe(error))")
        }
        guard !chain.isEmpty else {
            throw KeelError(.invalidParams, "TLS certificate file \(certificateFile) holds no PEM certificate")
        }
        try OwnerOnlyFile.check(keyFile, kind: "TLS key file")
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw KeelError(.invalidParams, "cannot load TLS key file \(keyFile): \(Self.describe(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCAFile {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(clientCAFile)
            } catch {
                throw KeelError(.invalidParams, "cannot load TLS client CA file \(clientCAFile): \(Self.describe(error))")
            }
            guard !roots.isEmpty else {
                throw KeelError(.invalidParams, "TLS client CA file \(clientCAFile) holds no PEM certificate")
            }
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(roots)
            configuration.sendCANameList = true
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw KeelError(
                .invalidParams,
                "cannot use TLS certificate \(certificateFile) with key \(keyFile) (does the key match the certificate?): \(Self.describe(error))")
        }
    }

    /// A short reason for a load failure: "no such file", "not PEM", or BoringSSL's own words.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case NIOSSLError.noSuchFilesystemObject: "no such file"
        case NIOSSLError.failedToLoadCertificate: "not a PEM certificate"
        case NIOSSLError.failedToLoadPrivateKey: "not a PEM private key"
        default: TLSReason.brief(error)
        }
    }
}

extension ServerTLSOptions {
    /// Loads every file as the listener will, so a bad one is reported before start-up.
    /// - Throws: `KeelError(.invalidParams)` naming the file and what is wrong with it.
    public func check() throws { _ = try makeContext() }
}
