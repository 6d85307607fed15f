/// The fuzz oracle: a JSON number as sign, significant digits and a decimal exponent of any size.
///
/// Deliberately independent of `JSONNumber`: the exponent is a decimal digit string compared and
/// added as such, so no input can overflow it.
struct ExactNumber {
    var negative: Bool
    /// Significant digits, no leading or trailing zeros; empty for zero.
    var digits: [UInt8]
    /// Value = digits × 10^exponent.
    var exponent: BigDecimalInteger

    /// Reads an RFC 8259 number (surrounding white space allowed); nil when it is not one.
    init?(_ raw: [UInt8]) {
        let ws: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        var s = raw[...]
        while let f = s.first, ws.contains(f) { s.removeFirst() }
        while let l = s.last, ws.contains(l) { s.removeLast() }
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        negative = s.first == UInt8(ascii: "-")
        if negative { s.removeFirst() }
        var integer: [UInt8] = []
        while let c = s.first, isDigit(c) { integer.append(c); s.removeFirst() }
        guard !integer.isEmpty, integer == [0x30] || integer[0] != 0x30 else { return nil }
        var fraction: [UInt8] = []
        if s.first == UInt8(ascii: ".") {
            s.removeFirst()
            while let c = s.first, isDigit(c) { fraction.append(c); s.removeFirst() }
            guard !fraction.isEmpty else { return nil }
        }
        var exp = BigDecimalInteger(negative: false, magnitude: [])
        if let e = s.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            s.removeFirst()
            if let sign = s.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                exp.negative = sign == UInt8(ascii: "-")
                s.removeFirst()
            }
            var m: [UInt8] = []
            while let c = s.first, isDigit(c) { m.append(c); s.removeFirst() }
            guard !m.isEmpty else { return nil }
            exp = BigDecimalInteger(negative: exp.negative, magnitude: m)
        }
        guard s.isEmpty else { return nil }
        var all = integer + fraction
        exp = exp.adding(-fraction.count)
        while all.first == 0x30 { all.removeFirst() }
        var trailing = 0
        while all.last == 0x30 { all.removeLast(); trailing += 1 }
        exp = exp.adding(trailing)
        if all.isEmpty { negative = false; exp = BigDecimalInteger(negative: false, magnitude: []) }
        digits = all
        exponent = exp
    }

    var isZero: Bool { digits.isEmpty }
    var isInteger: Bool { isZero || !exponent.negative }
    /// Position of the most significant digit: digits.count + exponent.
    var magnitudeOrder: BigDecimalInteger { exponent.adding(digits.count) }
    var isBelowTenToThe18: Bool { isZero || BigDecimalInteger.compare(magnitudeOrder, .init(18)) <= 0 }

    /// The exact value when it is an integer that fits in `Int64`.
    var int64Value: Int64? {
        guard isInteger else { return nil }
        if isZero { return 0 }
        guard BigDecimalInteger.compare(magnitudeOrder, .init(19)) <= 0 else { return nil }
        var text = digits + Array(repeating: 0x30, count: Int(exponent.small))
        if negative { text.insert(UInt8(ascii: "-"), at: 0) }
        return Int64(String(decoding: text, as: UTF8.self))
    }

    /// -1, 0 or 1.
    static func compare(_ a: Self, _ b: Self) -> Int {
        if a.isZero && b.isZero { return 0 }
        if a.isZero { return b.negative ? 1 : -1 }
        if b.isZero { return a.negative ? -1 : 1 }
        if a.negative != b.negative { return a.negative ? -1 : 1 }
        var m = BigDecimalInteger.compare(a.magnitudeOrder, b.magnitudeOrder)
        if m == 0 {
            let n = max(a.digits.count, b.digits.count)
            let da = a.digits + Array(repeating: 0x30, count: n - a.digits.count)
            let db = b.digits + Array(repeating: 0x30, count: n - b.digits.count)
            m = da == db ? 0 : (da.lexicographicallyPrecedes(db) ? -1 : 1)
        }
        return a.negative ? -m : m
    }
}

/// A signed integer of any size as decimal digits: only what the oracle needs (compare, add small).
struct BigDecimalInteger {
    var negative: Bool
    /// Decimal digits without leading zeros; empty for zero.
    var magnitude: [UInt8]

    init(negative: Bool, magnitude: [UInt8]) {
        var m = magnitude[...]
        while m.first == 0x30 { m.removeFirst() }
        self.magnitude = Array(m)
        self.negative = self.magnitude.isEmpty ? false : negative
    }

    init(_ value: Int) {
        self.init(negative: value < 0, magnitude: Array(String(value.magnitude).utf8))
    }

    /// The value as an `Int` (callers use it only after bounding it).
    var small: Int { (negative ? -1 : 1) * (Int(String(decoding: magnitude, as: UTF8.self)) ?? 0) }

    static func compareMagnitude(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        return a == b ? 0 : (a.lexicographicallyPrecedes(b) ? -1 : 1)
    }

    static func compare(_ a: Self, _ b: Self) -> Int {
        if a.negative != b.negative { return a.negative ? -1 : 1 }
        let m = compareMagnitude(a.magnitude, b.magnitude)
        return a.negative ? -m : m
    }

    /// self + n, for a small `n`.
    func adding(_ n: Int) -> Self {
        let other = Self(n)
        if negative == other.negative {
            return Self(negative: negative, magnitude: Self.add(magnitude, other.magnitude))
        }
        if Self.compareMagnitude(magnitude, other.magnitude) >= 0 {
            return Self(negative: negative, magnitude: Self.subtract(magnitude, other.magnitude))
        }
        return Self(negative: other.negative, magnitude: Self.subtract(other.magnitude, magnitude))
    }

    private static func add(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        var carry = 0
        var i = a.count - 1, j = b.count - 1
        while i >= 0 || j >= 0 || carry > 0 {
            let s = (i >= 0 ? Int(a[i]) - 48 : 0) + (j >= 0 ? Int(b[j]) - 48 : 0) + carry
            result.append(UInt8(s % 10 + 48))
            carry = s / 10
            i -= 1; j -= 1
        }
        return result.reversed()
    }

    /// a - b for a >= b.
    private static func subtract(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        var borrow = 0
        var i = a.count - 1, j = b.count - 1
        while i >= 0 {
            var d = Int(a[i]) - 48 - (j >= 0 ? Int(b[j]) - 48 : 0) - borrow
            borrow = d < 0 ? 1 : 0
            if d < 0 { d += 10 }
            result.append(UInt8(d + 48))
            i -= 1; j -= 1
        }
        return result.reversed()
    }
}
