public import KeelCore

/// The SQL both stores run for a ``WorkflowFilter``, so that a list, a page and a query mean the
/// same on SQLite and on PostgreSQL.
extension WorkflowFilter {
    /// `WHERE …` (empty when nothing filters) over `workflows`, without the page's position.
    public func conditions(_ dialect: SQLDialect) -> SQLFragment {
        var f = SQLFragment(text: "", binds: [])
        var clauses: [String] = []
        if let status { clauses.append("status = " + f.bind(.text(status.rawValue), dialect)) }
        if let name { clauses.append("name = " + f.bind(.text(name), dialect)) }
        if let createdAfter { clauses.append("created_at >= " + f.bind(.int(createdAfter), dialect)) }
        if let createdBefore { clauses.append("created_at < " + f.bind(.int(createdBefore), dialect)) }
        if let query {
            let q = query.sql(dialect, firstPlaceholder: f.binds.count + 1)
            clauses.append(q.text)
            f.binds += q.binds
        }
        f.text = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        return f
    }

    /// `WHERE … ORDER BY … LIMIT …`: one page in (created_at, workflow_id) order, from `after`.
    /// A new execution sorts after every existing one (it starts now), so paging oldest first
    /// neither skips nor repeats one while new ones arrive.
    public func page(_ dialect: SQLDialect) -> SQLFragment {
        var f = conditions(dialect)
        let (beyond, order) = newestFirst ? ("<", "DESC") : (">", "ASC")
        if let (t, id) = after {
            let position = "(created_at \(beyond) \(f.bind(.int(t), dialect)) OR (created_at = \(f.bind(.int(t), dialect)) "
                + "AND workflow_id \(beyond) \(f.bind(.text(id), dialect))))"
            f.text += (f.text.isEmpty ? "WHERE " : " AND ") + position
        }
        f.text += " ORDER BY created_at \(order), workflow_id \(order) LIMIT \(f.bind(.int(Int64(limit)), dialect))"
        return f
    }

    /// `SELECT status, count` per status of the executions matching every condition but the
    /// status; counting stops after `atMost + 1` rows when `atMost` is given (the web UI's list
    /// counts, docs/ui.md "How fast").
    public func statusCounts(_ dialect: SQLDialect, atMost: Int?) -> SQLFragment {
        var all = self
        all.status = nil
        var f = all.conditions(dialect)
        var rows = "SELECT status FROM workflows \(f.text)"
        if let atMost { rows += " LIMIT \(f.bind(.int(Int64(atMost) + 1), dialect))" }
        f.text = "SELECT status, COUNT(*) FROM (\(rows)) AS matching GROUP BY status"
        return f
    }
}

extension SQLFragment {
    /// Appends `value` and answers its placeholder.
    mutating func bind(_ value: Bind, _ dialect: SQLDialect) -> String {
        binds.append(value)
        return dialect.placeholder(binds.count)
    }
}
