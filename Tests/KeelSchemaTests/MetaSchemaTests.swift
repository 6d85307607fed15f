import Foundation
import KeelCore
import KeelSchema
import Testing

/// The embedded meta-schemas (Sources/KeelSchema/MetaSchemas.swift) equal the official files.
@Suite(.enabled(if: SuiteSupport.available, "the JSON Schema Test Suite is not at ../shared/jsonschema-suite"))
struct MetaSchemaTests {
    @Test(arguments: [
        "draft2020-12/schema.json", "draft2020-12/meta/core.json", "draft2020-12/meta/applicator.json",
        "draft2020-12/meta/unevaluated.json", "draft2020-12/meta/validation.json", "draft2020-12/meta/meta-data.json",
        "draft2020-12/meta/format-annotation.json", "draft2020-12/meta/format-assertion.json",
        "draft2020-12/meta/content.json", "draft7/schema.json",
    ])
    func theEmbeddedCopyEqualsTheOfficialFile(path: String) throws {
        let file = try SuiteSupport.load(SuiteSupport.suiteRoot.appending(path: "metaschemas/" + path))
        let uri = try #require(file["$id"]?.stringValue)
        let embedded = try #require(try SchemaRegistry().document(for: uri))
        #expect(embedded == file)
    }
}
