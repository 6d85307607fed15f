import KeelCore
import KeelSchema

/// `keel schema bench`: nanoseconds per `isValid` and per `validate` call on fixed inputs, and
/// per size check made before validating (``LongWork/isLong(_:)``).
///
/// Inputs: the jsonschema-rs "Fast" fixtures (draft-07 tuple schema, 55/60-byte instances) when
/// their folder is given, plus a realistic activity contract (`billing.charge` input) built in.
public enum SchemaBenchmark {
    /// One measured input.
    public struct Result: Sendable {
        public var name: String
        public var valid: Bool
        public var isValidNanoseconds: Double
        public var validateNanoseconds: Double
        /// ``LongWork/isLong(_:)`` on the instance: the size check the orchestrator makes before
        /// validating a payload, to decide where the validation runs.
        public var sizeCheckNanoseconds: Double
    }

    /// The built-in activity contract input schema used by the benchmark and docs.
    public static let contractSchema = #"""
        {"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
         "required":["customerId","amount","currency","lines"],"additionalProperties":false,
         "properties":{
           "customerId":{"type":"string","pattern":"^cus_[A-Za-z0-9]{8,32}$"},
           "amount":{"type":"integer","minimum":1,"maximum":100000000},
           "currency":{"enum":["EUR","USD","GBP","CHF","JPY"]},
           "idempotencyKey":{"type":"string","minLength":8,"maxLength":64},
           "metadata":{"type":"object","additionalProperties":{"type":"string","maxLength":500},"maxProperties":20},
           "lines":{"type":"array","minItems":1,"maxItems":100,"items":{"$ref":"#/$defs/line"}}},
         "$defs":{"line":{"type":"object","required":["sku","quantity","unitPrice"],
           "properties":{"sku":{"type":"string","minLength":1},"quantity":{"type":"integer","minimum":1},
             "unitPrice":{"type":"number","minimum":0,"multipleOf":0.01}}}}}
        """#
    public static let contractValid = #"""
        {"customerId":"cus_4f9Qa8ZtLm","amount":4599,"currency":"EUR","idempotencyKey":"order-2024-0001",
         "metadata":{"orderId":"A-1001","channel":"web"},
         "lines":[{"sku":"BOOK-1","quantity":2,"unitPrice":12.5},{"sku":"PEN-3","quantity":1,"unitPrice":20.99}]}
        """#
    public static let contractInvalid = #"""
        {"customerId":"cus_4f9Qa8ZtLm","amount":0,"currency":"EUR",
         "lines":[{"sku":"BOOK-1","quantity":2,"unitPrice":12.555}]}
        """#

    /// Measures every input. Each figure is the best of 5 rounds of about `roundMilliseconds`.
    /// - Parameter perf: (schema, valid instance, invalid instance) JSON texts, or nil to skip.
    public static func run(perf: (schema: String, valid: String, invalid: String)?, roundMilliseconds: Int = 200)
        throws -> [Result]
    {
        var cases: [(String, String, String, Bool)] = []
        if let perf {
            cases.append(("perf fast_valid", perf.schema, perf.valid, true))
            cases.append(("perf fast_invalid", perf.schema, perf.invalid, false))
        }
        cases.append(("contract valid", contractSchema, contractValid, true))
        cases.append(("contract invalid", contractSchema, contractInvalid, false))
        var results: [Result] = []
        for (name, schemaText, instanceText, expected) in cases {
            let validator = try Validator(schema: try JSONParser.parse(schemaText))
            let instance = try JSONParser.parse(instanceText)
            precondition(validator.isValid(instance) == expected, "benchmark input \(name) has the wrong validity")
            let fast = measure(roundMilliseconds) { validator.isValid(instance) ? 1 : 0 }
            let full = measure(roundMilliseconds) { validator.validate(instance).count }
            let sizeCheck = measure(roundMilliseconds) { LongWork.isLong(instance) ? 1 : 0 }
            results.append(
                Result(name: name, valid: expected, isValidNanoseconds: fast, validateNanoseconds: full, sizeCheckNanoseconds: sizeCheck))
        }
        return results
    }

    static func measure(_ milliseconds: Int, _ body: () -> Int) -> Double {
        let clock = ContinuousClock()
        var iterations = 1
        var sink = 0
        // Calibrate: grow the batch until one batch takes ~1/10 of a round.
        while true {
            let t = clock.measure { for _ in 0..<iterations { sink &+= body() } }
            if t > .milliseconds(milliseconds / 10) || iterations > 1 << 26 { break }
            iterations *= 2
        }
        var best = Double.infinity
        for _ in 0..<5 {
            let t = clock.measure { for _ in 0..<(iterations * 10) { sink &+= body() } }
            let ns = Double(t.components.seconds) * 1e9 + Double(t.components.attoseconds) / 1e9
            best = min(best, ns / Double(iterations * 10))
        }
        if sink == .min { print(sink) }  // keeps the work observable
        return best
    }
}
