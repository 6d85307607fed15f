public import KeelCore
import KeelStorage

/// Typed access to a request's params object with precise `-32602` errors ("params.name must be a string").
struct Params {
    let object: JSONObject
    let method: String
    /// Where the object sits in the request, for errors: `params`, or e.g. `params.input`.
    let path: String

    /// Longest idempotency key in UTF-8 bytes (docs/guarantees.md, "Limits"); workflow ids take 256.
    static let maximumKeyBytes = 512

    init(_ value: JSONValue, method: String, path: String = "params") throws {
        guard case .object(let o) = value else { throw KeelError(.invalidParams, "\(method): \(path) must be an object") }
        object = o
        self.method = method
        self.path = path
    }

    /// The error ``fail(_:_:)`` gives for a field of a request's params, for the typed entry points.
    static func fail(method: String, _ field: String, _ expectation: String) -> KeelError {
        KeelError(.invalidParams, "\(method): params.\(field) \(expectation)", data: ["field": .string(field)])
    }

    func fail(_ field: String, _ expectation: String) -> KeelError {
        let within = path == "params" ? field : "\(path.dropFirst("params.".count)).\(field)"
        return KeelError(.invalidParams, "\(method): \(path).\(field) \(expectation)", data: ["field": .string(within)])
    }

    subscript(_ key: String) -> JSONValue? {
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }

    func string(_ key: String) throws -> String {
        guard let v = self[key] else { throw fail(key, "is required") }
        guard case .string(let s) = v else { throw fail(key, "must be a string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        guard let v = self[key] else { return nil }
        guard case .string(let s) = v else { throw fail(key, "must be a string") }
        return s
    }

    func optionalInt(_ key: String, range: ClosedRange<Int64>) throws -> Int64? {
        guard let v = self[key] else { return nil }
        guard let n = v.int64Value, range.contains(n) else {
            throw fail(key, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    /// `priority` and `fairnessKey` (docs/protocol.md, "Priorities and fairness") over `base`:
    /// what is absent or null keeps `base`'s. `prefix` names where the keys sit ("options.").
    func precedence(over base: Precedence, prefix: String = "") throws -> Precedence {
        var result = base
        if let v = self["priority"] {
            guard let n = v.int64Value, n >= Precedence.priorities.lowerBound, n <= Precedence.priorities.upperBound else {
                throw fail(prefix + "priority",
                    "must be an integer from \(Precedence.priorities.lowerBound) to \(Precedence.priorities.upperBound) (higher runs first)")
            }
            result.priority = Int(n)
        }
        if let v = self["fairnessKey"] {
            guard case .string(let key) = v, !key.isEmpty, key.utf8.count <= Precedence.maximumKeyBytes else {
                throw fail(prefix + "fairnessKey", "must be a string of 1 to \(Precedence.maximumKeyBytes) bytes")
            }
            result.fairnessKey = key
        }
        return result
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let v = self[key] else { return nil }
        guard case .bool(let b) = v else { throw fail(key, "must be true or false") }
        return b
    }

    func optionalArray(_ key: String) throws -> [JSONValue]? {
        guard let v = self[key] else { return nil }
        guard case .array(let a) = v else { throw fail(key, "must be an array") }
        return a
    }
}

/// Names of activities, workflows and workers: dotted identifiers such as `billing.charge`.
func isValidName(_ s: String) -> Bool {
    guard let first = s.utf8.first, s.utf8.count <= 200 else { return false }
    func letter(_ c: UInt8) -> Bool { (65...90).contains(c) || (97...122).contains(c) || c == 95 }
    guard letter(first) else { return false }
    return s.utf8.allSatisfy { letter($0) || (48...57).contains($0) || $0 == 46 || $0 == 45 }
}
