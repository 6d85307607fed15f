/// A JSON number with its exact value.
///
/// Integers that fit in 64 bits are stored as `Int64`. Every other number keeps the literal text
/// it was parsed from, so `12345678910111213141516171819202122232425262728293031` or `0.1` pass
/// through Keel unchanged and compare exactly (JSON Schema `const`, `enum`, `multipleOf`).
public struct JSONNumber: Sendable, CustomStringConvertible {
    @usableFromInline enum Storage: Sendable {
        case int(Int64)
        case literal(String, Double)
    }

    @usableFromInline let storage: Storage

    public init(_ value: Int64) { storage = .int(value) }

    public init(_ value: Double) {
        if value.isFinite, value == value.rounded(), abs(value) < 9.0e15 {
            storage = .int(Int64(value))
        } else {
            storage = .literal(Self.format(value), value)
        }
    }

    /// Creates a number from a JSON number literal. The caller guarantees the grammar (the parser does).
    public init(literal: String) {
        if let i = Int64(literal) {
            storage = .int(i)
        } else {
            storage = .literal(literal, Double(literal) ?? .nan)
        }
    }

    /// The nearest `Double`; big integers and long decimals lose precision here, not in ``literal``.
    public var doubleValue: Double {
        switch storage {
        case .int(let i): Double(i)
        case .literal(_, let d): d
        }
    }

    /// The value as an `Int64` when it is integral and fits.
    public var int64Value: Int64? {
        switch storage {
        case .int(let i): return i
        case .literal:
            let d = decimal
            guard d.exponent >= 0, d.digits.count + d.exponent <= 18 else { return nil }
            var v: Int64 = 0
            for c in d.digits.utf8 { v = v * 10 + Int64(c - 48) }
            for _ in 0..<d.exponent { v *= 10 }
            return d.negative ? -v : v
        }
    }

    /// JSON text for this number: the original literal, or the integer's digits.
    public var literal: String {
        switch storage {
        case .int(let i): String(i)
        case .literal(let s, _): s
        }
    }

    public var description: String { literal }

    /// True when the mathematical value is an integer (`1.0` and `1e2` are integers).
    public var isInteger: Bool {
        switch storage {
        case .int: true
        case .literal: decimal.exponent >= 0
        }
    }

    /// The exact value as sign, significant digits and a power of ten, normalized so that equal
    /// numbers have equal decimals: `digits` has no leading or trailing zeros (`"0"` → empty).
    public var decimal: Decimal {
        switch storage {
        case .int(let i): Decimal(parsing: String(i))
        case .literal(let s, _): Decimal(parsing: s)
        }
    }

    /// The exact value of a number: `(negative ? -1 : 1) * digits * 10^exponent`.
    public struct Decimal: Sendable, Hashable {
        public var negative: Bool
        public var digits: String
        public var exponent: Int

        /// Parses a JSON number literal (or the output of `Double.description`).
        public init(parsing text: String) {
            var negative = false
            var digits: [UInt8] = []
            var exponent = 0
            var seenPoint = false
            var bytes = Array(text.utf8)[...]
            if bytes.first == UInt8(ascii: "-") { negative = true; bytes = bytes.dropFirst() }
            while let c = bytes.first, c != UInt8(ascii: "e"), c != UInt8(ascii: "E") {
                bytes = bytes.dropFirst()
                if c == UInt8(ascii: ".") { seenPoint = true; continue }
                digits.append(c)
                if seenPoint { exponent -= 1 }
            }
            if !bytes.isEmpty {
                bytes = bytes.dropFirst()
                exponent += Int(String(decoding: bytes, as: UTF8.self).replacingPlus()) ?? 0
            }
            while let f = digits.first, f == UInt8(ascii: "0") { digits.removeFirst() }
            while let l = digits.last, l == UInt8(ascii: "0") { digits.removeLast(); exponent += 1 }
            if digits.isEmpty { negative = false; exponent = 0 }
            self.negative = negative
            self.digits = String(decoding: digits, as: UTF8.self)
            self.exponent = exponent
        }
    }

    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        return value.description  // shortest round-trip form, e.g. "0.1", "1e+308"
    }
}

extension String {
    fileprivate func replacingPlus() -> String { hasPrefix("+") ? String(dropFirst()) : self }
}

extension JSONNumber: Hashable {
    public static func == (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        if case .int(let a) = lhs.storage, case .int(let b) = rhs.storage { return a == b }
        return lhs.decimal == rhs.decimal
    }

    public func hash(into hasher: inout Hasher) {
        if let i = int64Value { hasher.combine(i) } else { hasher.combine(decimal) }
    }
}

extension JSONNumber: Comparable {
    /// Exact comparison, also for numbers beyond `Double`'s precision.
    public static func < (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        if case .int(let a) = lhs.storage, case .int(let b) = rhs.storage { return a < b }
        return Decimal.compare(lhs.decimal, rhs.decimal) < 0
    }
}

extension JSONNumber.Decimal {
    /// -1, 0 or 1 as `a` is less than, equal to or greater than `b`.
    public static func compare(_ a: Self, _ b: Self) -> Int {
        if a.digits.isEmpty && b.digits.isEmpty { return 0 }
        if a.digits.isEmpty { return b.negative ? 1 : -1 }
        if b.digits.isEmpty { return a.negative ? -1 : 1 }
        if a.negative != b.negative { return a.negative ? -1 : 1 }
        let m = compareMagnitude(a, b)
        return a.negative ? -m : m
    }

    static func compareMagnitude(_ a: Self, _ b: Self) -> Int {
        // Order of magnitude: position of the most significant digit.
        let ma = a.digits.utf8.count + a.exponent
        let mb = b.digits.utf8.count + b.exponent
        if ma != mb { return ma < mb ? -1 : 1 }
        let da = Array(a.digits.utf8), db = Array(b.digits.utf8)
        for i in 0..<max(da.count, db.count) {
            let x = i < da.count ? da[i] : 48
            let y = i < db.count ? db[i] : 48
            if x != y { return x < y ? -1 : 1 }
        }
        return 0
    }
}
