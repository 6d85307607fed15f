public import Instrumentation

/// Writes trace headers into a `[String: String]` (the JSON-RPC params Keel sends).
public struct DictionaryInjector: Injector {
    public init() {}
    public func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

/// Reads trace headers from a `[String: String]` (the JSON-RPC params a caller sent).
public struct DictionaryExtractor: Extractor {
    public init() {}
    public func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
