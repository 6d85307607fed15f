import KeelServer

/// Whether this test run puts its servers on the shared-store engine path, the default (every run
/// but CI's stage "swift test on the local path", `KEEL_SQLITE_ON_STORE=0`; docs/architecture.md,
/// "Two engine paths"). A test reads it only where the two paths differ by design, to expect what
/// the path it runs on does there.
public enum SharedPathRun {
    public static var isOn: Bool { !KeelServer.Options.environmentAsksForLocalPath }
}
