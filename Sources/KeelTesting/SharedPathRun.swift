import KeelServer

/// Whether this test run puts its servers on the shared-store engine path (`KEEL_SQLITE_ON_STORE=1`,
/// CI's stage "swift test on the shared path"; docs/architecture.md, "Two engine paths"). A test
/// reads it only where that path differs by design, to expect what it does there.
public enum SharedPathRun {
    public static var isOn: Bool { KeelServer.Options.environmentAsksForSharedPath }
}
