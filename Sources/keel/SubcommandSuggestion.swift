import ArgumentParser
import KeelCore

/// A mistyped subcommand (`keel wokers`) is answered with the subcommands close to it, as git
/// does, instead of the parser's bare "Unexpected argument".
enum SubcommandSuggestion {
    /// The error for `arguments` (without the program's name) when a word where a subcommand of
    /// `root` belongs names none but is close to some; nil otherwise, and the parser answers as
    /// usual. Options end the walk: after one, a word may be an option's value.
    static func message(root: any ParsableCommand.Type, arguments: [String]) -> String? {
        var command = root
        var path = [root._commandName]
        for word in arguments {
            let subcommands = command.configuration.subcommands
            guard !word.hasPrefix("-"), word != "help", !subcommands.isEmpty,
                command.configuration.defaultSubcommand == nil
            else { return nil }
            if let next = subcommands.first(where: { names($0).contains(word) }) {
                command = next
                path.append(next._commandName)
                continue
            }
            let close = NameSuggestions.suggestions(for: word, among: subcommands.flatMap(names))
            guard !close.isEmpty else { return nil }
            let here = path.joined(separator: " ")
            return """
                Error: '\(word)' is not a \(here) command. Did you mean \(close.map { "'\($0)'" }.joined(separator: " or "))?
                  See '\(here) --help' for more information.
                """
        }
        return nil
    }

    private static func names(_ command: any ParsableCommand.Type) -> [String] {
        [command._commandName] + command.configuration.aliases
    }
}
