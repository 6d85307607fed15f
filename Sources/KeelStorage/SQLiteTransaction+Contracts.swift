import KeelCore

/// The `contracts` table: one owned contract per (kind, name).
extension SQLiteTransaction {
    func contractPins() throws -> [ContractPin] {
        var out: [ContractPin] = []
        try db.statement(
            """
            SELECT kind, name, contract_hash, input, output, owner, owner_worker, pinned_at, version
            FROM contracts ORDER BY kind, name
            """
        ).bind([]).forEachRow { row in
            out.append(
                ContractPin(
                    kind: row.text(0), name: row.text(1), hash: row.text(2), input: row.json(3) ?? true,
                    output: row.json(4) ?? true, owner: row.text(5), ownerWorker: row.text(6), pinnedAt: row.int(7),
                    version: Int(row.int(8))))
        }
        return out
    }

    func pinContract(_ pin: ContractPin, replacing: Bool) throws -> WriteOutcome {
        let verb = replacing ? "INSERT OR REPLACE" : "INSERT OR IGNORE"
        try db.statement(
            """
            \(verb) INTO contracts (kind, name, contract_hash, input, output, owner, owner_worker, pinned_at, version)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        ).bind([
            .text(pin.kind), .text(pin.name), .text(pin.hash), .json(pin.input), .json(pin.output), .text(pin.owner),
            .text(pin.ownerWorker), .int(pin.pinnedAt), .int(Int64(pin.version)),
        ]).run()
        return db.changes > 0 ? .applied : .duplicate
    }

    func releaseContract(kind: String, name: String) throws -> WriteOutcome {
        try db.statement("DELETE FROM contracts WHERE kind = ? AND name = ?").bind([.text(kind), .text(name)]).run()
        return db.changes > 0 ? .applied : .notFound
    }
}
