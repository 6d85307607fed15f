import KeelCore

/// A compiled schema lowered to flat, trivially copyable instructions, for ``Validator/isValid(_:)``.
///
/// The ``Node`` graph costs reference counting on every keyword it visits (its payloads are
/// arrays and class references) and per-call state (five arrays); about 42% of `isValid` on the
/// jsonschema-rs "fast" input (issue 15, docs/performance.md). Here each subschema is a `type`
/// mask and a range of ``FlatOp``s; an op's operands are integers and indices into tables the
/// program owns, so running it retains nothing but the instance's own containers and allocates
/// nothing.
///
/// Only graphs without cycles, with no path longer than ``maximumPathLength``, whose keywords all
/// have an op are lowered (see `FlatProgram+Compile.swift`); others keep the ``Node`` evaluator.
/// Without a cycle and with paths that short, an evaluation can never reach the run-time limits
/// that make the ``Node`` evaluator abort (instance depth 512, nesting 1,024: each step deeper
/// follows an edge of the graph), so the flat program needs no depth bookkeeping, may check an
/// object's keywords in another order, and still answers exactly as the evaluator does.
///
/// Lifetime: every table is a buffer allocated in `init` and freed in `deinit`; the program is
/// immutable in between and owned by its ``Validator``, so the pointers evaluation reads stay
/// valid for as long as anybody can call it. `@unchecked Sendable` for that reason.
final class FlatProgram: @unchecked Sendable {
    /// Graphs with a longer path of subschemas keep the ``Node`` evaluator: well under both
    /// run-time limits, and lowering recurses along paths (a debug build's frames on a 512 KiB
    /// pool-thread stack).
    static let maximumPathLength = 128

    /// Every subschema's ops, one range per subschema.
    let ops: UnsafeMutableBufferPointer<FlatOp>
    /// Subschema `i`: its `type` mask and its other ops, `ops[schemas[i].ops]`.
    let schemas: UnsafeMutableBufferPointer<FlatSchema>
    /// Subschema index lists (`allOf`, `anyOf`, `oneOf`, tuple items).
    let lists: UnsafeMutableBufferPointer<Int32>
    /// The shapes of `object` ops: their property, pattern and additional subschemas.
    let objects: UnsafeMutableBufferPointer<FlatObject>
    /// Names of properties and required members, referring into `bytes`.
    let names: UnsafeMutableBufferPointer<FlatName>
    /// `patternProperties` entries: regex index and subschema.
    let patterns: UnsafeMutableBufferPointer<FlatPattern>
    /// UTF-8 bytes of every name in `names`.
    let bytes: UnsafeMutableBufferPointer<UInt8>
    /// `enum` and `const` values.
    let values: UnsafeMutableBufferPointer<JSONValue>
    /// `enum` lists longer than ``FlatProgram/enumScanLimit``, hashed.
    let valueSets: UnsafeMutableBufferPointer<Set<JSONValue>>
    /// Bounds of `minimum`…`multipleOf`.
    let numbers: UnsafeMutableBufferPointer<JSONNumber>
    let regexes: UnsafeMutableBufferPointer<ECMARegex>
    let formats: UnsafeMutableBufferPointer<FormatChecker>
    /// The subschema `isValid` starts from.
    let root: Int32

    /// `enum` lists up to this long are scanned rather than hashed (as in the ``Node`` evaluator).
    static let enumScanLimit = 8

    init(_ b: FlatProgramBuilder, root: Int32) {
        ops = .copying(b.ops)
        schemas = .copying(b.schemas)
        lists = .copying(b.lists)
        objects = .copying(b.objects)
        names = .copying(b.names)
        patterns = .copying(b.patterns)
        bytes = .copying(b.bytes)
        values = .copying(b.values)
        valueSets = .copying(b.valueSets)
        numbers = .copying(b.numbers)
        regexes = .copying(b.regexes)
        formats = .copying(b.formats)
        self.root = root
    }

