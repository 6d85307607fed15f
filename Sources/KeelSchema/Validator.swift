public import KeelCore

/// A compiled JSON Schema: build once, then validate any number of instances from any thread.
///
/// ```swift
/// let validator = try Validator(schema: contract.input)
/// if !validator.isValid(payload) { throw KeelError.contractViolation(validator.validate(payload), input: true) }
/// ```
public final class Validator: Sendable {
    /// The schema this validator was compiled from.
    public let schema: JSONValue
    /// The options it was compiled with.
    public let options: ValidatorOptions
    let root: Node
    let trackScope: Bool
    /// Every node of the graph, so that `deinit` can take it apart without recursion.
    private let nodes: [Node]
    /// The graph lowered for `isValid`, when it can be (see ``FlatProgram``).
    let flat: FlatProgram?

    /// Compiles `schema`, resolving every `$ref` now (through `registry`, never the network).
    /// - Parameters:
    ///   - schema: a schema object or boolean; `$schema` picks the dialect, else `options.defaultDialect`.
    ///   - registry: schemas that `$ref`/`$schema` may name besides the bundled meta-schemas.
    ///   - options: dialect default, format assertion, error cap.
    /// - Throws: `KeelError(.invalidSchema)` for a malformed keyword, an invalid `pattern`, an unknown
    ///   `$schema`, an unresolvable `$ref` (the message names it) or a `$ref` cycle that never
    ///   consumes input.
    public init(schema: JSONValue, registry: SchemaRegistry = .init(), options: ValidatorOptions = .init()) throws {
        let compiler = Compiler(registry: registry, options: options)
        self.schema = schema
        self.options = options
        self.root = try compiler.compile(schema)
        self.trackScope = compiler.usesDynamicScope
        self.nodes = compiler.takeNodes()
        self.flat = trackScope ? nil : FlatProgram.lower(root)
    }

    deinit { Node.dismantle(nodes) }

    /// True when `instance` is valid. Stops at the first failure and builds no messages.
    public func isValid(_ instance: JSONValue) -> Bool {
        // Borrowed, not retained: `self` holds the program for the whole call (a retain and a
        // release were ~3% of `isValid` on the fast input).
        if let flat { return Unmanaged.passUnretained(flat)._withUnsafeGuaranteedRef { $0.isValid(instance) } }
        return isValidByEvaluation(instance)
    }

    /// `isValid` on the ``Node`` graph, also for schemas that have a flat program (tests compare the two).
    func isValidByEvaluation(_ instance: JSONValue) -> Bool {
        Evaluation.with(full: false, maxErrors: 1, trackScope: trackScope) { evaluation in
            let ok = evaluation.evaluate(root, instance, &evaluation.discard.pointee, collect: false)
            return ok && evaluation.abort == nil
        }
    }

    /// Every error in `instance`, up to `options.maxErrors`, in schema order; empty when valid.
    ///
    /// An evaluation that cannot finish (a `$ref` cycle reached without consuming input, an
    /// instance nested deeper than ``SchemaLimits/maximumInstanceDepth`` or subschemas nested
    /// deeper than ``SchemaLimits/maximumEvaluationDepth``) ends with one error describing that.
    public func validate(_ instance: JSONValue) -> [ValidationError] {
        Evaluation.with(full: true, maxErrors: options.maxErrors, trackScope: trackScope) { evaluation in
            let ok = evaluation.evaluate(root, instance, &evaluation.discard.pointee, collect: false)
            if let abort = evaluation.abort {
                if evaluation.errors.count >= options.maxErrors { evaluation.errors.removeLast() }
                evaluation.errors.append(abort)
            } else if !ok && evaluation.errors.isEmpty {
                // Every failing path records an error; this backstop keeps "invalid" from being silent.
                evaluation.errors.append(
                    ValidationError(
                        instanceLocation: "", keywordLocation: "", keyword: "schema", message: "the value is invalid"))
            }
            return evaluation.errors
        }
    }
}
