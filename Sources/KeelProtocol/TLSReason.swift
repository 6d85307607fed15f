/// Short reasons for TLS failures, for logs and error messages on both ends.
public enum TLSReason {
    /// BoringSSL's reason codes in `error`'s description, e.g. `CERTIFICATE_VERIFY_FAILED` or
    /// `WRONG_VERSION_NUMBER`, without its source paths; the whole description when it has none.
    public static func brief(_ error: any Error) -> String {
        let text = "\(error)"
        let marker = "OPENSSL_internal:"
        var reasons: [Substring] = []
        var rest = text[...]
        while let range = rest.firstRange(of: marker) {
            let after = rest[range.upperBound...]
            let reason = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            if !reason.isEmpty && !reasons.contains(reason) { reasons.append(reason) }
            rest = after
        }
        return reasons.isEmpty ? text : reasons.joined(separator: ", ")
    }
}
