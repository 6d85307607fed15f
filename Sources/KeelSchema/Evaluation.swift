import KeelCore

/// The state of one validation pass over one instance.
///
/// Two modes share the code: `full == false` (``Validator/isValid(_:)``) stops at the first
/// failure and records nothing; `full == true` (``Validator/validate(_:)``) keeps going and
/// records errors with their instance and keyword paths, up to `maxErrors`. Subschemas whose
/// failure is not itself an error (`anyOf` branches, `not`, `if`, `contains`) are probed with
/// `full` off.
struct Evaluation {
    var full: Bool
    var errors: [ValidationError] = []
    let maxErrors: Int
    /// Unescaped instance path tokens (only maintained when `full`).
    var instancePath: [String] = []
    /// Already-escaped keyword path segments (only maintained when `full`).
    var keywordPath: [String] = []
    /// Dynamic scope for `$dynamicRef`: the resources entered, outermost first.
    var scope: [Resource] = []
    let trackScope: Bool
    /// `$ref` targets entered, with the instance depth they were entered at.
    var referenceStack: [(node: Node, depth: Int)] = []
    var depth = 0
    /// Subschemas being evaluated one inside another now (bounded by `maximumEvaluationDepth`).
    var nesting = 0
    /// Set when evaluation had to stop: a `$ref` cycle without progress, or too-deep nesting.
    var abort: ValidationError?

    /// Instances nested deeper than this are rejected rather than risking the stack (each level
    /// costs a few frames; 512 is also JSONParser's default nesting limit, so parsed input never
    /// reaches it).
    static let maximumDepth = SchemaLimits.maximumInstanceDepth

    /// Write-only annotations for evaluations nobody reads (`collect == false`): one per
    /// validation (on the caller's stack) instead of an `Annotations` value per node.
    let discard: UnsafeMutablePointer<Annotations>

    init(full: Bool, maxErrors: Int, trackScope: Bool, discard: UnsafeMutablePointer<Annotations>) {
        self.full = full
        self.maxErrors = maxErrors
        self.trackScope = trackScope
        self.discard = discard
    }

    /// Runs `body` with a fresh evaluation whose scratch storage lives on the stack.
    /// Always inlined: unspecialized, creating and destroying the evaluation went through value
    /// witnesses and metadata lookups, ~45 ns per call (issue 15).
    @inline(__always)
    static func with<R>(full: Bool, maxErrors: Int, trackScope: Bool, _ body: (inout Evaluation) -> R) -> R {
        withUnsafeTemporaryAllocation(of: Annotations.self, capacity: 1) { buffer in
            let p = buffer.baseAddress!
            p.initialize(to: Annotations())
            defer { p.deinitialize(count: 1) }
            var evaluation = Evaluation(full: full, maxErrors: maxErrors, trackScope: trackScope, discard: p)
            return body(&evaluation)
        }
    }

    var shouldStop: Bool { abort != nil || errors.count >= maxErrors }

    /// Applies `node` to `value`; merges the annotations into `out` when `collect` and valid.
    mutating func evaluate(_ node: Node, _ value: JSONValue, _ out: inout Annotations, collect: Bool) -> Bool {
        let keywords = node.keywords
        if keywords.isEmpty { return true }
        if nesting >= SchemaLimits.maximumEvaluationDepth {
            if abort == nil {
                abort = ValidationError(
                    instanceLocation: "", keywordLocation: "", keyword: "depth",
                    message: "the evaluation nests subschemas deeper than \(SchemaLimits.maximumEvaluationDepth) levels")
            }
            return false
        }
        nesting += 1
        defer { nesting -= 1 }
        var pushedScope = false
        if trackScope, scope.last !== node.resource {
            scope.append(node.resource)
            pushedScope = true
        }
        var valid = true
        let first = keywords.baseAddress!
        if collect || node.needsAnnotations {
            var local = Annotations()
            for i in 0..<keywords.count where !check(first + i, value, &local, gather: true) {
                valid = false
                if !full || shouldStop { break }
            }
            if valid && collect { out.merge(local) }
        } else {
            for i in 0..<keywords.count where !check(first + i, value, &discard.pointee, gather: false) {
                valid = false
                if !full || shouldStop { break }
            }
        }
        if pushedScope { scope.removeLast() }
        return valid
    }

