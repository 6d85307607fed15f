import KeelCore
import KeelStorage

/// Checks of search attributes and memo as they arrive (docs/protocol.md, "Search attributes
/// and memo"), each error naming the field.
extension Params {
    /// `searchAttributes` of `workflow/start`: an object of typed values, or nil when absent.
    func searchAttributes() throws -> JSONValue? {
        guard let v = self["searchAttributes"] else { return nil }
        let attributes = try checkedChanges(v, field: "searchAttributes", allowingNull: false)
        return try checkedAttributes(SearchAttributes.merged(nil, attributes), field: "searchAttributes")
    }

    /// `memo` of `workflow/start`: an object, or nil when absent.
    func memo() throws -> JSONValue? {
        guard let v = self["memo"] else { return nil }
        return try checkedMemo(SearchAttributes.merged(nil, try checkedChanges(v, field: "memo", allowingNull: false, typed: false)),
            field: "memo")
    }

    /// The changes of an upsert (`null` removes a key): an object whose keys, and for attributes
    /// values, are well formed.
    func checkedChanges(_ v: JSONValue, field: String, allowingNull: Bool, typed: Bool = true) throws -> JSONObject {
        guard case .object(let object) = v else { throw fail(field, "must be an object") }
        for (key, value) in object {
            if typed {
                if let problem = Self.attributeKeyProblem(key) { throw fail("\(field).\(key)", problem) }
                try checkAttributeValue(value, field: "\(field).\(key)", allowingNull: allowingNull)
            } else if value.isNull, !allowingNull {
                throw fail("\(field).\(key)", "must not be null (a null removes a key in an upsert)")
            }
        }
        return object
    }

    /// The attributes an execution would hold: at most ``SearchAttributes/maxKeys``.
    func checkedAttributes(_ merged: JSONValue?, field: String) throws -> JSONValue? {
        let count = merged?.objectValue?.count ?? 0
        guard count <= SearchAttributes.maxKeys else {
            throw fail(field, "would give the workflow \(count) search attributes; the most is \(SearchAttributes.maxKeys)")
        }
        return merged
    }

    /// The memo an execution would hold: at most ``SearchAttributes/maxMemoBytes`` as JSON.
    func checkedMemo(_ merged: JSONValue?, field: String) throws -> JSONValue? {
        let bytes = merged.map { JSONWriter.string($0).utf8.count } ?? 0
        guard bytes <= SearchAttributes.maxMemoBytes else {
            throw fail(field, "would make the memo \(bytes) bytes of JSON; the most is \(SearchAttributes.maxMemoBytes)")
        }
        return merged
    }

    private func checkAttributeValue(_ value: JSONValue, field: String, allowingNull: Bool) throws {
        switch value {
        case .string(let s):
            guard s.utf8.count <= SearchAttributes.maxStringBytes else {
                throw fail(field, "is \(s.utf8.count) bytes; a search attribute's string holds at most \(SearchAttributes.maxStringBytes)")
            }
        case .number(let n):
            guard n.doubleValue.isFinite else { throw fail(field, "must be a finite number") }
        case .bool:
            break
        case .null where allowingNull:
            break
        default:
            throw fail(field, "must be a string, a number or a boolean" + (allowingNull ? " (or null to remove it)" : "")
                + " (got \(value.typeName))")
        }
    }

    /// Why `key` cannot name a search attribute, or nil.
    static func attributeKeyProblem(_ key: String) -> String? {
        if SearchAttributes.builtinNames.contains(key) {
            return "is a built-in field of every workflow; name the attribute otherwise"
        }
        let bytes = Array(key.utf8)
        let isLetter = { (b: UInt8) in (65...90).contains(b) || (97...122).contains(b) || b == 95 }
        guard let first = bytes.first, bytes.count <= 64, isLetter(first),
            bytes.allSatisfy({ isLetter($0) || (48...57).contains($0) })
        else {
            return "is not a search attribute name: a letter or _, then letters, digits or _ (at most 64)"
        }
        return nil
    }
}
