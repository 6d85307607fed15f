import KeelCore

/// What `keel mcp serve` lists in `tools/list`: every activity a connected worker registered, with
/// its contract as `inputSchema`/`outputSchema`, plus the workflow tools.
struct ToolCatalog: Sendable {
    /// One activity as an MCP tool.
    struct Entry: Sendable {
        var name: String
        var description: String?
        var input: JSONValue
        var output: JSONValue?
        /// MCP wants an object `inputSchema`; an activity whose input is not an object takes its
        /// input as the one argument `input`.
        var wrapsInput: Bool { !ToolCatalog.isObjectSchema(input) }
        /// An `outputSchema` only for an object output (MCP's `structuredContent` is an object).
        var outputIsObject: Bool { output.map(ToolCatalog.isObjectSchema) ?? false }

        var tool: JSONValue {
            var t: [String: JSONValue] = [
                "name": .string(name),
                "inputSchema": wrapsInput
                    ? ["type": "object", "properties": ["input": input], "required": ["input"]] : input,
            ]
            if let description { t["description"] = .string(description) }
            if outputIsObject, let output { t["outputSchema"] = output }
            return .object(t)
        }

        /// The activity's input from the tool's `arguments`.
        func input(from arguments: JSONValue) -> JSONValue {
            wrapsInput ? arguments["input"] ?? .null : arguments
        }
    }

    var activities: [String: Entry] = [:]
    var order: [String] = []

    /// From `worker/list`: each activity name once, with the first worker's contract.
    init(workers: [JSONValue]) {
        for worker in workers {
            for contract in worker["activityContracts"]?.arrayValue ?? [] {
                guard let name = contract["name"]?.stringValue, activities[name] == nil else { continue }
                activities[name] = Entry(
                    name: name, description: contract["description"]?.stringValue, input: contract["input"] ?? true,
                    output: contract["output"])
                order.append(name)
            }
        }
    }

    /// The `tools` of a `tools/list` answer.
    var tools: [JSONValue] {
        order.compactMap { activities[$0]?.tool } + WorkflowTools.all
    }

    static func isObjectSchema(_ schema: JSONValue) -> Bool {
        schema["type"]?.stringValue == "object"
    }
}

/// The tools that drive workflows: start one, wait for its result, signal it, follow its steps.
enum WorkflowTools {
    static let start = "keel_start_workflow"
    static let result = "keel_workflow_result"
    static let signal = "keel_signal_workflow"
    static let follow = "keel_follow_workflow"

    static let all: [JSONValue] = [
        [
            "name": .string(start),
            "description": "Start a Keel workflow (or find the running one with this workflowId). Answers {workflowId, status, started}.",
            "inputSchema": [
                "type": "object", "required": ["name"],
                "properties": [
                    "name": ["type": "string", "description": "The workflow's registered name."],
                    "input": ["description": "The workflow's input, as its contract says."],
                    "workflowId": ["type": "string", "description": "A stable id: starting twice finds the same execution."],
                ],
            ],
        ],
        [
            "name": .string(result),
            "description": "Wait (up to waitTimeoutMs, default 60000) for a workflow's result. Answers {workflowId, status, output?, failure?}.",
            "inputSchema": [
                "type": "object", "required": ["workflowId"],
                "properties": ["workflowId": ["type": "string"], "waitTimeoutMs": ["type": "integer", "minimum": 0]],
            ],
            "annotations": ["readOnlyHint": true],
        ],
        [
            "name": .string(signal),
            "description": "Send a signal to a running workflow; it is recorded durably and delivered in order.",
            "inputSchema": [
                "type": "object", "required": ["workflowId", "name"],
                "properties": ["workflowId": ["type": "string"], "name": ["type": "string"], "payload": [:]],
            ],
        ],
        [
            "name": .string(follow),
            "description": "Follow a running workflow step by step: with a progressToken, each new or ended journal step is a progress notification (\"step 3 activity billing.charge completed\"). Answers when the workflow ends or after timeoutMs (default 300000) with {workflowId, status, output?, failure?, followed, steps: [{seq, kind, name, status, attempts}]}. Cancelling the call stops following, not the workflow.",
            "inputSchema": [
                "type": "object", "required": ["workflowId"],
                "properties": [
                    "workflowId": ["type": "string"],
                    "timeoutMs": ["type": "integer", "minimum": 0, "maximum": JSONValue(WorkflowFollow.maximumTimeoutMs)],
                ],
            ],
            "annotations": ["readOnlyHint": true],
        ],
    ]

    /// The Keel method and params for a workflow tool, or nil for another name.
    static func request(tool: String, arguments: JSONValue) -> (method: String, params: JSONValue)? {
        switch tool {
        case start: ("workflow/start", arguments)
        case result: ("workflow/result", arguments)
        case signal: ("workflow/signal", arguments)
        default: nil
        }
    }
}
