/// The one error type that crosses module boundaries and the wire.
///
/// `code` decides the JSON-RPC error code; `message` is one sentence saying what went wrong and
/// what to do; `data` is the wire `error.data` (its shape per code is in docs/errors.md).
/// `cause` and `location` stay local and are never serialized.
public struct KeelError: Error, Sendable, CustomStringConvertible {
    public var code: Code
    public var message: String
    public var data: JSONValue?
    public var cause: (any Error)?
    public var file: String
    public var line: Int

    public init(
        _ code: Code, _ message: String, data: JSONValue? = nil, cause: (any Error)? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.data = data
        self.cause = cause
        self.file = file
        self.line = line
    }

    public var description: String { "\(code.name) (\(code.rpcCode)): \(message)" }
}

extension KeelError {
    /// A stable error code. New codes are added as static members; a code is never reused.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The JSON-RPC `error.code`.
        public let rpcCode: Int
        /// A short stable name, e.g. `activityTimedOut`, used in logs and docs/errors.md.
        public let name: String

        init(_ rpcCode: Int, _ name: String) {
            self.rpcCode = rpcCode
            self.name = name
        }

        public var description: String { "\(name)(\(rpcCode))" }

        public static func == (a: Code, b: Code) -> Bool { a.rpcCode == b.rpcCode }
        public func hash(into hasher: inout Hasher) { hasher.combine(rpcCode) }

        // JSON-RPC 2.0 §5.1.
        public static let parseError = Code(-32700, "parseError")
        public static let invalidRequest = Code(-32600, "invalidRequest")
        public static let methodNotFound = Code(-32601, "methodNotFound")
        public static let invalidParams = Code(-32602, "invalidParams")
        public static let internalError = Code(-32603, "internalError")

        // -32000…-32099: protocol and transport state.
        public static let notInitialized = Code(-32000, "notInitialized")
        public static let unsupportedProtocolVersion = Code(-32001, "unsupportedProtocolVersion")
        public static let messageTooLarge = Code(-32002, "messageTooLarge")
        public static let shuttingDown = Code(-32003, "shuttingDown")
        public static let unauthorized = Code(-32004, "unauthorized")
        public static let overloaded = Code(-32005, "overloaded")
        public static let connectionClosed = Code(-32006, "connectionClosed")
        public static let requestTimedOut = Code(-32007, "requestTimedOut")
        public static let handshakeTimedOut = Code(-32008, "handshakeTimedOut")
        public static let tooManyConnections = Code(-32009, "tooManyConnections")
        public static let batchTooLarge = Code(-32010, "batchTooLarge")
        public static let tooManyAuthFailures = Code(-32011, "tooManyAuthFailures")

        // 1xxx: workflows and runs.
        public static let workflowNotFound = Code(1001, "workflowNotFound")
        public static let workflowAlreadyExists = Code(1002, "workflowAlreadyExists")
        public static let nonDeterminism = Code(1003, "nonDeterminism")
        public static let workflowFailed = Code(1004, "workflowFailed")
        public static let workflowCancelled = Code(1005, "workflowCancelled")
        /// `workflow/reset`: `toStep` is past the last journal entry.
        public static let resetStepOutOfRange = Code(1010, "resetStepOutOfRange")
        /// `workflow/reset`: a kept step has no outcome yet (scheduled, or not recorded).
        public static let resetNotAtStepBoundary = Code(1011, "resetNotAtStepBoundary")
        /// `workflow/reset`: this execution cannot be reset that way (a child step would run twice…).
        public static let resetRefused = Code(1012, "resetRefused")
        /// `workflow/batch`: the query does not parse or names an unknown field or value.
        public static let invalidQuery = Code(1013, "invalidQuery")
        /// `schedule/*`: no schedule has this id.
        public static let scheduleNotFound = Code(1020, "scheduleNotFound")
        /// `schedule/create`: a schedule with this id exists.
        public static let scheduleAlreadyExists = Code(1021, "scheduleAlreadyExists")
        /// `workflow/query` for a query the workflow's code never published a value for.
        public static let queryNotFound = Code(1030, "queryNotFound")
        /// `workflow/update`: the workflow ended without answering the update.
        public static let updateUnanswered = Code(1031, "updateUnanswered")

        // 2xxx: activities and steps.
        public static let activityFailed = Code(2001, "activityFailed")
        public static let activityTimedOut = Code(2002, "activityTimedOut")
        public static let activityCancelled = Code(2003, "activityCancelled")
        public static let taskNotFound = Code(2004, "taskNotFound")
        public static let contractConflict = Code(2005, "contractConflict")
        public static let attemptSuperseded = Code(2006, "attemptSuperseded")
        public static let resultTimeout = Code(2007, "resultTimeout")

        // 3xxx: schemas and contracts.
        public static let inputContractViolation = Code(3001, "inputContractViolation")
        public static let outputContractViolation = Code(3002, "outputContractViolation")
        public static let invalidSchema = Code(3003, "invalidSchema")

        // 4xxx: storage and conflicts.
        public static let storageFailure = Code(4001, "storageFailure")
        public static let idempotencyConflict = Code(4002, "idempotencyConflict")

        /// Every code Keel defines, for docs/errors.md's completeness test and for decoding.
        public static let all: [Code] = [
            .parseError, .invalidRequest, .methodNotFound, .invalidParams, .internalError,
            .notInitialized, .unsupportedProtocolVersion, .messageTooLarge, .shuttingDown, .unauthorized,
            .overloaded, .connectionClosed, .requestTimedOut, .handshakeTimedOut, .tooManyConnections,
            .batchTooLarge, .tooManyAuthFailures,
            .workflowNotFound, .workflowAlreadyExists, .nonDeterminism, .workflowFailed, .workflowCancelled,
            .resetStepOutOfRange, .resetNotAtStepBoundary, .resetRefused, .invalidQuery, .scheduleNotFound,
            .scheduleAlreadyExists, .queryNotFound, .updateUnanswered,
            .activityFailed, .activityTimedOut, .activityCancelled, .taskNotFound, .contractConflict,
            .attemptSuperseded, .resultTimeout,
            .inputContractViolation, .outputContractViolation, .invalidSchema,
            .storageFailure, .idempotencyConflict,
        ]

        /// The code for a wire `error.code`; unknown codes keep their number.
        public init(rpcCode: Int) {
            self = Code.all.first { $0.rpcCode == rpcCode } ?? Code(rpcCode, "unknown")
        }
    }
}
