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
        if value.isInteger, divisor.isInteger, let v = value.int64Value, let d = divisor.int64Value, d != 0 {
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
