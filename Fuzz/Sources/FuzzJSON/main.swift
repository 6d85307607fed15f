import FuzzSupport
import KeelCore

runFuzzer(fuzzJSON)

/// fuzz-json: whatever the JSON reader accepts, the writer writes back to an equal value.
///
/// Properties checked on every input: parsing never crashes (it may throw `SyntaxError`); a parsed
/// value written and parsed again is equal to the first; writing is a fixed point after one round
/// (the sorted-key bytes of the first and second value are identical).
func fuzzJSON(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let value = try? JSONParser.parse(UnsafeRawBufferPointer(bytes)) else { return }
    let written = JSONWriter.bytes(value, sortedKeys: true)
    let again: JSONValue
    do {
        again = try JSONParser.parse(written)
    } catch {
        fatalError("the writer produced text the reader rejects (\(error)): \(String(decoding: written, as: UTF8.self))")
    }
    check(again == value, "round trip changed the value: \(String(decoding: written, as: UTF8.self))")
    let rewritten = JSONWriter.bytes(again, sortedKeys: true)
    check(rewritten == written, "writing is not a fixed point: \(String(decoding: written, as: UTF8.self))")
}
