public import KeelCore

/// Checks payloads against contract schemas. The engine depends on this seam rather than on a
/// validator type so the validator can cache compiled schemas however it likes.
public protocol ContractChecker: Sendable {
    /// Compiles `schema` (cached by content) and returns the key its compiled form is found by;
    /// throws `KeelError(.invalidSchema)` when it is not a valid schema.
    func prepare(_ schema: JSONValue) throws -> String
    /// Errors of `value` against `schema`, whose key ``prepare(_:)`` returned (a check finds the
    /// compiled form by it, without hashing the schema again; compiled again from `schema` if the
    /// cache let it go), each `{instanceLocation, keywordLocation, keyword, message}`; empty if valid.
    func errors(of value: JSONValue, against schema: JSONValue, key: String) -> [JSONValue]
    /// A stable content hash of a contract's schemas.
    func hash(_ value: JSONValue) -> String
}
