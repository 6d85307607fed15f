import FuzzSupport
import KeelCore

runFuzzer(fuzzNumbers)

/// fuzz-numbers: `JSONNumber` comparison against an exact oracle written here on the digit strings.
///
/// Input: two JSON numbers separated by one space (`1e5 100000`). Both must parse as numbers, else
/// the input is skipped. Properties checked against ``ExactNumber`` (which handles exponents of any
/// length): `==`, `<` and `JSONValue` equality; equal numbers hash alike; `isInteger`; `int64Value`
/// is exact when present and present for every integer below 10^18 in magnitude; `doubleValue` is
/// monotone (a < b implies a.double <= b.double).
func fuzzNumbers(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let space = bytes.firstIndex(of: 0x20) else { return }
    let left = Array(bytes[..<space]), right = Array(bytes[(space + 1)...])
    guard let a = number(left), let b = number(right) else { return }
    guard let x = ExactNumber(left), let y = ExactNumber(right) else {
        fatalError("the parser accepted a number the JSON grammar rejects: \(text(left)) \(text(right))")
    }
    let expected = ExactNumber.compare(x, y)
    let context = "\(text(left)) vs \(text(right))"
    check((a == b) == (expected == 0), "== is wrong for \(context)")
    check((a < b) == (expected < 0), "< is wrong for \(context)")
    check((b < a) == (expected > 0), "< is wrong for \(context) (reversed)")
    check((JSONValue.number(a) == .number(b)) == (expected == 0), "JSONValue == is wrong for \(context)")
    if expected == 0 { check(a.hashValue == b.hashValue, "equal numbers hash differently: \(context)") }
    if expected < 0 { check(a.doubleValue <= b.doubleValue, "doubleValue is not monotone: \(context)") }
    for (n, e, t) in [(a, x, left), (b, y, right)] {
        check(n.isInteger == e.isInteger, "isInteger is wrong for \(text(t))")
        if let i = n.int64Value {
            check(e.int64Value == i, "int64Value \(i) is wrong for \(text(t))")
        } else {
            check(!e.isInteger || !e.isBelowTenToThe18, "int64Value is missing for \(text(t))")
        }
    }
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// The number the reader makes of `bytes`, or nil when they are not one JSON number.
func number(_ bytes: [UInt8]) -> JSONNumber? {
    guard case .number(let n)? = try? JSONParser.parse(bytes) else { return nil }
    return n
}
