import KeelCore
import KeelStorage
import Logging

/// Owned contracts (docs/security.md): a name's contract is pinned by the first registration from
/// a worker allowed to serve it, kept in the store across restarts, and changed only by an admin.
extension Engine {
    /// One pin a registration adds or changes, with the pin it replaces (to undo on failure).
    struct PinChange {
        var pin: ContractPin
        var previous: ContractPin?
    }

    /// Loads the pinned contracts; called once from ``recover()``.
    func loadContractPins() async throws {
        let all = try await storage.read { try $0.contractPins() }
        for pin in all { contractPins[Self.pinKey(pin.kind, pin.name)] = pin }
    }

    static func pinKey(_ kind: String, _ name: String) -> String { "\(kind)\u{0}\(name)" }

    /// Refuses names the connection may not serve (`unauthorized`) and contracts that differ from
    /// a pinned one (`2005`, naming the owner) unless the connection is an admin or a spawned
    /// worker that pinned it (``Grant/replacesOwnContracts``); records the new
    /// pins in memory at once (so a racing registration sees them) and returns them for ``persistPins(_:)``.
    func claimContracts(
        activities: [ActivityContract], workflows: [ActivityContract], grant: Grant, workerName: String
    ) throws -> [PinChange] {
        let declared = activities.map { ("activity", $0) } + workflows.map { ("workflow", $0) }
        for (kind, c) in declared where !grant.mayServe(c.name) {
            throw KeelError(
                .unauthorized,
                "this connection's credential may not serve \(kind) \(c.name) (allowed: \(grant.workerNames)); "
                    + "see --worker-names in docs/security.md",
                data: ["method": "worker/register", "name": .string(c.name), "required": "worker",
                    "held": .array(grant.roleNames.map { .string($0) })])
        }
        for (kind, c) in declared {
            guard let pin = contractPins[Self.pinKey(kind, c.name)], pin.hash != c.hash, !grant.has(.admin),
                !(grant.replacesOwnContracts && pin.owner == grant.identity)
            else { continue }
            throw KeelError(
                .contractConflict,
                "\(kind) \(c.name) is owned by \(pin.ownerWorker) (\(pin.owner)) with contract hash \(pin.hash); "
                    + "worker \(workerName) declared hash \(c.hash). Only an admin changes an owned contract "
                    + "(contract/release, or register it with the admin credential).",
                data: [
                    "activity": .string(c.name), "kind": .string(kind), "owner": .string(pin.owner),
                    "existingWorkerName": .string(pin.ownerWorker), "newWorkerName": .string(workerName),
                    "existingHash": .string(pin.hash), "newHash": .string(c.hash),
                ])
        }
        let now = clock.now()
        var changes: [PinChange] = []
        for (kind, c) in declared {
            let key = Self.pinKey(kind, c.name)
            let previous = contractPins[key]
            guard previous?.hash != c.hash else { continue }
            let pin = ContractPin(
                kind: kind, name: c.name, hash: c.hash, input: c.input, output: c.output, owner: grant.identity,
                ownerWorker: workerName, pinnedAt: now)
            contractPins[key] = pin
            changes.append(PinChange(pin: pin, previous: previous))
        }
        return changes
    }

    /// Writes claimed pins to the store.
    /// - Throws: the store's error, after undoing the claims in memory.
    func persistPins(_ changes: [PinChange]) async throws {
        guard !changes.isEmpty else { return }
        do {
            try await storage.write { tx in
                for change in changes { _ = try tx.pinContract(change.pin, replacing: change.previous != nil) }
            }
        } catch {
            unclaim(changes)
            throw error
        }
        for change in changes where change.previous != nil {
            logger.notice(
                "contract replaced by an admin",
                metadata: ["name": "\(change.pin.name)", "hash": "\(change.pin.hash)", "by": "\(change.pin.owner)"])
        }
    }

    /// Undoes claims whose registration failed.
    func unclaim(_ changes: [PinChange]) {
        for change in changes {
            let key = Self.pinKey(change.pin.kind, change.pin.name)
            guard contractPins[key] == change.pin else { continue }
            contractPins[key] = change.previous
        }
    }

    /// `contract/release` (admin): forgets a name's owned contract; the next allowed registration pins it again.
    func releaseContract(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "contract/release")
        let name = try p.string("name")
        let kind = try p.optionalString("kind") ?? "activity"
        guard kind == "activity" || kind == "workflow" else { throw p.fail("kind", "must be activity or workflow") }
        let outcome = try await storage.write { try $0.releaseContract(kind: kind, name: name) }
        let released = contractPins.removeValue(forKey: Self.pinKey(kind, name))
        logger.notice("contract released", metadata: ["kind": "\(kind)", "name": "\(name)"])
        return ["released": .bool(outcome == .applied || released != nil)]
    }
}
