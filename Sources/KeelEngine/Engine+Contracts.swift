import KeelCore
public import KeelProtocol
import KeelSchema
import KeelStorage
import Logging

/// Owned contracts (docs/security.md): a name's contract is pinned by the first registration from
/// a worker allowed to serve it and kept in the store across restarts. A worker allowed to serve
/// the name changes it compatibly (by `keel schema diff` rules: by what the schemas accept,
/// docs/schema.md), or breakingly with `allowBreakingChanges`; an admin changes it at will. Each
/// change raises the pin's version. A *possibly* breaking change (not decided, no witness found)
/// counts as breaking here: ``ContractDiff/Change/breaking`` is true for it (the safe side).
extension Engine {
    /// One pin a registration adds or changes, with the pin it replaces (to undo on failure).
    struct PinChange {
        var pin: ContractPin
        var previous: ContractPin?
        /// The breaking changes from `previous` that were accepted (flag, admin or own spawned worker).
        var breaking: [ContractDiff.Change] = []
    }

    /// Loads the pinned contracts as the store has them now (another node may have pinned some):
    /// at ``recover()`` and before each registration decides.
    func loadContractPins() async throws {
        let all = try await cluster.store.contractPins()
        contractPins = [:]
        for pin in all { contractPins[Self.pinKey(pin.kind, pin.name)] = pin }
    }

    static func pinKey(_ kind: String, _ name: String) -> String { "\(kind)\u{0}\(name)" }

    /// Refuses names the connection may not serve (`unauthorized`) and breaking changes to a pinned
    /// contract (`2005`, naming the owner and each breaking change) unless `allowBreakingChanges`,
    /// or the connection is an admin or the spawned worker that pinned it
    /// (``Grant/replacesOwnContracts``); records the new pins in memory at once (so a racing
    /// registration sees them) and returns them for ``persistPins(_:)``.
    func claimContracts(
        activities: [ActivityContract], workflows: [ActivityContract], grant: Grant, workerName: String,
        allowBreakingChanges: Bool = false
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
        var changes: [PinChange] = []
        for (kind, c) in declared {
            let previous = contractPins[Self.pinKey(kind, c.name)]
            guard previous?.hash != c.hash else { continue }
            var breaking: [ContractDiff.Change] = []
            if let previous {
                breaking = ContractDiff.compare(
                    oldInput: previous.input, oldOutput: previous.output, newInput: c.input, newOutput: c.output
                ).filter(\.breaking)
                let privileged = grant.has(.admin) || (grant.replacesOwnContracts && previous.owner == grant.identity)
                if !breaking.isEmpty && !privileged && !allowBreakingChanges {
                    throw Self.breakingChangeRefused(kind, c, previous, breaking, workerName: workerName)
                }
            }
            let pin = ContractPin(
                kind: kind, name: c.name, hash: c.hash, input: c.input, output: c.output, owner: grant.identity,
                ownerWorker: workerName, pinnedAt: clock.now(), version: (previous?.version ?? 0) + 1)
            changes.append(PinChange(pin: pin, previous: previous, breaking: breaking))
        }
        for change in changes { contractPins[Self.pinKey(change.pin.kind, change.pin.name)] = change.pin }
        return changes
    }

    /// `2005`: a breaking change to an owned contract without `allowBreakingChanges`.
    static func breakingChangeRefused(
        _ kind: String, _ c: ActivityContract, _ pin: ContractPin, _ breaking: [ContractDiff.Change],
        workerName: String
    ) -> KeelError {
        let list = breaking.map { "\($0.role) \($0.pointer.isEmpty ? "/" : $0.pointer): \($0.reason)" }
        return KeelError(
            .contractConflict,
            "\(kind) \(c.name) is owned by \(pin.ownerWorker) (\(pin.owner)) with contract version \(pin.version) "
                + "(hash \(pin.hash)); worker \(workerName) declared hash \(c.hash), a breaking change: "
                + list.joined(separator: "; ")
                + ". Make the change compatible (keel schema diff), or register with allowBreakingChanges: true "
                + "if callers and consumers of the old contract are ready.",
            data: [
                "activity": .string(c.name), "kind": .string(kind), "owner": .string(pin.owner),
                "existingWorkerName": .string(pin.ownerWorker), "newWorkerName": .string(workerName),
                "existingHash": .string(pin.hash), "newHash": .string(c.hash),
                "existingVersion": JSONValue(pin.version), "breakingChanges": .array(breaking.map(\.json)),
            ])
    }

    /// Writes claimed pins to the store and logs each change of an owned contract.
    /// - Throws: the store's error, after undoing the claims in memory.
    func persistPins(_ changes: [PinChange]) async throws {
        guard !changes.isEmpty else { return }
        do {
            let outcomes = try await cluster.store.apply(changes.map { .pinContract($0.pin) })
            if let lost = zip(changes, outcomes).first(where: { $0.1 != .applied })?.0 {
                throw KeelError(
                    .contractConflict,
                    "the contract of \(lost.pin.kind) \(lost.pin.name) was changed on another node meanwhile; register again",
                    data: ["kind": .string(lost.pin.kind), "name": .string(lost.pin.name), "pinRace": true])
            }
        } catch {
            unclaim(changes)
            throw error
        }
        for change in changes where change.previous != nil {
            var metadata: Logger.Metadata = [
                "kind": "\(change.pin.kind)", "name": "\(change.pin.name)", "version": "\(change.pin.version)",
                "hash": "\(change.pin.hash)", "by": "\(change.pin.owner)", "worker": "\(change.pin.ownerWorker)",
            ]
            if change.breaking.isEmpty {
                logger.notice("contract changed compatibly", metadata: metadata)
            } else {
                metadata["breakingChanges"] = .array(
                    change.breaking.map { .string("\($0.role) \($0.pointer.isEmpty ? "/" : $0.pointer): \($0.reason)") })
                logger.warning("contract changed with breaking changes", metadata: metadata)
            }
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
    /// - Throws: `KeelError(.invalidParams)` (from a typed caller; the schema refuses it on the
    ///   wire) for a kind other than activity or workflow.
    public func releaseContract(_ params: ContractReleaseParams) async throws -> ContractReleaseResult {
        let name = params.name
        let kind = params.kind?.rawValue ?? "activity"
        guard kind == "activity" || kind == "workflow" else {
            throw Params.fail(method: ContractReleaseParams.method, "kind", "must be activity or workflow")
        }
        let outcome = try await applyShared(.releaseContract(kind: kind, name: name))
        let released = contractPins.removeValue(forKey: Self.pinKey(kind, name))
        logger.notice("contract released", metadata: ["kind": "\(kind)", "name": "\(name)"])
        return ContractReleaseResult(released: outcome == .applied || released != nil)
    }
}
