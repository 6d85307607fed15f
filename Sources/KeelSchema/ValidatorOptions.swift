/// Settings for compiling a ``Validator``.
public struct ValidatorOptions: Sendable, Hashable {
    /// The dialect of schemas without `$schema`.
    public var defaultDialect: Dialect
    /// Treat `format` as an assertion (both dialects treat it as an annotation by default).
    public var assertFormat: Bool
    /// ``Validator/validate(_:)`` stops after this many errors; a hostile instance cannot make
    /// the error list (and the `KeelError` data built from it) grow without bound.
    public var maxErrors: Int
    /// Refuse (as an invalid schema) any `pattern`/`patternProperties` that cannot run in linear
    /// time: backreferences, lookahead, or counted repetitions expanding past
    /// ``SchemaLimits/maximumPatternProgramSize``. Off by default (the official test suite has
    /// such patterns); the engine turns it on for contracts, so no pattern can stall it.
    public var requireLinearPatterns: Bool = false

    /// - Parameters:
    ///   - defaultDialect: dialect for schemas without `$schema` (default 2020-12).
    ///   - assertFormat: check `format` values (default false: annotation only).
    ///   - maxErrors: the most errors one ``Validator/validate(_:)`` call returns (default 100).
    public init(defaultDialect: Dialect = .draft2020_12, assertFormat: Bool = false, maxErrors: Int = 100) {
        self.defaultDialect = defaultDialect
        self.assertFormat = assertFormat
        self.maxErrors = max(1, maxErrors)
    }

    /// As ``init(defaultDialect:assertFormat:maxErrors:)``, also setting ``requireLinearPatterns``.
    public init(
        defaultDialect: Dialect = .draft2020_12, assertFormat: Bool = false, maxErrors: Int = 100,
        requireLinearPatterns: Bool
    ) {
        self.init(defaultDialect: defaultDialect, assertFormat: assertFormat, maxErrors: maxErrors)
        self.requireLinearPatterns = requireLinearPatterns
    }
}
