import KeelCore

/// Search attributes and memo (docs/protocol.md, "Search attributes and memo"): the JSON on the
/// execution's row, and one `workflow_attributes` index row per attribute.
extension SQLiteTransaction {
    func searchAttributeKeys() throws -> [String] {
        var keys: [String] = []
        try db.statement(SearchAttributeKeys.sql).forEachRow { keys.append($0.text(0)) }
        return keys
    }

    /// Indexes a new execution's attributes.
    func insertSearchAttributeRows(_ workflowId: String, _ attributes: JSONValue?) throws {
        for row in SearchAttributes.indexRows(attributes) {
            try db.statement(
                "INSERT INTO workflow_attributes (workflow_id, key, kind, text_value, number_value) VALUES (?, ?, ?, ?, ?)"
            ).bind([.text(workflowId), .text(row.key), .text(row.kind.rawValue), .optional(row.text), row.number.map { .real($0) } ?? .null])
                .run()
        }
    }

    /// Replaces execution `workflowId`'s search attributes, if run `epoch` is its current one.
    func setSearchAttributes(workflowId: String, epoch: Int, _ attributes: JSONValue?) throws -> WriteOutcome {
        let o = try update(
            "UPDATE workflows SET search_attributes = ? WHERE workflow_id = ? AND epoch = ?",
            [.json(attributes), .text(workflowId), .int(Int64(epoch))], id: workflowId, table: "workflows", key: "workflow_id")
        guard o == .applied else { return o }
        try db.statement("DELETE FROM workflow_attributes WHERE workflow_id = ?").bind([.text(workflowId)]).run()
        try insertSearchAttributeRows(workflowId, attributes)
        return o
    }

    /// Replaces execution `workflowId`'s memo or query values, if run `epoch` is its current one.
    func setExecutionData(_ field: ExecutionData, workflowId: String, epoch: Int, _ value: JSONValue?) throws -> WriteOutcome {
        try update(
            "UPDATE workflows SET \(field.column) = ? WHERE workflow_id = ? AND epoch = ?",
            [.json(value), .text(workflowId), .int(Int64(epoch))], id: workflowId, table: "workflows", key: "workflow_id")
    }
}
