import Foundation
import KeelCore
import Testing

@Suite("Error catalog")
struct ErrorCatalogTests {
    @Test func everyCodeHasAnEntryInDocsErrors() throws {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let doc = try String(contentsOf: url.appendingPathComponent("docs/errors.md"), encoding: .utf8)
        for code in KeelError.Code.all {
            #expect(doc.contains("### \(code.rpcCode) \(code.name)\n"), "docs/errors.md has no entry for \(code)")
        }
    }

    @Test func codesAreUniqueAndInTheirRanges() {
        let numbers = KeelError.Code.all.map(\.rpcCode)
        #expect(Set(numbers).count == numbers.count)
        for n in numbers {
            #expect((-32700 ... -32600).contains(n) || (-32099 ... -32000).contains(n) || (1000...4999).contains(n))
        }
    }
}
