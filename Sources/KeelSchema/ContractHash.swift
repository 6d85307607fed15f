public import KeelCore

/// A stable content hash of a schema or contract, recorded with each journal entry.
public enum ContractHash {
    /// `sha256:` + the SHA-256 (hex) of the value's compact JSON with sorted keys, so key order
    /// and white space never change the hash. Numbers keep their literal text (`1.0` ≠ `1`).
    public static func of(_ schema: JSONValue) -> String {
        "sha256:" + SHA256.hex(JSONWriter.bytes(schema, sortedKeys: true))
    }
}
