/// Best-effort IDNA2008 checks for `idn-hostname`: Punycode A-labels must decode, and the
/// contextual rules of RFC 5892 appendix A are applied. No IDNA derived-property tables are
/// bundled, so a few disallowed code points are accepted (see docs/schema.md).
enum IDNA {
    static func allowed(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .spaceSeparator, .lineSeparator,
            .paragraphSeparator:
            return c.value == 0x200C || c.value == 0x200D
        default: break
        }
        // A few explicitly DISALLOWED code points the suite checks (RFC 5892 §2.6 exceptions).
        if [0x0640, 0x07FA, 0x302E, 0x302F, 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x303B].contains(c.value) {
            return false
        }
        return !c.properties.isUppercase || c.properties.lowercaseMapping == String(c)
    }

    static func inRanges(_ c: Unicode.Scalar, _ ranges: [ClosedRange<UInt32>]) -> Bool {
        ranges.contains { $0.contains(c.value) }
    }

    static let greek: [ClosedRange<UInt32>] = [0x0370...0x03FF, 0x1F00...0x1FFF]
    static let hebrew: [ClosedRange<UInt32>] = [0x0590...0x05FF]
    static let japanese: [ClosedRange<UInt32>] = [
        0x3040...0x309F, 0x30A0...0x30FA, 0x30FC...0x30FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF,
    ]

    /// RFC 5892 appendix A (CONTEXTJ and CONTEXTO) and RFC 5891 §4.2.3.2 (no leading mark).
    static func contextOK(_ label: [Unicode.Scalar]) -> Bool {
        if let first = label.first {
            switch first.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark: return false
            default: break
            }
        }
        var arabicIndic = false
        var extendedArabicIndic = false
        for (i, c) in label.enumerated() {
            let before = i > 0 ? label[i - 1] : nil
            let after = i + 1 < label.count ? label[i + 1] : nil
            switch c.value {
            case 0x00B7:  // MIDDLE DOT: between two 'l'
                guard before == "l", after == "l" else { return false }
            case 0x0375:  // GREEK LOWER NUMERAL SIGN: followed by Greek
                guard let after, inRanges(after, greek) else { return false }
            case 0x05F3, 0x05F4:  // HEBREW GERESH / GERSHAYIM: preceded by Hebrew
                guard let before, inRanges(before, hebrew) else { return false }
            case 0x30FB:  // KATAKANA MIDDLE DOT: some Hiragana, Katakana or Han in the label
                guard label.contains(where: { inRanges($0, japanese) }) else { return false }
            case 0x200D:  // ZERO WIDTH JOINER: after a virama
                guard let before, before.properties.canonicalCombiningClass.rawValue == 9 else { return false }
            case 0x200C:  // ZERO WIDTH NON-JOINER: the joining-type alternative is not checked; only
                // a leading ZWNJ (nothing it could join) is rejected.
                guard before != nil else { return false }
            case 0x0660...0x0669: arabicIndic = true
            case 0x06F0...0x06F9: extendedArabicIndic = true
            default: break
            }
        }
        return !(arabicIndic && extendedArabicIndic)
    }
}

/// RFC 3492 Punycode decoding (to check `xn--` labels).
enum Punycode {
    static func decode(_ input: String) -> String? {
        let base = 36
        let tMin = 1
        let tMax = 26
        let skew = 38
        let damp = 700
        var n = 128
        var i = 0
        var bias = 72
        var output: [Unicode.Scalar] = []
        var chars = Array(input.unicodeScalars)
        guard chars.allSatisfy(\.isASCII) else { return nil }
        if let dash = chars.lastIndex(of: "-") {
            output = Array(chars[..<dash])
            chars = Array(chars[(dash + 1)...])
        }
        if chars.isEmpty && output.isEmpty { return nil }
        var k = 0
        while k < chars.count {
            let oldi = i
            var w = 1
            var t = base
            while true {
                guard k < chars.count else { return nil }
                let c = chars[k]
                k += 1
                let digit: Int
                switch c {
                case "a"..."z": digit = Int(c.value) - 97
                case "A"..."Z": digit = Int(c.value) - 65
                case "0"..."9": digit = Int(c.value) - 22
                default: return nil
                }
                let (p, o1) = digit.multipliedReportingOverflow(by: w)
                guard !o1 else { return nil }
                i += p
                let th = t <= bias ? tMin : (t >= bias + tMax ? tMax : t - bias)
                if digit < th { break }
                w *= base - th
                t += base
                if i > 0x10FFFF * 64 { return nil }
            }
            var delta = i - oldi
            delta = oldi == 0 ? delta / damp : delta / 2
            delta += delta / (output.count + 1)
            var kk = 0
            while delta > ((base - tMin) * tMax) / 2 {
                delta /= base - tMin
                kk += base
            }
            bias = kk + (base - tMin + 1) * delta / (delta + skew)
            n += i / (output.count + 1)
            i %= output.count + 1
            guard let scalar = Unicode.Scalar(UInt32(clamping: n)) else { return nil }
            output.insert(scalar, at: i)
            i += 1
        }
        var s = ""
        s.unicodeScalars.append(contentsOf: output)
        return s
    }
}
