extension JSONValue {
    /// Whether this value is no larger than `budget`, counting one for each value and one for each
    /// 64 bytes of text (strings and keys). Spends the budget as it walks and stops as soon as it
    /// runs out, so measuring a large value costs no more than measuring a small one.
    public func fits(within budget: inout Int) -> Bool {
        budget -= 1
        switch self {
        case .string(let s):
            budget -= s.utf8.count / 64
        case .array(let elements):
            for element in elements {
                guard budget >= 0, element.fits(within: &budget) else { return false }
            }
        case .object(let members):
            for (key, value) in members {
                budget -= key.utf8.count / 64
                guard budget >= 0, value.fits(within: &budget) else { return false }
            }
        case .null, .bool, .number:
            break
        }
        return budget >= 0
    }
}
