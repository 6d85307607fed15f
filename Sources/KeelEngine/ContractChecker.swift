public import KeelCore

/// Checks payloads against contract schemas. The engine depends on this seam rather than on a
/// validator type so the validator can cache compiled schemas however it likes.
public protocol ContractChecker: Sendable {
    /// Compiles `schema` (cached by content); throws `KeelError(.invalidSchema)` when it is not a valid schema.
    func prepare(_ schema: JSONValue) throws
    /// Errors of `value` against `schema`, each `{instanceLocation, keywordLocation, keyword, message}`; empty if valid.
    func errors(of value: JSONValue, against schema: JSONValue) -> [JSONValue]
    /// A stable content hash of a contract's schemas.
    func hash(_ value: JSONValue) -> String
}
