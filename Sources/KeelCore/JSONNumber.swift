/// A JSON number with its exact value.
///
/// Integers that fit in 64 bits are stored as `Int64`. Every other number keeps the literal text
/// it was parsed from, so `12345678910111213141516171819202122232425262728293031`, `0.1` or `-0`
/// pass through Keel unchanged and compare exactly (JSON Schema `const`, `enum`, `multipleOf`).
///
/// Size bound (RFC 8259 §9 lets a parser limit range and precision): ``JSONParser`` refuses a
/// literal with more than ``maximumDigits`` digits before its exponent, or an exponent beyond
/// ±``maximumExponent``; docs/guarantees.md, "Limits". Within those bounds comparison, equality
/// and hashing are exact. Nothing here traps on any input: a literal built by hand beyond the
/// bounds saturates its exponent at ±2^61 instead of overflowing.
public struct JSONNumber: Sendable, CustomStringConvertible {
    @usableFromInline enum Storage: Sendable {
        case int(Int64)
        case literal(String, Double)
    }

    /// Most digits in a number literal's integer and fraction parts together.
    public static let maximumDigits = 4096
    /// Largest magnitude of a number literal's exponent (`1e999999999` is accepted, `1e1000000000` is not).
    public static let maximumExponent = 999_999_999

    @usableFromInline let storage: Storage

    public init(_ value: Int64) { storage = .int(value) }

    public init(_ value: Double) {
        if value.isFinite, value == value.rounded(), abs(value) < 9.0e15, !(value == 0 && value.sign == .minus) {
            storage = .int(Int64(value))
        } else {
            storage = .literal(Self.format(value), value)
        }
    }

    /// Creates a number from a JSON number literal. The caller guarantees the grammar (the parser does).
    /// `-0` keeps its sign in ``literal`` (it still equals `0`).
    public init(literal: String) {
        if let i = Int64(literal), !(i == 0 && literal.utf8.first == UInt8(ascii: "-")) {
            storage = .int(i)
        } else {
            storage = .literal(literal, Double(literal) ?? .nan)
        }
    }

    /// The nearest `Double`; big integers and long decimals lose precision here, not in ``literal``.
    /// Beyond `Double`'s range this is ±infinity or ±0.
    public var doubleValue: Double {
        switch storage {
        case .int(let i): Double(i)
        case .literal(_, let d): d
        }
    }

