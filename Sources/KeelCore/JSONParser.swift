/// A strict RFC 8259 JSON parser over UTF-8 bytes.
///
/// Hand-written because it sits on every message's path; `docs/performance.md` has the figures
/// against Foundation's `JSONSerialization`. It rejects what RFC 8259 rejects: trailing commas,
/// control characters and invalid UTF-8 in strings, leading zeros, lone surrogates, and it bounds
/// nesting depth so hostile input cannot exhaust the stack, and number size
/// (``JSONNumber/maximumDigits``, ``JSONNumber/maximumExponent``) so no number costs more than
/// its digits. Objects become ``JSONObject``s with byte-exact keys, in their order.
public struct JSONParser {
    /// Nesting deeper than this is rejected (each level costs a stack frame).
    public static let defaultMaximumDepth = 512

    /// Why a text is not JSON, with the byte offset where the parser gave up.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// Parses one JSON value that must fill the whole input (white space aside).
    /// - Throws: ``SyntaxError``.
    public static func parse(_ bytes: some Collection<UInt8>, maximumDepth: Int = defaultMaximumDepth) throws
        -> JSONValue
    {
        if let result = try bytes.withContiguousStorageIfAvailable({ buffer in
            try parse(UnsafeRawBufferPointer(buffer), maximumDepth: maximumDepth)
        }) {
            return result
        }
        return try Array(bytes).withUnsafeBytes { try parse($0, maximumDepth: maximumDepth) }
    }

    /// Parses one JSON value from a string.
    /// - Throws: ``SyntaxError``.
    public static func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try parse(UnsafeRawBufferPointer($0)) }
    }

    public static func parse(_ buffer: UnsafeRawBufferPointer, maximumDepth: Int = defaultMaximumDepth)
        throws(SyntaxError) -> JSONValue
    {
        var parser = Cursor(bytes: buffer, maximumDepth: maximumDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.index != buffer.count { throw parser.error("unexpected data after the JSON value") }
        return value
    }
}

private struct Cursor {
    let bytes: UnsafeRawBufferPointer
    let maximumDepth: Int
    var index = 0
    /// The members of the objects being parsed, innermost last: each object's members are
    /// collected here and stored once, at their final count (one allocation an object, not one
    /// for each doubling of its member list).
    var pendingMembers: [(String, JSONValue)] = []

    init(bytes: UnsafeRawBufferPointer, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    func error(_ reason: String) -> JSONParser.SyntaxError { .init(offset: index, reason: reason) }

    @inline(__always) var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    @inline(__always) mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParser.SyntaxError) -> JSONValue {
        guard let c = current else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character '\(printable(c))'")
        }
    }

    mutating func expectWord(_ word: StaticString) throws(JSONParser.SyntaxError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("invalid literal") }
        let w = word.utf8Start
        for i in 0..<count where bytes[index + i] != w[i] { throw error("invalid literal") }
        index += count
    }

    mutating func parseObject(depth: Int) throws(JSONParser.SyntaxError) -> JSONValue {
        if depth > maximumDepth { throw error("nesting deeper than \(maximumDepth)") }
        index += 1
        skipWhitespace()
        if current == UInt8(ascii: "}") { index += 1; return .object(JSONObject()) }
        let first = pendingMembers.count
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after an object key") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            pendingMembers.append((key, value))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                // A repeated key keeps its first position and its last value (JSONObject.init).
                let members = JSONObject(pendingMembers[first...])
                pendingMembers.removeSubrange(first...)
                return .object(members)
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParser.SyntaxError) -> JSONValue {
        if depth > maximumDepth { throw error("nesting deeper than \(maximumDepth)") }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { index += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(elements)
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    mutating func parseNumber() throws(JSONParser.SyntaxError) -> JSONNumber {
        let start = index
        var integral = true
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, isDigit(first) else { throw error("expected a digit") }
        index += 1
        if first == UInt8(ascii: "0"), let next = current, isDigit(next) { throw error("leading zero in a number") }
        while let c = current, isDigit(c) { index += 1 }
        var digitCount = index - start
        if current == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard let c = current, isDigit(c) else { throw error("expected a digit after '.'") }
            let fractionStart = index
            while let c = current, isDigit(c) { index += 1 }
            digitCount += index - fractionStart
        }
        if bytes[start] == UInt8(ascii: "-") { digitCount -= 1 }
        if digitCount > JSONNumber.maximumDigits {
            throw JSONParser.SyntaxError(
                offset: start, reason: "number with more than \(JSONNumber.maximumDigits) digits (the limit)")
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            integral = false
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let c = current, isDigit(c) else { throw error("expected a digit in the exponent") }
            // The exponent's value, stopping early: leading zeros are allowed, size is not.
            var exponent = 0
            while let c = current, isDigit(c) {
                exponent = exponent * 10 + Int(c &- 48)
                if exponent > JSONNumber.maximumExponent {
                    throw JSONParser.SyntaxError(
                        offset: start,
                        reason: "number exponent beyond ±\(JSONNumber.maximumExponent) (the limit)")
                }
                index += 1
            }
        }
        let length = index - start
        if integral && length <= 18 {
            // Fast path: fits in Int64 without overflow checks.
            var value: Int64 = 0
            var i = start
            let negative = bytes[i] == UInt8(ascii: "-")
            if negative { i += 1 }
            while i < index { value = value &* 10 &+ Int64(bytes[i] &- 48); i += 1 }
            // `-0` keeps its sign on the way through (JSONNumber keeps the literal).
            if negative && value == 0 { return JSONNumber(literal: "-0") }
            return JSONNumber(negative ? -value : value)
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        return JSONNumber(literal: text)
    }

    @inline(__always) func isDigit(_ c: UInt8) -> Bool { c &- 48 < 10 }

    mutating func parseString() throws(JSONParser.SyntaxError) -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes, ASCII or valid UTF-8.
        while index < bytes.count {
            let c = bytes[index]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                index += 1
                return try makeString(slice, at: start)
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("control character in a string") }
            index += 1
        }
        var scratch = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let c = bytes[index]
            switch c {
            case UInt8(ascii: "\""):
                index += 1
                guard let string = String(validating: scratch, as: UTF8.self) else {
                    throw JSONParser.SyntaxError(offset: start, reason: "invalid UTF-8 in a string")
                }
                return string
            case UInt8(ascii: "\\"):
                index += 1
                try appendEscape(to: &scratch)
            case 0..<0x20:
                throw error("control character in a string")
            default:
                scratch.append(c)
                index += 1
            }
        }
        throw error("unterminated string")
    }

    func makeString(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(JSONParser.SyntaxError) -> String {
        guard let s = String(validating: buffer, as: UTF8.self) else {
            throw JSONParser.SyntaxError(offset: offset, reason: "invalid UTF-8 in a string")
        }
        return s
    }

    mutating func appendEscape(to out: inout [UInt8]) throws(JSONParser.SyntaxError) {
        guard let c = current else { throw error("unterminated escape") }
        index += 1
        switch c {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if (0xD800..<0xDC00).contains(scalar) {
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u")
                else { throw error("lone high surrogate") }
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw error("invalid low surrogate") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw error("lone low surrogate")
            }
            out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
        default:
            throw error("invalid escape '\\\(printable(c))'")
        }
    }

    mutating func hex4() throws(JSONParser.SyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            index += 1
        }
        return v
    }

    func printable(_ c: UInt8) -> String {
        (0x20..<0x7F).contains(c) ? String(UnicodeScalar(c)) : "\\x" + String(c, radix: 16)
    }
}
