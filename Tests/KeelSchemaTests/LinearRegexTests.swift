import KeelCore
import KeelSchema
import Testing

/// Patterns run on an automaton: catastrophic-backtracking patterns finish, and the ECMA-262
/// semantics the suite checks still hold. A regression to backtracking would hang these tests
/// until the time limit fails them.
@Suite(.timeLimit(.minutes(3)))
struct LinearRegexTests {
    func matches(_ pattern: String, _ text: String) throws -> Bool {
        try Validator(schema: ["pattern": .string(pattern)]).isValid(.string(text))
    }

    @Test(arguments: [
        ("^(a+)+$", String(repeating: "a", count: 40) + "!"),
        ("^(\\w+\\s?)*$", String(repeating: "a", count: 20) + "!"),
        ("^(a|aa)+$", String(repeating: "a", count: 60) + "b"),
        ("^(a*)*b$", String(repeating: "a", count: 5_000)),
        ("^([a-z0-9]+[-.]?)*[a-z0-9]+@x$", String(repeating: "a-", count: 5_000)),
    ])
    func catastrophicPatternsFinish(_ pattern: String, _ text: String) throws {
        #expect(try !matches(pattern, text))
    }

    @Test func catastrophicPatternsFinishThroughEveryKeyword() throws {
        let evil = "^(a+)+$"
        let name = String(repeating: "a", count: 40) + "!"
        let schemas: [JSONValue] = [
            ["patternProperties": [evil: false]],
            ["propertyNames": ["pattern": .string(evil)]],
            ["additionalProperties": false, "patternProperties": [evil: true]],
        ]
        for schema in schemas {
            _ = try Validator(schema: schema).validate(.object([name: 1]))
        }
        let format = try Validator(schema: ["format": "regex"], options: ValidatorOptions(assertFormat: true))
        #expect(format.isValid(.string(evil)))
    }

    @Test(arguments: [
        // (pattern, text, matches)
        ("^\\d+$", "0123", true), ("^\\d$", "\u{0663}", false), ("^\\w+$", "héllo", false),
        ("^\\W$", "é", true), ("^\\s+$", " \t\u{feff}\u{3000}", true), ("^\\s$", "\u{85}", false),
        ("^\\S+$", "abc", true), ("^\\D\\d$", "x1", true), ("^.$", "\n", false), ("^.$", "🐲", true),
        ("\\bfoo\\b", "a foo b", true), ("\\bfoo\\b", "afoo", false), ("\\Bfoo", "afoo", true),
        ("^[^]$", "\n", true), ("^[]$", "", false), ("^[a-c\\d_-]+$", "ab-3_", true), ("^[\\b]$", "\u{8}", true),
        ("^a{2,3}$", "aaaa", false), ("^a{2,3}$", "aaa", true), ("^a{2}$", "aa", true), ("^a{2,}$", "aaaaaa", true),
        ("^a+?b*?$", "aab", true), ("^(?:ab|cd)+$", "abcdab", true), ("^(?<year>\\d{4})-\\d\\d$", "2024-05", true),
        ("^\\u0041\\x42\\u{1F432}$", "AB🐲", true), ("^\\uD83D\\uDC32$", "🐲", true), ("^\\cJ$", "\n", true),
        ("^\\p{Letter}+$", "Grüße", true), ("^[\\p{Lu}\\d]+$", "AB1", true), ("^[\\p{Lu}\\d]+$", "Ab", false),
        ("^\\P{L}$", "1", true), ("abc$", "abc\n", false), ("b", "abc", true), ("^$", "", true),
        ("a|", "zzz", true), ("^(a|b|)$", "", true), ("^\\/\\.\\*$", "/.*", true), ("^[\\-a]+$", "-a", true),
        // Found by a differential run against node's RegExp with the u flag (54,625 random cases);
        // Swift's Regex got these wrong (Unicode word boundaries for \b, emoji next to \W).
        ("\\B", "-", true), ("(?:ab|)*\\b", "", false), ("x?\\w{2}", " -éx_🐲", true),
        ("\\w+\\W{2}", "-_é1🐲b", false), ("(\\u0061{0,})*\\W{2}", "x_🐲ba", false),
    ] as [(String, String, Bool)])
    func ecmaSemantics(_ pattern: String, _ text: String, _ expected: Bool) throws {
        #expect(try matches(pattern, text) == expected, "\(pattern) on \(text.debugDescription)")
    }

    @Test func patternsThatNeedBacktrackingStillWorkByDefault() throws {
        #expect(try matches("^(a)\\1$", "aa"))
        #expect(try !matches("^(a)\\1$", "ab"))
        #expect(try matches("^(?!foo)\\w+$", "bar"))
        #expect(try !matches("^(?!foo)\\w+$", "foobar"))
    }

    @Test(arguments: ["^(a)\\1$", "^(?=x)x$", "^(?!foo).*$", "^(?<n>a)\\k<n>$", "^a{30000}$"])
    func patternsThatNeedBacktrackingAreRefusedWhenLinearTimeIsRequired(_ pattern: String) throws {
        let options = ValidatorOptions(requireLinearPatterns: true)
        for schema: JSONValue in [["pattern": .string(pattern)], ["patternProperties": [pattern: true]]] {
            #expect {
                _ = try Validator(schema: schema, options: options)
            } throws: { error in
                (error as? KeelError)?.code == .invalidSchema
                    && (error as? KeelError)?.message.contains("cannot be matched in linear time") == true
            }
        }
        #expect(try Validator(schema: ["pattern": "^(a+)+$"], options: options).isValid("aa"))
    }

    /// Found by the schema fuzzer (Fuzz/crashes/schema/bracket-in-class-backtracks): Swift's `Regex`
    /// reads `[(-[a-z0-9]+)*h]` as a nested class, the automaton's ECMA-262 parser (`u` flag) finds
    /// a lone `]`, so the pattern ran by backtracking: 5 s at 12 digits, a minute at 16. Where
    /// linear time is required (the orchestrator, `keel schema lint`, the fuzzer) it is refused at
    /// once instead.
    @Test func aPatternOnlyBacktrackingReadsIsRefusedWhenLinearTimeIsRequired() throws {
        let pattern = "^[a-z]+(-?[(-[a-z0-9]+)*h]ttp://json-schema.org/draftme"
        let options = ValidatorOptions(requireLinearPatterns: true)
        #expect {
            _ = try Validator(schema: ["pattern": .string(pattern)], options: options)
        } throws: { error in
            (error as? KeelError)?.code == .invalidSchema
                && (error as? KeelError)?.message.contains("cannot be matched in linear time") == true
        }
        // ECMA-262: `[` is an ordinary member of a class.
        #expect(try Validator(schema: ["pattern": "^[a[]+$"], options: options).isValid("a[a"))
        #expect(try !Validator(schema: ["pattern": "^[a[]$"], options: options).isValid("]"))
    }

    @Test func deeplyNestedGroupsAreRefusedNotOverflowed() throws {
        let pattern = String(repeating: "(", count: 100_000) + "a" + String(repeating: ")", count: 100_000)
        #expect(throws: KeelError.self) { _ = try Validator(schema: ["pattern": .string(pattern)]) }
    }

    @Test func aLongTextUnderAPatternIsLinear() throws {
        let v = try Validator(schema: ["type": "array", "items": ["pattern": "^([a-z]+[0-9]?\\s?)*$"]])
        let text = String(repeating: "abc1 ", count: 20_000)
        #expect(v.isValid(.array(Array(repeating: .string(text), count: 5))))
        #expect(!v.isValid(.array([.string(text + "!")])))
    }
}
