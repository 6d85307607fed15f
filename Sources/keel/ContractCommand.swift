import ArgumentParser
import KeelClient
import KeelCore
import struct KeelProtocol.ContractReleaseParams

/// `keel contract release NAME`: an admin forgets a name's owned contract (docs/security.md).
struct ContractCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contract", abstract: "Manage owned contracts (admin).", subcommands: [Release.self])

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget a name's owned contract; the next allowed worker registration pins it again.")
        @Argument(help: "Activity or workflow name.") var name: String
        @ArgumentParser.Flag(help: "The name is a workflow's (default: an activity's).") var workflow = false
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let params = ContractReleaseParams(name: name, kind: workflow ? .workflow : .activity)
            let answer = try await runClient(connection) { try await $0.call(params).json }
            if connection.json {
                print(JSONWriter.string(answer, sortedKeys: true))
            } else {
                print(answer["released"] == true ? "released \(name)" : "\(name) had no owned contract")
            }
        }
    }
}
