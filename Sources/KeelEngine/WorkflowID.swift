import Foundation

/// The rules for a workflow id a client or a parent workflow chooses (docs/guarantees.md, "Limits").
enum WorkflowID {
    /// Longest workflow id in UTF-8 bytes.
    static let maximumBytes = 256

    /// Why `id` cannot name a workflow, or nil when it can.
    ///
    /// SQLite compares ids by bytes, but the engine keeps live workflows in Swift dictionaries,
    /// where canonically equivalent strings ("é" as U+00E9 and as "e" + U+0301) are one key. Ids in
    /// Unicode normalization form C are never canonically equivalent unless byte-identical, so
    /// requiring NFC makes memory and store agree; NUL and any other code point are fine.
    static func problem(_ id: String) -> String? {
        if id.isEmpty || id.utf8.count > maximumBytes { return "must be 1 to \(maximumBytes) bytes" }
        if !id.utf8.allSatisfy({ $0 < 0x80 }),
            !id.precomposedStringWithCanonicalMapping.utf8.elementsEqual(id.utf8)
        {
            return "must be in Unicode normalization form C (NFC)"
        }
        return nil
    }
}
