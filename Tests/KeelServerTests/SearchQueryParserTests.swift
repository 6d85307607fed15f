import KeelCore
@testable import KeelEngine
import KeelStorage
import Testing

/// `workflow/list`'s query language without a store (docs/protocol.md, "Search attributes and
/// memo"): what each query means, and where each bad one is refused.
@Suite("The search query parser")
struct SearchQueryParserTests {
    let customer = SearchField.attribute("customer")

    @Test func andBindsTighterThanOrAndParenthesesRegroup() throws {
        let a = SearchQuery.compare(customer, .equal, .string("a"))
        let b = SearchQuery.compare(.attribute("tier"), .greater, .number(1))
        let c = SearchQuery.compare(.status, .equal, .string("running"))
        #expect(try SearchQueryParser.parse(#"customer = "a" OR tier > 1 AND status = "running""#) == .any([a, .all([b, c])]))
        #expect(try SearchQueryParser.parse(#"(customer = 'a' or tier > 1) and status = "running""#) == .all([.any([a, b]), c]))
        #expect(try SearchQueryParser.parse(#"NOT NOT customer = "a""#) == .not(.not(a)))
    }

    @Test func literalsAreTypedByTheirFieldAndOperator() throws {
        let dec1: EpochMillis = 1_796_083_200_000  // 2026-12-01T00:00:00Z
        #expect(try SearchQueryParser.parse(#"startedAt > "2026-12-01""#) == .compare(.createdAt, .greater, .time(dec1)))
        #expect(try SearchQueryParser.parse(#"createdAt >= 1796083200000"#) == .compare(.createdAt, .greaterOrEqual, .time(dec1)))
        #expect(try SearchQueryParser.parse(#"updatedAt < "2026-12-01T00:00:00.000Z""#) == .compare(.updatedAt, .less, .time(dec1)))
        // An attribute's RFC 3339 text is an instant under an ordering, text under = and !=.
        #expect(try SearchQueryParser.parse(#"due < "2026-12-01""#) == .compare(.attribute("due"), .less, .time(dec1)))
        #expect(try SearchQueryParser.parse(#"due = "2026-12-01""#) == .compare(.attribute("due"), .equal, .string("2026-12-01")))
        #expect(try SearchQueryParser.parse("vip != TRUE") == .compare(.attribute("vip"), .notEqual, .bool(true)))
        #expect(try SearchQueryParser.parse("amount <> -2.5e3") == .compare(.attribute("amount"), .notEqual, .number(-2500)))
        #expect(try SearchQueryParser.parse(#"region IN ("eu", 'us')"#)
            == .any([.compare(.attribute("region"), .equal, .string("eu")), .compare(.attribute("region"), .equal, .string("us"))]))
        #expect(try SearchQueryParser.parse(#"sku STARTS_WITH "A-""#) == .startsWith(.attribute("sku"), "A-"))
        #expect(try SearchQueryParser.parse(#"note = "say \"hi\"""#) == .compare(.attribute("note"), .equal, .string(#"say "hi""#)))
    }

    /// Each bad query names where it goes wrong: (query, position, words the message must hold).
    @Test(arguments: [
        (#"customer = acme"#, 11, "text goes in quotes"),
        (#"customer = "acme" AND"#, 21, "ends too soon"),
        (#"customer == "acme""#, 10, "expected a value"),
        (#"(customer = "a""#, 15, "expected ) to close the ( at 0"),
        (#"customer = "a")"#, 14, "expected AND, OR or the end"),
        (#"customer ~ "a""#, 9, "not part of the query language"),
        (#"customer = "a"#, 11, "not closed"),
        (#"status = "runing""#, 9, "status is one of"),
        (#"status > "running""#, 9, "status takes = and !="),
        (#"startedAt > "yesterday""#, 12, "compares with a time"),
        (#"startedAt STARTS_WITH "2026""#, 10, "cannot take STARTS_WITH"),
        (#"vip < true"#, 6, "a boolean takes = and != only"),
        (#"region IN "eu""#, 10, "expected ( after IN"),
        (#"region IN ("eu" "us")"#, 16, "expected , or )"),
        (#"= "a""#, 0, "expected a field name"),
        (#"AND = 1"#, 0, "expected a field name"),
        ("", 0, "the query is empty"),
        (#"customer != !"a""#, 12, "write != for not equal"),
        (#"name = 1"#, 7, "compares with a quoted string"),
    ])
    func aBadQueryIsRefusedAtItsToken(query: String, position: Int, message: String) {
        let error = #expect(throws: KeelError.self) { try SearchQueryParser.parse(query) }
        #expect(error?.code == .invalidQuery)
        #expect(error?.data?["position"]?.int64Value == Int64(position), "\(error?.message ?? "")")
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        #expect(error?.data?["query"] == .string(query))
    }

    @Test func deepNestingAndLongQueriesAreRefusedNotFollowed() {
        let deep = String(repeating: "(", count: 40) + #"a = 1"# + String(repeating: ")", count: 40)
        let error = #expect(throws: KeelError.self) { try SearchQueryParser.parse(deep) }
        #expect(error?.message.contains("nests deeper than 32") == true, "\(error?.message ?? "")")
        let long = Array(repeating: #"a = 1"#, count: 800).joined(separator: " OR ")
        let tooLong = #expect(throws: KeelError.self) { try SearchQueryParser.parse(long) }
        #expect(tooLong?.message.contains("longer than 4096") == true)
    }
}
