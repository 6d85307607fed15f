/// A look at a line before it is parsed: is it a batch, and does it hold more items than allowed?
/// Refusing an oversized batch this way costs one pass over the bytes and no allocation, where
/// parsing 4 million items first took 176 MB (issue 10, item 4).
enum BatchScan {
    /// True when the first non-blank byte opens an array.
    static func isBatch(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for b in bytes where b != 0x20 && b != 0x09 && b != 0x0D && b != 0x0A { return b == 0x5B }
        return false
    }

    /// The number of top-level items, counted only up to `limit + 1` (the scan stops there).
    /// Malformed input gives some count; the parser reports the real error afterwards.
    static func itemCount(_ bytes: UnsafeRawBufferPointer, upTo limit: Int) -> Int {
        var depth = 0, items = 0
        var inString = false, escaped = false, sawValue = false
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
                continue
            }
            switch b {
            case 0x22:
                inString = true
                if depth == 1 { sawValue = true }
            case 0x5B, 0x7B:
                depth += 1
                if depth == 2 { sawValue = true }
            case 0x5D, 0x7D: depth -= 1
            case 0x2C where depth == 1:
                items += 1
                if items > limit { return items }
            case 0x20, 0x09, 0x0D, 0x0A: break
            default: if depth == 1 { sawValue = true }
            }
        }
        return sawValue ? items + 1 : items
    }
}
