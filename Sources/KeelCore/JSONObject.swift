/// A JSON object: its members in order, with keys compared byte for byte.
///
/// Swift's `String ==` and `Dictionary` treat canonically equivalent strings as one ("é" as one
/// code point and as "e" + U+0301), so a `[String: JSONValue]` merges two distinct JSON keys and
/// loses a value. Here a key is its UTF-8 bytes (RFC 8259 §8.3: strings compare code unit by code
/// unit), members keep their order, and a repeated key keeps its first position and its last
/// value. Equality ignores order (RFC 8259 §4: objects are unordered).
///
/// The API mirrors the part of `Dictionary` Keel uses, so `o["key"]`, `o.keys`, `for (k, v) in o`
/// and dictionary literals read the same. Small objects are scanned; from
/// ``indexThreshold`` members on, a hash index keeps lookups O(1).
public struct JSONObject: Sendable {
    public typealias Element = (key: String, value: JSONValue)
    public typealias Key = String
    public typealias Value = JSONValue

    /// Members past this count get a hash index (scanning a few short keys beats hashing them).
    public static let indexThreshold = 8

    @usableFromInline var members: [Element]
    var index: [ExactKey: Int]?

    /// An empty object.
    public init() {
        members = []
        index = nil
    }

    /// The members of `dictionary` (in its iteration order).
    public init(_ dictionary: [String: JSONValue]) {
        self.init()
        members.reserveCapacity(dictionary.count)
        for (k, v) in dictionary { self[k] = v }
    }

    /// The members in order; a repeated key keeps its first position and its last value.
    public init(_ elements: some Sequence<(String, JSONValue)>) {
        self.init()
        members.reserveCapacity(elements.underestimatedCount)
        for (k, v) in elements { self[k] = v }
    }

    /// The value for the key with exactly these UTF-8 bytes; setting nil removes the member.
    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { members[$0].value } }
        set {
            if index != nil, let newValue {
                // One hash for the common case (a new key); a repeated key restores its position.
                let k = ExactKey(key)
                if let old = index!.updateValue(members.count, forKey: k) {
                    index![k] = old
                    members[old].value = newValue
                } else {
                    members.append((key, newValue))
                }
                return
            }
            if let i = position(of: key) {
                if let newValue {
                    members[i].value = newValue
                } else {
                    members.remove(at: i)
                    rebuildIndex()
                }
            } else if let newValue {
                members.append((key, newValue))
                if index != nil {
                    index![ExactKey(key)] = members.count - 1
                } else if members.count > Self.indexThreshold {
                    rebuildIndex()
                }
            }
        }
    }

    /// The value for `key`, or `defaultValue` when there is none.
    public subscript(key: String, default defaultValue: @autoclosure () -> JSONValue) -> JSONValue {
        get { self[key] ?? defaultValue() }
        set { self[key] = newValue }
    }

    /// The keys in member order.
    public var keys: [String] { members.map(\.key) }

    /// The values in member order.
    public var values: [JSONValue] { members.map(\.value) }

    /// Removes the member with `key` and returns its value.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let i = position(of: key) else { return nil }
        let value = members.remove(at: i).value
        rebuildIndex()
        return value
    }

    /// The same keys with transformed values.
    public func mapValues(_ transform: (JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        var out = self
        for i in out.members.indices { out.members[i].value = try transform(out.members[i].value) }
        return out
    }

    /// The members for which `isIncluded` is true, in order.
    public func filter(_ isIncluded: (Element) throws -> Bool) rethrows -> JSONObject {
        var out = JSONObject()
        for m in members where try isIncluded(m) { out[m.key] = m.value }
        return out
    }

    /// Adds the members of `other`; `combine(old, new)` decides a key present in both.
    public mutating func merge(
        _ other: JSONObject, uniquingKeysWith combine: (JSONValue, JSONValue) throws -> JSONValue
    ) rethrows {
        for (k, v) in other { self[k] = try self[k].map { try combine($0, v) } ?? v }
    }

    /// A Swift dictionary of the members. Lossy when two keys are canonically equivalent
    /// (the later one wins); for APIs that need a `Dictionary`.
    public var dictionary: [String: JSONValue] {
        Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }

    /// Calls `body` with the members in place, without copying them (a validator reads every
    /// member of every object; copying each retained its key and value). The buffer is valid only
    /// inside `body`.
    @inlinable
    public func withUnsafeMembers<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        try members.withUnsafeBufferPointer(body)
    }

    /// The value of the member at `member`, in place (for pointers from ``withUnsafeMembers(_:)``).
    @inlinable
    public static func valuePointer(_ member: UnsafePointer<Element>) -> UnsafePointer<JSONValue> {
        // A tuple's elements are laid out in order, each at its alignment, like a struct's fields.
        let offset = MemoryLayout<Element>.offset(of: \Element.value)!
        return (UnsafeRawPointer(member) + offset).assumingMemoryBound(to: JSONValue.self)
    }

    func position(of key: String) -> Int? {
        if let index { return index[ExactKey(key)] }
        for i in members.indices where ExactKey.sameBytes(members[i].key, key) { return i }
        return nil
    }

    private mutating func rebuildIndex() {
        guard members.count > Self.indexThreshold else { index = nil; return }
        var built = [ExactKey: Int](minimumCapacity: members.count)
        for (i, m) in members.enumerated() { built[ExactKey(m.key)] = i }
        index = built
    }

    /// A string hashed and compared by its UTF-8 bytes.
    struct ExactKey: Hashable, Sendable {
        let text: String
        init(_ text: String) { self.text = text }

        static func == (a: ExactKey, b: ExactKey) -> Bool { sameBytes(a.text, b.text) }

        func hash(into hasher: inout Hasher) {
            var t = text
            t.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }

        /// True when `a` and `b` have the same UTF-8 bytes (not merely canonical equivalence).
        @inline(__always) static func sameBytes(_ a: String, _ b: String) -> Bool { a.hasSameUTF8(as: b) }
    }
}

