import KeelCore

/// JSON indented two spaces per level, keys in their stored order: a contract's schema as a
/// person reads it. Scalars are written as the wire writes them.
enum PrettyJSON {
    static func string(_ value: JSONValue) -> String {
        var out = ""
        write(value, indent: "", into: &out)
        return out
    }

    private static func write(_ value: JSONValue, indent: String, into out: inout String) {
        let inner = indent + "  "
        switch value {
        case .array(let items) where !items.isEmpty:
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += inner
                write(item, indent: inner, into: &out)
                out += i == items.count - 1 ? "\n" : ",\n"
            }
            out += indent + "]"
        case .object(let members) where members.count > 0:
            out += "{\n"
            var first = true
            for (key, member) in members {
                if !first { out += ",\n" }
                first = false
                out += inner + JSONWriter.string(.string(key)) + ": "
                write(member, indent: inner, into: &out)
            }
            out += "\n" + indent + "}"
        default:
            out += JSONWriter.string(value)
        }
    }
}
