import FuzzSupport
import KeelCore
import KeelSchema

runFuzzer(fuzzSchema)

/// fuzz-schema: compiling any schema and validating any instance against it ends, without crashing.
///
/// Input: a schema, one NUL byte (never valid inside JSON text), then an instance. Inputs whose
/// halves are not JSON are skipped. The dialect default alternates with the input length; formats
/// are asserted so the format checkers run too; patterns must run in linear time, as in the
/// orchestrator. Properties: `Validator.init` throws or succeeds;
/// `isValid` agrees with `validate(_:).isEmpty`. A hang is reported by libFuzzer's `-timeout`.
func fuzzSchema(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let nul = bytes.firstIndex(of: 0) else { return }
    guard let schema = try? JSONParser.parse(bytes[..<nul]),
        let instance = try? JSONParser.parse(bytes[(nul + 1)...])
    else { return }
    // Linear-time patterns only, as the orchestrator compiles contracts (SchemaContractChecker):
    // a pattern only a backtracking engine can run is refused there, so it cannot stall anyone.
    var options = ValidatorOptions(defaultDialect: bytes.count % 2 == 0 ? .draft2020_12 : .draft7, assertFormat: true)
    options.requireLinearPatterns = true
    guard let validator = try? Validator(schema: schema, options: options) else { return }
    let valid = validator.isValid(instance)
    let errors = validator.validate(instance)
    check(valid == errors.isEmpty, "isValid says \(valid) but validate found \(errors.count) errors")
}
