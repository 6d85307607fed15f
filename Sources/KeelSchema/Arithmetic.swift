import KeelCore

/// Exact decimal arithmetic for `multipleOf` (no `Double` rounding: 0.0075 is a multiple of 0.0001,
/// and 1e308 is a multiple of 0.5).
enum Arithmetic {
    /// True when `value / divisor` is an integer, computed on the exact decimal forms.
    static func isMultiple(_ value: JSONNumber, of divisor: JSONNumber) -> Bool {
        if let v = value.int64Value, let d = divisor.int64Value, d != 0, value.isInteger, divisor.isInteger {
            return v % d == 0
        }
        if let a = small(value), let b = small(divisor), let r = isMultiple(a, b) { return r }
        let a = value.decimal
        let b = divisor.decimal
        if a.digits.isEmpty { return true }
        if b.digits.isEmpty { return false }
        // value = A·10^ea, divisor = B·10^eb. If ea ≥ eb: B | A·10^(ea−eb). Else: B·10^(eb−ea) | A.
        let A = Array(a.digits.utf8).map { $0 - 48 }
        var B = Array(b.digits.utf8).map { $0 - 48 }
        let shift = a.exponent - b.exponent
        if shift >= 0 {
            return remainder(A, zeros: shift, modulo: B)
        }
        // B·10^k can only divide A when it is not longer than A.
        let k = -shift
        if B.count + k > A.count { return false }
        B += [UInt8](repeating: 0, count: k)
        return remainder(A, zeros: 0, modulo: B)
    }

    /// `(mantissa, exponent)` for literals whose significant digits fit in an Int64, parsed from
    /// the UTF-8 text without allocating (e.g. `12.5` → (125, -1), `1e2` → (1, 2)).
    static func small(_ n: JSONNumber) -> (Int64, Int)? {
        if let i = n.int64Value, n.isInteger, abs(i) < 1 << 62 { return (i, 0) }
        var mantissa: Int64 = 0
        var exponent = 0
        var negative = false
        var fraction = false
        var digits = 0
        var it = n.literal.utf8.makeIterator()
        while let c = it.next() {
            switch c {
            case UInt8(ascii: "-"): negative = true
            case UInt8(ascii: "."): fraction = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if mantissa == 0 && c == UInt8(ascii: "0") {
                    if fraction { exponent -= 1 }
                    continue
                }
                digits += 1
                if digits > 17 { return nil }
                mantissa = mantissa * 10 + Int64(c - 48)
                if fraction { exponent -= 1 }
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                var rest = ""
                while let d = it.next() { rest.unicodeScalars.append(Unicode.Scalar(d)) }
                guard let e = Int(rest.hasPrefix("+") ? String(rest.dropFirst()) : rest), abs(e) < 10_000 else {
                    return nil
                }
                exponent += e
            default: return nil
            }
        }
        return (negative ? -mantissa : mantissa, exponent)
    }

    /// The exact answer for small decimals, or nil when an intermediate value would overflow.
    static func isMultiple(_ a: (Int64, Int), _ b: (Int64, Int)) -> Bool? {
        if a.0 == 0 { return true }
        if b.0 == 0 { return nil }
        var scale: Int64 = 1
        let shift = abs(a.1 - b.1)
        if shift > 18 { return nil }
        for _ in 0..<shift { scale *= 10 }
        if a.1 >= b.1 {
            let (scaled, overflow) = a.0.multipliedReportingOverflow(by: scale)
            if overflow { return nil }
            return scaled % b.0 == 0
        }
        let (divisor, overflow) = b.0.multipliedReportingOverflow(by: scale)
        if overflow { return nil }
        return a.0 % divisor == 0
    }

    /// True when (digits followed by `zeros` zeros) mod `modulo` == 0. Decimal digit arrays, no
    /// leading zeros in `modulo`.
    private static func remainder(_ digits: [UInt8], zeros: Int, modulo: [UInt8]) -> Bool {
        if modulo.count <= 18 {
            var m: UInt64 = 0
            for d in modulo { m = m * 10 + UInt64(d) }
            var r: UInt64 = 0
            for d in digits { r = UInt64((UInt128(r) * 10 + UInt128(d)) % UInt128(m)) }
            if r == 0 { return true }
            // r·10^zeros mod m by fast exponentiation: the exponent may be huge (1e308, 1e999999).
            var base: UInt128 = 10 % UInt128(m)
            var e = zeros
            var p: UInt128 = 1 % UInt128(m)
            while e > 0 {
                if e & 1 == 1 { p = p * base % UInt128(m) }
                base = base * base % UInt128(m)
                e >>= 1
            }
            return UInt128(r) * p % UInt128(m) == 0
        }
        // Long division with a big modulus; bound the appended zeros (beyond that the value is
        // far outside any real payload and the answer only depends on 2s and 5s in the modulus).
        var r: [UInt8] = []
        func step(_ d: UInt8) {
            r.append(d)
            while let f = r.first, f == 0 { r.removeFirst() }
            while compare(r, modulo) >= 0 { subtract(&r, modulo) }
        }
        for d in digits { step(d) }
        for _ in 0..<min(zeros, 100_000) where !r.isEmpty { step(0) }
        return r.isEmpty
    }

    private static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        for (x, y) in zip(a, b) where x != y { return x < y ? -1 : 1 }
        return 0
    }

    private static func subtract(_ a: inout [UInt8], _ b: [UInt8]) {
        var borrow: Int = 0
        var i = a.count - 1
        var j = b.count - 1
        while i >= 0 {
            var d = Int(a[i]) - borrow - (j >= 0 ? Int(b[j]) : 0)
            borrow = 0
            if d < 0 {
                d += 10
                borrow = 1
            }
            a[i] = UInt8(d)
            i -= 1
            j -= 1
        }
        while let f = a.first, f == 0 { a.removeFirst() }
    }
}
