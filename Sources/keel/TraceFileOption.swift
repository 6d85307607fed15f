import Foundation
import KeelCore
import KeelTracing
import Logging
import ArgumentParser

/// `--trace-file PATH` of `keel serve` and `keel dev`: the OTLP/JSON-lines tracer (docs/traces.md).
enum TraceFileOption {
    /// Opens `path` for spans, or prints one line naming the problem and exits 1.
    static func tracer(path: String, command: String, logger: Logger) throws -> OTLPFileTracer {
        do {
            return try OTLPFileTracer(path: path) { reason in
                logger.warning("a span was not written to the trace file", metadata: ["reason": "\(reason)"])
            }
        } catch let error as KeelError {
            FileHandle.standardError.write(Data("keel \(command): --trace-file: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
