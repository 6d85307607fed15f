/// A small unsigned big integer for exact `multipleOf` on long decimals (see ``Arithmetic``).
///
/// Little-endian 32-bit limbs with no zero limb at the top; empty means zero. Only the few
/// operations `multipleOf` needs, each linear in the limb count except ``remainder(dividingBy:)``.
struct BigUInt: Equatable {
    private(set) var limbs: [UInt32] = []

    /// The value of a run of ASCII decimal digits.
    init(decimalDigits digits: some Collection<UInt8>) {
        limbs.reserveCapacity(digits.count / 9 + 1)
        var chunk: UInt32 = 0
        var scale: UInt32 = 1
        for c in digits {
            chunk = chunk * 10 + UInt32(c &- 48)
            scale *= 10
            if scale == 1_000_000_000 {
                multiplyAdd(scale, chunk)
                (chunk, scale) = (0, 1)
            }
        }
        if scale > 1 { multiplyAdd(scale, chunk) }
    }

    var isZero: Bool { limbs.isEmpty }

    /// Bits up to and including the highest set one.
    var bitWidth: Int { limbs.last.map { limbs.count * 32 - $0.leadingZeroBitCount } ?? 0 }

    /// Factors of two (zero for zero).
    var trailingZeroBitCount: Int {
        guard let i = limbs.firstIndex(where: { $0 != 0 }) else { return 0 }
        return i * 32 + limbs[i].trailingZeroBitCount
    }

    /// self = self · m + a.
    mutating func multiplyAdd(_ m: UInt32, _ a: UInt32) {
        var carry = UInt64(a)
        for i in limbs.indices {
            let t = UInt64(limbs[i]) * UInt64(m) + carry
            limbs[i] = UInt32(truncatingIfNeeded: t)
            carry = t >> 32
        }
        if carry != 0 { limbs.append(UInt32(carry)) }
    }

    /// Divides in place by `d` (non-zero) and returns the remainder.
    mutating func divide(by d: UInt32) -> UInt32 {
        var r: UInt64 = 0
        for i in limbs.indices.reversed() {
            let t = r << 32 | UInt64(limbs[i])
            limbs[i] = UInt32(t / UInt64(d))
            r = t % UInt64(d)
        }
        trim()
        return UInt32(r)
    }

    /// The remainder of a division by `d` (non-zero), leaving self unchanged.
    func remainder(dividingBy d: UInt32) -> UInt32 {
        var r: UInt64 = 0
        for limb in limbs.reversed() { r = (r << 32 | UInt64(limb)) % UInt64(d) }
        return UInt32(r)
    }

    /// self >>= bits.
    mutating func shiftRight(_ bits: Int) {
        let words = bits / 32, rest = bits % 32
        guard words < limbs.count else { limbs = []; return }
        limbs.removeFirst(words)
        if rest > 0 {
            for i in limbs.indices {
                let high = i + 1 < limbs.count ? limbs[i + 1] << (32 - rest) : 0
                limbs[i] = limbs[i] >> rest | high
            }
        }
        trim()
    }

    /// True when `m` (non-zero) divides self. Binary long division: `bitWidth × m.limbs.count`
    /// limb operations, about 6 million for 4,096-digit operands (docs/guarantees.md, "Limits").
    func isDivisible(by m: BigUInt) -> Bool {
        if m.limbs.count <= 3 {  // r << 32 | limb < 2^128
            var mod: UInt128 = 0
            for limb in m.limbs.reversed() { mod = mod << 32 | UInt128(limb) }
            var r: UInt128 = 0
            for limb in limbs.reversed() { r = (r << 32 | UInt128(limb)) % mod }
            return r == 0
        }
        if m.bitWidth > bitWidth { return isZero }
        var r = BigUInt()
        for bit in (0..<bitWidth).reversed() {
            r.shiftLeftOne(insert: limbs[bit / 32] >> (bit % 32) & 1)
            if r.isAtLeast(m) { r.subtract(m) }
        }
        return r.isZero
    }

    private init() {}

    private mutating func trim() {
        while limbs.last == 0 { limbs.removeLast() }
    }

    private mutating func shiftLeftOne(insert bit: UInt32) {
        var carry = bit
        for i in limbs.indices {
            let next = limbs[i] >> 31
            limbs[i] = limbs[i] << 1 | carry
            carry = next
        }
        if carry != 0 { limbs.append(carry) }
    }

    /// self -= m, for self ≥ m.
    private mutating func subtract(_ m: BigUInt) {
        var borrow: UInt64 = 0
        for i in limbs.indices {
            let sub = UInt64(i < m.limbs.count ? m.limbs[i] : 0) + borrow
            let cur = UInt64(limbs[i])
            limbs[i] = UInt32(truncatingIfNeeded: cur &- sub)
            borrow = cur < sub ? 1 : 0
        }
        trim()
    }

    private func isAtLeast(_ b: BigUInt) -> Bool {
        if limbs.count != b.limbs.count { return limbs.count > b.limbs.count }
        for (x, y) in zip(limbs.reversed(), b.limbs.reversed()) where x != y { return x > y }
        return true
    }
}