    /// Records an error (when `full`) and returns false, so keyword code can `return fail(…)`.
    mutating func fail(_ keyword: String, _ message: @autoclosure () -> String, appendKeyword: Bool = true) -> Bool {
        guard full, errors.count < maxErrors else { return false }
        var instance = ""
        for token in instancePath { instance += "/" + JSONPointer.escape(token) }
        var location = ""
        for segment in keywordPath { location += "/" + segment }
        if appendKeyword { location += "/" + keyword }
        errors.append(
            ValidationError(instanceLocation: instance, keywordLocation: location, keyword: keyword, message: message())
        )
        return false
    }

    /// As ``fail(_:_:appendKeyword:)`` for a child value (`token` is its property name or index).
    mutating func failAt(_ token: String, _ keyword: String, _ message: @autoclosure () -> String) -> Bool {
        guard full else { return false }
        instancePath.append(token)
        defer { instancePath.removeLast() }
        return fail(keyword, message())
    }

    /// Applies `node` to a child value (property or item): a new instance location.
    mutating func child(
        _ node: Node, _ value: JSONValue, _ token: @autoclosure () -> String,
        keyword: @autoclosure () -> String
    ) -> Bool {
        if full {
            instancePath.append(token())
            keywordPath.append(keyword())
        }
        depth += 1
        let ok: Bool
        if depth > Self.maximumDepth {
            if abort == nil {
                abort = ValidationError(
                    instanceLocation: "", keywordLocation: "", keyword: "depth",
                    message: "the instance is nested deeper than \(Self.maximumDepth) levels")
            }
            ok = false
        } else {
            ok = evaluate(node, value, &discard.pointee, collect: false)
        }
        depth -= 1
        if full {
            instancePath.removeLast()
            keywordPath.removeLast()
        }
        return ok
    }

    /// Applies `node` to the same value (allOf, then/else, $ref, …), keeping its errors.
    mutating func inPlace(
        _ node: Node, _ value: JSONValue, _ out: inout Annotations, gather: Bool,
        keyword: @autoclosure () -> String
    ) -> Bool {
        if full { keywordPath.append(keyword()) }
        let ok = evaluate(node, value, &out, collect: gather)
        if full { keywordPath.removeLast() }
        return ok
    }

    /// Applies `node` without recording errors: the caller decides what failure means.
    mutating func probe(_ node: Node, _ value: JSONValue, _ out: inout Annotations, gather: Bool) -> Bool {
        let saved = full
        full = false
        let ok = evaluate(node, value, &out, collect: gather)
        full = saved
        return ok
    }

    /// Follows a `$ref`/`$dynamicRef`. Entering the same target again at the same instance
    /// location without having consumed input in between is an infinite loop: it aborts the
    /// evaluation with an error instead of exhausting the stack.
    mutating func followReference(
        _ target: Node, _ value: JSONValue, _ out: inout Annotations, gather: Bool,
        keyword: String
    ) -> Bool {
        if abort != nil { return false }
        var i = referenceStack.count - 1
        while i >= 0, referenceStack[i].depth == depth {
            if referenceStack[i].node === target {
                var location = ""
                for token in instancePath { location += "/" + JSONPointer.escape(token) }
                abort = ValidationError(
                    instanceLocation: location, keywordLocation: keywordPath.map { "/" + $0 }.joined() + "/" + keyword,
                    keyword: keyword,
                    message: "\(keyword) cycle through \(target.location) never consumes input (infinite recursion)")
                return false
            }
            i -= 1
        }
        referenceStack.append((target, depth))
        let ok = inPlace(target, value, &out, gather: gather, keyword: keyword)
        referenceStack.removeLast()
        return ok
    }
}

/// Short JSON text of a value for messages (long values are cut).
func describe(_ value: JSONValue) -> String {
    let text = JSONWriter.string(value, sortedKeys: true)
    if text.unicodeScalars.count <= 60 { return text }
    return String(String.UnicodeScalarView(text.unicodeScalars.prefix(57))) + "..."
}
