/// A JSON Schema dialect this validator implements, chosen per schema resource by `$schema`.
public enum Dialect: Sendable, Hashable, CaseIterable {
    /// JSON Schema draft 2020-12 (the default, and what Keel contracts use).
    case draft2020_12
    /// JSON Schema draft-07 (`items` arrays, `additionalItems`, `dependencies`, `definitions`).
    case draft7

    /// The dialect's meta-schema URI, as `$schema` names it.
    public var uri: String {
        switch self {
        case .draft2020_12: "https://json-schema.org/draft/2020-12/schema"
        case .draft7: "http://json-schema.org/draft-07/schema#"
        }
    }

    /// The dialect named by a meta-schema URI (an empty fragment and `http`/`https` are ignored),
    /// or nil when the URI names neither dialect.
    public init?(uri: String) {
        switch Rules.standard(uri)?.draft {
        case .draft2020?: self = .draft2020_12
        case .draft7?: self = .draft7
        default: return nil
        }
    }

    var rules: Rules { self == .draft7 ? Rules(draft: .draft7) : Rules(draft: .draft2020) }
}

/// Which keywords apply inside one schema resource: its draft plus the vocabularies its
/// meta-schema enables (2020-12 `$vocabulary`, e.g. a meta-schema without "validation").
struct Rules: Hashable, Sendable {
    enum Draft: Hashable, Sendable { case draft7, draft2019, draft2020 }

    var draft: Draft
    var applicator = true
    var validation = true
    var unevaluated = true
    var content = true
    /// Set by the format-assertion vocabulary; the validator option can also turn it on.
    var formatAssertion = false

    init(draft: Draft) {
        self.draft = draft
        if draft == .draft7 { unevaluated = false }
    }

    /// Rules for the standard meta-schema URIs this validator knows without loading anything.
    static func standard(_ uri: String) -> Rules? {
        var u = URIReference.withoutFragment(uri)
        if u.hasPrefix("https://json-schema.org/draft-") { u = "http://" + u.dropFirst("https://".count) }
        if u.hasSuffix("/") { u.removeLast() }
        switch u {
        case "https://json-schema.org/draft/2020-12/schema", "http://json-schema.org/draft/2020-12/schema":
            return Rules(draft: .draft2020)
        case "https://json-schema.org/draft/2019-09/schema", "http://json-schema.org/draft/2019-09/schema":
            return Rules(draft: .draft2019)
        case "http://json-schema.org/draft-07/schema", "http://json-schema.org/draft-06/schema",
            "http://json-schema.org/draft-04/schema":
            // Draft-06 and -04 schemas are read as draft-07, their close successor.
            return Rules(draft: .draft7)
        default:
            return nil
        }
    }

    /// Applies a custom meta-schema's `$vocabulary` object on top of `self`.
    /// - Throws: `invalidSchema` when a vocabulary marked required (`true`) is unknown.
    mutating func apply(vocabulary: [String: Bool]) throws(VocabularyError) {
        applicator = false
        validation = false
        unevaluated = false
        content = false
        for (uri, required) in vocabulary {
            let name = uri.split(separator: "/").last.map(String.init) ?? uri
            let known =
                uri.hasPrefix("https://json-schema.org/draft/2020-12/vocab/")
                || uri.hasPrefix("https://json-schema.org/draft/2019-09/vocab/")
            switch (known, name) {
            case (true, "core"), (true, "meta-data"), (true, "format-annotation"): break
            case (true, "applicator"): applicator = true
            case (true, "validation"): validation = true
            case (true, "unevaluated"): unevaluated = true
            case (true, "content"): content = true
            case (true, "format-assertion"): formatAssertion = true
            case (true, "format"): formatAssertion = formatAssertion || required
            default: if required { throw VocabularyError(uri: uri) }
            }
        }
        if draft == .draft2019 && applicator { unevaluated = true }
    }
}

struct VocabularyError: Error { var uri: String }