    deinit {
        ops.free()
        schemas.free()
        lists.free()
        objects.free()
        names.free()
        patterns.free()
        bytes.free()
        values.free()
        valueSets.free()
        numbers.free()
        regexes.free()
        formats.free()
    }
}

/// One instruction: what to check (`code`) and integer operands whose meaning depends on it
/// (documented per case of ``FlatOp/Code``). Trivially copyable.
struct FlatOp {
    enum Code: UInt8 {
        /// The `false` schema.
        case fail
        /// `enum`: `values[a ..< a + b]`, scanned; `enumSet` also hashes `valueSets[c]`.
        case enumScan, enumSet
        /// `enum` of strings only: `names[a ..< a + b]`, compared as UTF-8 bytes.
        case enumStrings
        /// `const`: `values[a]`.
        case const
        /// `numbers[a]`; `n` its significand and `b` its power of ten when `c == 1` (compact).
        case multipleOf, maximum, exclusiveMaximum, minimum, exclusiveMinimum
        /// `n`: the bound.
        case maxLength, minLength, maxItems, minItems, maxProperties, minProperties
        /// `regexes[a]`.
        case pattern
        /// `formats[a]`.
        case format
        case uniqueItems
        /// `required`, `properties`, `patternProperties`, `additionalProperties` in one pass: `objects[a]`.
        case object
        /// `a`: the subschema for every member name.
        case propertyNames
        /// Tuple items: `lists[a ..< a + b]`.
        case prefixItems
        /// `a`: the subschema for items from index `b` on.
        case items
        /// `a`: the subschema; `b`: minimum matches; `c`: maximum, or -1 for none.
        case contains
        /// `lists[a ..< a + b]`.
        case allOf, anyOf, oneOf
        /// `a`: the subschema.
        case not
        /// `a`: `if`; `b`: `then` or -1; `c`: `else` or -1.
        case conditional
        /// `a`: a subschema applied to the same value (`$ref`).
        case apply
    }

    var code: Code
    var a: Int32 = 0
    var b: Int32 = 0
    var c: Int32 = 0
    var n: Int64 = 0
}

/// One subschema. Its `type` keyword is no op but a mask checked before its ops: most
/// subschemas of a contract are a `type` and little else, and then they cost no op dispatch
/// and no call (see `FlatProgram.run`).
struct FlatSchema {
    /// The types the value may have (``TypeMask/any`` without a `type` keyword).
    var types: TypeMask
    /// The other keywords' ops.
    var ops: FlatRange
}

/// A half-open range of indices into one of the program's tables.
struct FlatRange {
    var start: Int32
    var end: Int32
}

/// The members an `object` op checks: `names[names]` (each a declared property, a required
/// name, or both), `patterns[patterns]`, and the `additionalProperties` subschema or -1.
struct FlatObject {
    var names: FlatRange
    var patterns: FlatRange
    var additional: Int32
    /// How many of `names` are required (each name appears once, and so does each member key).
    var required: Int32
}

/// A property name: `bytes[start ..< start + count]`.
struct FlatName {
    var start: Int32
    var count: Int32
    /// The first 8 bytes (see ``prefix(_:)``).
    var prefix: UInt64
    /// The `properties` subschema, or -1 when the name is only required.
    var schema: Int32
    var required: Bool

    /// The first (up to) 8 bytes of `bytes` as one little-endian word, zero-padded.
    @inline(__always)
    static func prefix(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var word: UInt64 = 0
        for i in 0..<Swift.min(bytes.count, 8) { word |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        return word
    }
}

/// A `patternProperties` entry.
struct FlatPattern {
    var regex: Int32
    var schema: Int32
}

extension UnsafeMutableBufferPointer {
    /// A new buffer holding `array`'s elements (freed with ``free()``).
    static func copying(_ array: [Element]) -> Self {
        let buffer = Self.allocate(capacity: Swift.max(array.count, 1))
        _ = buffer.initialize(fromContentsOf: array)
        return Self(start: buffer.baseAddress, count: array.count)
    }

    /// Deinitializes and deallocates a buffer made by ``copying(_:)``.
    func free() {
        _ = deinitialize()
        deallocate()
    }
}
