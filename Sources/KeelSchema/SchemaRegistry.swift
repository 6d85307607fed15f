public import KeelCore

/// The schemas a `$ref` or `$schema` may name, keyed by absolute URI.
///
/// Starts with the bundled meta-schemas (draft 2020-12 with its vocabulary meta-schemas, and
/// draft-07). The validator never fetches anything over the network: a URI that is neither here
/// nor produced by ``retriever`` makes compilation fail with `invalidSchema`.
public struct SchemaRegistry: Sendable {
    var documents: [String: JSONValue]

    /// Called for a URI (without fragment) that is not registered; return nil when unknown.
    /// The CLI uses it to map URI prefixes to local folders. It runs during compilation only,
    /// on the compiling thread.
    public var retriever: (@Sendable (String) throws -> JSONValue?)?

    /// A registry holding only the bundled meta-schemas.
    public init() {
        documents = Self.bundled
        retriever = nil
    }

    /// Registers `schema` under `uri` (its fragment, if any, is dropped), and also under the
    /// absolute URI of its root `$id` when that differs.
    /// - Throws: `invalidSchema` when `uri` is empty.
    public mutating func add(_ schema: JSONValue, uri: String) throws {
        let key = URIReference.withoutFragment(uri)
        guard !key.isEmpty else { throw KeelError(.invalidSchema, "A registered schema needs a non-empty URI.") }
        documents[key] = schema
        if let id = schema["$id"]?.stringValue {
            let resolved = URIReference.withoutFragment(URIReference.resolve(id, against: key))
            if !resolved.isEmpty, documents[resolved] == nil { documents[resolved] = schema }
        }
    }

    /// The schema document registered under `uri` (fragment ignored), asking ``retriever`` when
    /// it is not registered.
    /// - Throws: whatever ``retriever`` throws.
    public func document(for uri: String) throws -> JSONValue? {
        let key = URIReference.withoutFragment(uri)
        if let doc = documents[key] { return doc }
        return try retriever?(key)
    }

    /// Every registered URI, sorted (bundled meta-schemas included).
    public var uris: [String] { documents.keys.sorted() }

    /// The bundled meta-schemas, parsed once per process.
    static let bundled: [String: JSONValue] = {
        var out: [String: JSONValue] = [:]
        for entry in MetaSchemas.all {
            // The text is checked in (and compared with the official files by a test): it parses.
            out[entry.uri] = try! JSONParser.parse(entry.text)
        }
        return out
    }()
}
