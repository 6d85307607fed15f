import KeelCore

/// Exact decimal arithmetic for `multipleOf` (no `Double` rounding: 0.0075 is a multiple of 0.0001,
/// and 1e308 is a multiple of 0.5).
///
/// value = A·10^p and divisor = B·10^q with integers A, B. Write B = 2^s·5^t·B′ with B′ coprime
/// to 10. Then value/divisor = A·10^(p−q)/B is an integer exactly when 2^s and 5^t divide
/// A·10^(p−q) and B′ divides A. So the cost depends on the digits (at most
/// `JSONNumber.maximumDigits` each), never on the exponents: `1e999999999` against a 25-digit
/// divisor is answered as fast as `1e9`.
enum Arithmetic {
    /// True when `value / divisor` is an integer, computed on the exact decimal forms.
    static func isMultiple(_ value: JSONNumber, of divisor: JSONNumber) -> Bool {
        if let (v, d) = aligned(value, divisor), d != 0 {
            return v.remainderReportingOverflow(dividingBy: d).partialValue == 0
        }
        let a = value.decimal
        let b = divisor.decimal
        if a.digits.isEmpty { return true }
        if b.digits.isEmpty { return false }
        // Int128: the exponents are Ints and their difference must not overflow.
        let shift = Int128(a.exponent) - Int128(b.exponent)
        let A = BigUInt(decimalDigits: a.digits.utf8)
        var B = BigUInt(decimalDigits: b.digits.utf8)
        let twos = B.trailingZeroBitCount
        B.shiftRight(twos)
        var fives = 0
        while B.remainder(dividingBy: 5) == 0 {
            _ = B.divide(by: 5)
            fives += 1
        }
        // 2^s | A·10^shift  ⟺  s − shift ≤ v2(A); likewise for 5.
        if Int128(twos) - shift > Int128(A.trailingZeroBitCount) { return false }
        let neededFives = Int128(fives) - shift
        if neededFives > 0 && !hasFactorsOfFive(A, atLeast: Int(neededFives)) { return false }
        return A.isDivisible(by: B)
    }

    /// -1, 0 or 1 as `a` is less than, equal to or greater than `b`; exact, and without
    /// allocating when both have a ``JSONNumber/compactDecimal`` within 18 powers of ten.
    static func compare(_ a: JSONNumber, _ b: JSONNumber) -> Int {
        if let (x, y) = aligned(a, b) { return x < y ? -1 : x == y ? 0 : 1 }
        return a < b ? -1 : a == b ? 0 : 1
    }

    /// The significands of `a` and `b` scaled to a common power of ten (`12.5`, `0.01` →
    /// 1250, 1), or nil when either has no compact form or scaling would overflow `Int64`.
    /// Integers stored as `Int64` come back as they are.
    private static func aligned(_ a: JSONNumber, _ b: JSONNumber) -> (Int64, Int64)? {
        guard let x = a.compactDecimal, let y = b.compactDecimal else { return nil }
        return aligned(x, y)
    }

    /// As ``aligned(_:_:)-(JSONNumber,JSONNumber)``, on compact forms (significand, power of ten).
    static func aligned(_ a: (Int64, Int), _ b: (Int64, Int)) -> (Int64, Int64)? {
        let (x, p) = a
        let (y, q) = b
        if p == q { return (x, y) }
        if p > q {
            guard let scaled = scale(x, by: p - q) else { return nil }
            return (scaled, y)
        }
        guard let scaled = scale(y, by: q - p) else { return nil }
        return (x, scaled)
    }

    /// `n · 10^power`, or nil when it does not fit.
    private static func scale(_ n: Int64, by power: Int) -> Int64? {
        guard power <= 18 else { return n == 0 ? 0 : nil }
        var factor: Int64 = 1
        for _ in 0..<power { factor &*= 10 }
        let (product, overflow) = n.multipliedReportingOverflow(by: factor)
        return overflow ? nil : product
    }

    /// True when 5^count divides `n` (non-zero).
    private static func hasFactorsOfFive(_ n: BigUInt, atLeast count: Int) -> Bool {
        // 5^k > 2^(2k), so no more than bitWidth/2 factors fit in n.
        if count > n.bitWidth / 2 + 1 { return false }
        var n = n
        for _ in 0..<count {
            if n.divide(by: 5) != 0 { return false }
        }
        return true
    }
}
