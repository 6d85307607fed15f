import ArgumentParser
import KeelCore
import KeelSchemaCLI
import KeelServer

/// `keel token new`: prints a fresh random token for `--token-file` and friends.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Make tokens for keel serve's credentials.", subcommands: [New.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a fresh random token (256 bits, hex). Save it with: keel token new > F && chmod 600 F")

        @OptionGroup var output: FormatOptions

        func run() {
            let token = TokenFile.newToken()
            print(output.isJSON ? JSONWriter.string(["token": .string(token)]) : token)
        }
    }
}