    /// The value as an `Int64` when it is integral and fits, otherwise nil (never traps).
    public var int64Value: Int64? {
        switch storage {
        case .int(let i): i
        case .literal: decimal.int64Value
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

    /// The exact value as `significand · 10^exponent` when the significand fits in an `Int64`
    /// (every integer stored as `Int64`, and literals such as `12.5` or `-3e-7` with at most 18
    /// digits), otherwise nil. Not normalized (`1.50` is 150·10⁻²). Unlike ``decimal`` it
    /// allocates nothing: the schema validator's fast path for `minimum`, `multipleOf`… (issue 15).
    @inlinable
    public var compactDecimal: (significand: Int64, exponent: Int)? {
        switch storage {
        case .int(let i): (i, 0)
        case .literal(let s, _): Self.compactDecimal(s)
        }
    }

    @usableFromInline
    static func compactDecimal(_ literal: String) -> (significand: Int64, exponent: Int)? {
        var significand: Int64 = 0
        var exponent = 0
        var negative = false
        var seenPoint = false
        var digits = 0
        var iterator = literal.utf8.makeIterator()
        while let c = iterator.next() {
            switch c {
            case UInt8(ascii: "-"): negative = true
            case UInt8(ascii: "."): seenPoint = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                digits += 1
                // 18 digits always fit (10^18 < 2^63); more are left to the exact path.
                guard digits <= 18 else { return nil }
                significand = significand * 10 + Int64(c &- 48)
                if seenPoint { exponent -= 1 }
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                var explicit = 0
                var exponentNegative = false
                var exponentDigits = 0
                while let e = iterator.next() {
                    if e == UInt8(ascii: "-") { exponentNegative = true; continue }
                    if e == UInt8(ascii: "+") { continue }
                    exponentDigits += 1
                    // Beyond ±999,999,999 (the parser's bound) is left to the exact path.
                    guard exponentDigits <= 9, e >= UInt8(ascii: "0"), e <= UInt8(ascii: "9") else { return nil }
                    explicit = explicit * 10 + Int(e &- 48)
                }
                exponent += exponentNegative ? -explicit : explicit
            default: return nil
            }
        }
        return (negative ? -significand : significand, exponent)
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

        /// The value as an `Int64` when it is integral and fits, otherwise nil (never traps).
        public var int64Value: Int64? {
            // At most 19 digits in all, so the loop below is short whatever the exponent.
            guard exponent >= 0, exponent <= 19, digits.utf8.count <= 19 - exponent else { return nil }
            // Accumulate the negative value: Int64.min has no positive counterpart.
            var v: Int64 = 0
            for c in digits.utf8 {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.subtractingReportingOverflow(Int64(c &- 48))
                if o1 || o2 { return nil }
                v = s
            }
            for _ in 0..<exponent {
                let (m, o) = v.multipliedReportingOverflow(by: 10)
                if o { return nil }
                v = m
            }
            if negative { return v }
            return v == .min ? nil : -v
        }

        /// Exponents saturate here: far beyond any parsed number, far from `Int`'s overflow.
        static let exponentLimit = 1 << 61

        /// Parses a JSON number literal (or the output of `Double.description`). Never traps: an
        /// exponent beyond ±2^61 (only possible for text the parser did not check) saturates.
        public init(parsing text: String) {
            var negative = false
            var digits: [UInt8] = []
            var exponent = 0
            var seenPoint = false
            let bytes = Array(text.utf8)
            digits.reserveCapacity(bytes.count)
            var i = 0
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            while i < bytes.count, bytes[i] != UInt8(ascii: "e"), bytes[i] != UInt8(ascii: "E") {
                let c = bytes[i]
                i += 1
                if c == UInt8(ascii: ".") { seenPoint = true; continue }
                digits.append(c)
                if seenPoint { exponent -= 1 }
            }
            if i < bytes.count {
                exponent += Self.exponent(bytes[(i + 1)...])
            }
            // Trim by index: removeFirst in a loop is quadratic on "0.000…01" (4,096 digits).
            let first = digits.firstIndex { $0 != UInt8(ascii: "0") } ?? digits.endIndex
            var end = digits.endIndex
            while end > first, digits[end - 1] == UInt8(ascii: "0") { end -= 1; exponent += 1 }
            if first == end { negative = false; exponent = 0 }
            self.negative = negative
            self.digits = String(decoding: digits[first..<end], as: UTF8.self)
            self.exponent = exponent
        }

        /// The exponent part's value (`+5`, `-07`), saturated at ±``exponentLimit``.
        private static func exponent(_ bytes: ArraySlice<UInt8>) -> Int {
            var bytes = bytes
            var sign = 1
            if bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            else if bytes.first == UInt8(ascii: "-") { sign = -1; bytes = bytes.dropFirst() }
            var value = 0
            for c in bytes {
                let d = Int(c &- 48)
                guard d < 10 else { break }
                // value ≤ 2^61 / 10 before the step, so value · 10 + 9 cannot overflow.
                value = value > exponentLimit / 10 ? exponentLimit : Swift.min(value * 10 + d, exponentLimit)
            }
            return sign * value
        }
    }

    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        return value.description  // shortest round-trip form, e.g. "0.1", "1e+308"
    }
}

extension JSONNumber: Hashable {
    public static func == (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        if case .int(let a) = lhs.storage, case .int(let b) = rhs.storage { return a == b }
        return lhs.decimal == rhs.decimal
    }

    public func hash(into hasher: inout Hasher) {
        // Equal numbers hash alike: an integral literal (`1.0`, `1e2`) hashes as its Int64.
        switch storage {
        case .int(let i): hasher.combine(i)
        case .literal:
            let d = decimal
            if let i = d.int64Value { hasher.combine(i) } else { hasher.combine(d) }
        }
    }
}

extension JSONNumber: Comparable {
    /// Exact comparison, also for numbers beyond `Double`'s precision and range.
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
        // Order of magnitude: position of the most significant digit. Int128 because `exponent`
        // is public and may hold anything; the sum of two Ints cannot overflow it.
        let ma = Int128(a.digits.utf8.count) + Int128(a.exponent)
        let mb = Int128(b.digits.utf8.count) + Int128(b.exponent)
        if ma != mb { return ma < mb ? -1 : 1 }
        for (x, y) in zip(a.digits.utf8, b.digits.utf8) where x != y { return x < y ? -1 : 1 }
        let (ca, cb) = (a.digits.utf8.count, b.digits.utf8.count)
        // Same leading digits: the longer one has more non-zero digits (no trailing zeros).
        return ca == cb ? 0 : (ca < cb ? -1 : 1)
    }
}