extension String {
    /// True when both strings have the same UTF-8 bytes: JSON's string equality (RFC 8259 §8.3),
    /// stricter than `==`, which treats canonically equivalent strings ("é", "e" + U+0301) as equal.
    ///
    /// Native and small strings are compared as contiguous buffers; the generic
    /// `utf8.elementsEqual` loop it replaces was 12–20% of schema validation time (issue 15).
    @inlinable
    public func hasSameUTF8(as other: String) -> Bool {
        let count = utf8.count
        guard count == other.utf8.count else { return false }
        let contiguous = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in
                for i in 0..<count where a[i] != b[i] { return false }
                return true
            }
        }
        if let contiguous, let result = contiguous { return result }
        return utf8.elementsEqual(other.utf8)
    }
}

extension JSONObject: RandomAccessCollection {
    public var startIndex: Int { members.startIndex }
    public var endIndex: Int { members.endIndex }
    public subscript(position: Int) -> Element { members[position] }
    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self.init(elements) }
}

extension JSONObject: Hashable {
    /// Same keys (byte for byte) with equal values, in any order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (k, v) in lhs {
            guard let w = rhs[k], v == w else { return false }
        }
        return true
    }

    /// Order-independent: members are hashed one by one and combined commutatively.
    public func hash(into hasher: inout Hasher) {
        var combined = 0
        for (k, v) in members {
            var h = Hasher()
            h.combine(ExactKey(k))
            h.combine(v)
            combined ^= h.finalize()
        }
        hasher.combine(count)
        hasher.combine(combined)
    }
}

extension JSONValue {
    /// An object from a Swift dictionary (source compatibility with `.object([String: JSONValue])`).
    public static func object(_ dictionary: [String: JSONValue]) -> JSONValue { .object(JSONObject(dictionary)) }
}
