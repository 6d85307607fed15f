import Foundation
import KeelCore
import KeelSchema

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `keel schema check --live`: the contracts connected workers registered, compared with the
/// contract files. The files are what callers and consumers were built against (the old side of
/// the diff); a registered contract is what is running (the new side). So a worker that requires
/// an input property the file does not, or drops an output property the file promises, is a
/// breaking difference.
enum LiveCheck {
    /// One registered contract (or contract file) and what the comparison found.
    struct Finding: Equatable {
        enum Status: String { case matches, compatible, breaking, noFile, notRegistered }
        var name: String
        var file: String?
        var status: Status
        var changes: [ContractDiff.Change]
    }

    /// The contracts a `worker/list` result reports, by name: every worker's
    /// `activityContracts` and `workflowContracts` (`{name, input, output, hash}`).
    /// - Throws: when the result has no contracts field at all (an orchestrator that predates it).
    static func registeredContracts(workerList result: JSONValue) throws -> [String: JSONValue] {
        guard let workers = result["workers"]?.arrayValue else {
            throw SchemaFiles.Failure(description: "worker/list answered without \"workers\"")
        }
        var out: [String: JSONValue] = [:]
        for w in workers {
            let lists = [w["activityContracts"], w["workflowContracts"]].compactMap { $0?.arrayValue }
            if lists.isEmpty, w["activities"]?.arrayValue?.isEmpty == false {
                throw SchemaFiles.Failure(
                    description: "the orchestrator lists workers without their contracts (activityContracts); upgrade it")
            }
            for c in lists.joined() {
                guard let name = c["name"]?.stringValue else { continue }
                // Workers serving one name agree on its contract (else 2005 contractConflict).
                out[name] = c
            }
        }
        return out
    }

    /// Compares registered contracts with contract files (path → parsed file).
    /// `strict`: a possibly breaking difference makes the finding breaking.
    static func compare(
        registered: [String: JSONValue], files: [(path: String, value: JSONValue)], strict: Bool = false
    ) throws -> [Finding] {
        var byName: [String: (path: String, value: JSONValue)] = [:]
        for f in files {
            guard let c = ContractFile(f.value) else { continue }
            byName[c.name] = f
        }
        var out: [Finding] = []
        for name in registered.keys.sorted() {
            let live = registered[name]!
            guard let file = byName[name] else {
                out.append(Finding(name: name, file: nil, status: .noFile, changes: []))
                continue
            }
            let liveContract: JSONValue = [
                "name": .string(name), "input": live["input"] ?? true, "output": live["output"] ?? true,
            ]
            let fileContract: JSONValue = [
                "name": .string(name), "input": file.value["input"] ?? true, "output": file.value["output"] ?? true,
            ]
            let changes = try DiffCommand.changes(old: fileContract, new: liveContract, role: "input")
            let status: Finding.Status =
                changes.isEmpty
                ? .matches : ChangeReport.fails(changes, strict: strict) ? .breaking : .compatible
            out.append(Finding(name: name, file: file.path, status: status, changes: changes))
        }
        for (name, file) in byName.sorted(by: { $0.key < $1.key }) where registered[name] == nil {
            out.append(Finding(name: name, file: file.path, status: .notRegistered, changes: []))
        }
        return out
    }

    /// The lines to print for `findings` in `format`.
    static func render(_ findings: [Finding], format: OutputFormat, strict: Bool = false) -> [String] {
        var lines: [String] = []
        for f in findings {
            let file = f.file ?? "-"
            switch format {
            case .json:
                let changes: [JSONValue] = f.changes.map(\.json)
                var o: [String: JSONValue] = [
                    "name": .string(f.name), "status": .string(f.status.rawValue), "changes": .array(changes),
                ]
                if let path = f.file { o["file"] = .string(path) }
                lines.append(JSONWriter.string(.object(o), sortedKeys: true))
            case .text:
                switch f.status {
                case .matches: lines.append("\(f.name): matches \(file)")
                case .compatible:
                    lines.append("\(f.name): \(f.changes.count) compatible difference(s) from \(file)")
                case .breaking:
                    lines.append("\(f.name): the registered contract breaks \(file):")
                case .noFile: lines.append("\(f.name): registered, but no contract file has this name")
                case .notRegistered: lines.append("\(f.name): \(file) is not registered by any connected worker")
                }
                for c in f.changes { lines.append(ChangeReport.text(c, prefix: "  ")) }
            case .github:
                switch f.status {
                case .breaking:
                    for c in f.changes {
                        if let line = ChangeReport.github(c, file: f.file, title: "contract \(f.name) (live)", strict: strict) {
                            lines.append(line)
                        }
                    }
                case .noFile:
                    lines.append(
                        GitHubAnnotation.line(
                            "warning", file: nil, title: "contract \(f.name) (live)",
                            message: "registered by a connected worker, but no contract file has this name"))
                default: lines.append("\(f.name): \(f.status.rawValue)")
                }
            }
        }
        return lines
    }
}

/// GitHub Actions workflow commands (`::error file=…,title=…::message`).
enum GitHubAnnotation {
    static func line(_ level: String, file: String?, title: String, message: String) -> String {
        func property(_ s: String) -> String {
            s.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
                .replacingOccurrences(of: "\n", with: "%0A").replacingOccurrences(of: ":", with: "%3A")
                .replacingOccurrences(of: ",", with: "%2C")
        }
        let data = message.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
        var props: [String] = []
        if let file { props.append("file=\(property(file))") }
        props.append("title=\(property(title))")
        return "::\(level) \(props.joined(separator: ","))::\(data)"
    }
}

/// A minimal JSON-RPC client over the orchestrator's Unix socket: one request at a time, one
/// message per line (docs/protocol.md, "Framing").
final class OrchestratorSocket {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var nextID: Int64 = 1

    /// Connects to `path`. - Throws: when the socket cannot be reached.
    init(path: String, timeoutSeconds: Int = 10) throws {
        #if canImport(Glibc)
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw SchemaFiles.Failure(description: "socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            close(fd)
            throw SchemaFiles.Failure(description: "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw SchemaFiles.Failure(description: "cannot connect to \(path): \(reason)")
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends a request and returns its `result`. - Throws: the JSON-RPC error, or a transport failure.
    func call(_ method: String, params: JSONValue) throws -> JSONValue {
        let id = nextID
        nextID += 1
        var line = JSONWriter.bytes(["jsonrpc": "2.0", "id": JSONValue(id), "method": .string(method), "params": params])
        line.append(0x0A)
        var sent = 0
        while sent < line.count {
            let n = line[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw SchemaFiles.Failure(description: "\(method): the connection closed while sending") }
            sent += n
        }
        while true {
            let message = try JSONParser.parse(try readLine(method))
            guard message["id"]?.int64Value == id else { continue }  // not ours (e.g. a notification)
            if let result = message["result"] { return result }
            let error = message["error"]
            throw SchemaFiles.Failure(
                description:
                    "\(method) failed: \(error?["message"]?.stringValue ?? "no result") (\(error?["code"].map { JSONWriter.string($0) } ?? "?"))"
            )
        }
    }

    private func readLine(_ method: String) throws -> [UInt8] {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                throw SchemaFiles.Failure(
                    description: n == 0
                        ? "\(method): the orchestrator closed the connection" : "\(method): no answer (timed out)")
            }
            buffer += chunk[..<n]
        }
    }
}
