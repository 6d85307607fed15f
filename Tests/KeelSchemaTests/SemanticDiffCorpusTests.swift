import Foundation
import KeelCore
import Testing

@testable import KeelSchema

/// The contract diff by meaning (issue 16) against a corpus of old/new pairs with expected
/// verdicts (ContractDiffCorpus.json, next to this file).
@Suite("Contract diff by meaning: corpus")
struct SemanticDiffCorpusTests {
    struct Case {
        var kind: String
        var name: String
        var role: ContractDiff.Role
        var old: JSONValue
        var new: JSONValue
        var verdict: ContractDiff.Verdict
        var witness: JSONValue?
    }

    static func corpus() throws -> [Case] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "ContractDiffCorpus.json")
        let list = try JSONParser.parse(Array(try Data(contentsOf: url))).arrayValue ?? []
        return list.map { c in
            Case(
                kind: c["class"]?.stringValue ?? "", name: c["name"]?.stringValue ?? "",
                role: ContractDiff.Role(rawValue: c["role"]?.stringValue ?? "") ?? .input, old: c["old"] ?? true,
                new: c["new"] ?? true, verdict: ContractDiff.Verdict(rawValue: c["verdict"]?.stringValue ?? "") ?? .breaking,
                witness: c["witness"])
        }
    }

    /// The verdict on a whole schema change: its most severe change (equal schemas: no change).
    static func overall(_ changes: [ContractDiff.Change]) -> ContractDiff.Verdict {
        let order: [ContractDiff.Verdict] = [.breaking, .possiblyBreaking, .compatible, .noChangeInMeaning]
        return order.first { v in changes.contains { $0.verdict == v } } ?? .noChangeInMeaning
    }

    /// `keep` accepts and `lose` rejects: the instance separates the two the harmful way.
    static func separates(_ instance: JSONValue, role: ContractDiff.Role, old: JSONValue, new: JSONValue) throws -> Bool {
        let o = try Validator(schema: old)
        let n = try Validator(schema: new)
        return role == .input ? o.isValid(instance) && !n.isValid(instance) : n.isValid(instance) && !o.isValid(instance)
    }

    @Test func everyPairGetsItsExpectedVerdictAndEveryBreakACheckedWitness() throws {
        let cases = try Self.corpus()
        #expect(cases.count >= 100)
        var table: [String: [ContractDiff.Verdict: Int]] = [:]
        var keywordVerdictChanged: [String] = []
        for c in cases {
            let changes = ContractDiff.compare(role: c.role, old: c.old, new: c.new)
            let verdict = Self.overall(changes)
            #expect(verdict == c.verdict, "\(c.kind): \(c.name): \(changes)")
            table[c.kind, default: [:]][verdict, default: 0] += 1
            for change in changes where change.verdict == .breaking {
                let witness = try #require(change.witness, "\(c.name): a break without a witness")
                #expect(try Self.separates(witness, role: c.role, old: c.old, new: c.new), "\(c.name): \(witness)")
            }
            if let expected = c.witness {
                #expect(try Self.separates(expected, role: c.role, old: c.old, new: c.new), "\(c.name): corpus witness")
            }
            if c.verdict == .compatible || c.verdict == .noChangeInMeaning {
                #expect(changes.allSatisfy { !$0.breaking }, "\(c.name)")
            }
            let keywordBreaking = ContractDiff.keywordChanges(c.role, c.old, c.new).contains(where: \.breaking)
            if keywordBreaking != (verdict == .breaking || verdict == .possiblyBreaking) {
                keywordVerdictChanged.append("\(c.kind): \(c.name): keyword diff said \(keywordBreaking ? "breaking" : "not breaking"), now \(verdict.rawValue)")
            }
        }
        // The table in the issue's closing note comes from here.
        for kind in table.keys.sorted() {
            let row = ContractDiff.Verdict.allCases.map { "\($0.rawValue)=\(table[kind]?[$0] ?? 0)" }
            print("corpus \(kind): \(row.joined(separator: " "))")
        }
        for line in keywordVerdictChanged { print("changed verdict: \(line)") }
    }
}
