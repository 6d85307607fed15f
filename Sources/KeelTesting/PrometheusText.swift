public import KeelCore

/// A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: every
/// line must be a `# HELP`, a `# TYPE` or a sample `name{label="value",…} number`, and every
/// sample must belong to a family declared by a `# TYPE` line before it.
public struct PrometheusText: Sendable {
    /// One sample line.
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public private(set) var samples: [Sample] = []
    /// Family name → type (counter, gauge, histogram, summary, untyped).
    public private(set) var types: [String: String] = [:]

    /// Parses `text`. - Throws: `KeelError(.parseError)` naming the first bad line.
    public init(_ text: String) throws {
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            if line.isEmpty { continue }
            let fail = { (why: String) in KeelError(.parseError, "line \(number + 1) \(why): \(line)") }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                guard parts.count >= 3, parts[0] == "#", parts[1] == "TYPE" || parts[1] == "HELP" else {
                    throw fail("is a comment that is neither # TYPE nor # HELP")
                }
                guard Self.isMetricName(parts[2]) else { throw fail("names an invalid metric") }
                if parts[1] == "TYPE" {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                        throw fail("has an unknown type")
                    }
                    guard types[parts[2]] == nil else { throw fail("declares a type twice") }
                    types[parts[2]] = parts[3]
                }
                continue
            }
            guard let sample = Self.sample(line) else { throw fail("is not name{labels} value") }
            guard family(of: sample.name) != nil else { throw fail("has no # TYPE line before it") }
            samples.append(sample)
        }
    }

    /// The declared family a sample name belongs to (`x_bucket`, `x_sum`, `x_count` → histogram `x`).
    public func family(of name: String) -> String? {
        if types[name] != nil { return name }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" || types[base] == "summary" { return base }
        }
        return nil
    }

    /// The value of the sample `name` whose labels include `labels`, summed over matches; 0 if none
    /// (a counter not yet incremented is not emitted).
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.filter { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }
            .reduce(0) { $0 + $1.value }
    }

    static func isMetricName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || first == ":" || first.properties.isAlphabetic && first.isASCII
        else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0 == ":" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }

    static func sample(_ line: String) -> Sample? {
        var rest = Substring(line)
        guard let nameEnd = rest.firstIndex(where: { $0 == "{" || $0 == " " }) else { return nil }
        let name = String(rest[..<nameEnd])
        guard isMetricName(name) else { return nil }
        rest = rest[nameEnd...]
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                guard let eq = rest.firstIndex(of: "=") else { return nil }
                let key = String(rest[..<eq])
                guard isMetricName(key), !key.contains(":") else { return nil }
                rest = rest[rest.index(after: eq)...]
                guard rest.first == "\"" else { return nil }
                rest = rest.dropFirst()
                var value = ""
                while true {
                    guard let c = rest.first else { return nil }
                    rest = rest.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        guard let e = rest.first else { return nil }
                        rest = rest.dropFirst()
                        switch e {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: return nil
                        }
                    } else {
                        value.append(c)
                    }
                }
                labels[key] = value
                if rest.first == "," { rest = rest.dropFirst() } else if rest.first != "}" { return nil }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { return nil }
        let fields = rest.dropFirst().split(separator: " ")
        guard (1...2).contains(fields.count) else { return nil }
        let text = String(fields[0])
        let value: Double? = switch text {
        case "+Inf": .infinity
        case "-Inf": -.infinity
        case "NaN": .nan
        default: Double(text)
        }
        guard let value else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }
}
