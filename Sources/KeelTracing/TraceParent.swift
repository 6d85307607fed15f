/// A W3C `traceparent` header value (https://www.w3.org/TR/trace-context/#traceparent-header):
/// `00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`.
public struct TraceParent: Sendable, Hashable, CustomStringConvertible {
    /// 32 lowercase hex digits, not all zero.
    public let traceID: String
    /// 16 lowercase hex digits, not all zero.
    public let spanID: String
    /// The trace flags byte (bit 0: sampled).
    public let flags: UInt8

    /// Makes a trace parent from parts already known to be valid.
    public init(traceID: String, spanID: String, flags: UInt8 = 1) {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
    }

    /// Parses a `traceparent` value; a failure names the malformed part.
    public static func parse(_ text: String) -> Result<TraceParent, TraceParentError> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 4 else {
            return .failure(.init("expected 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"))
        }
        let (version, traceID, spanID, flags) = (parts[0], parts[1], parts[2], parts[3])
        guard version.count == 2, isLowerHex(version), version != "ff" else {
            return .failure(.init("version must be 2 lowercase hex digits other than ff"))
        }
        guard version != "00" || parts.count == 4 else {
            return .failure(.init("version 00 has exactly 4 fields"))
        }
        guard traceID.count == 32, isLowerHex(traceID), traceID.contains(where: { $0 != "0" }) else {
            return .failure(.init("trace id must be 32 lowercase hex digits, not all zero"))
        }
        guard spanID.count == 16, isLowerHex(spanID), spanID.contains(where: { $0 != "0" }) else {
            return .failure(.init("parent id must be 16 lowercase hex digits, not all zero"))
        }
        guard flags.count == 2, isLowerHex(flags), let flagByte = UInt8(flags, radix: 16) else {
            return .failure(.init("flags must be 2 lowercase hex digits"))
        }
        return .success(TraceParent(traceID: traceID, spanID: spanID, flags: flagByte))
    }

    /// The header value, version 00.
    public var description: String {
        let hex = String(flags, radix: 16)
        return "00-\(traceID)-\(spanID)-\(hex.count == 1 ? "0" + hex : hex)"
    }

    private static func isLowerHex(_ text: String) -> Bool {
        text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

/// Why a `traceparent` value was refused.
public struct TraceParentError: Error, Sendable, Equatable {
    /// A sentence naming the malformed part.
    public let reason: String
    init(_ reason: String) { self.reason = reason }
}
