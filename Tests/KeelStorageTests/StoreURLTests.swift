import KeelCore
import KeelStorage
import Testing

@Suite struct StoreURLTests {
    @Test func sqliteAndPostgresSpellings() throws {
        #expect(try StoreURL(parsing: "sqlite:data/keel.db") == .sqlite(path: "data/keel.db"))
        guard case .postgres(let tcp) = try StoreURL(parsing: "postgresql://app:p%40ss@db.internal:6432/keel?sslmode=require")
        else { Issue.record("not postgres"); return }
        #expect(tcp.endpoint == .tcp(host: "db.internal", port: 6432))
        #expect(tcp.user == "app")
        #expect(tcp.password == "p@ss")
        #expect(tcp.database == "keel")
        #expect(tcp.tls == .require)
        #expect(tcp.description == "postgres://app@db.internal:6432/keel")
        guard case .postgres(let socket) = try StoreURL(parsing: "postgres://keel@localhost/keel?host=/run/pg")
        else { Issue.record("not postgres"); return }
        #expect(socket.socketPath == "/run/pg/.s.PGSQL.5432")
        guard case .postgres(let v6) = try StoreURL(parsing: "postgres://keel@[::1]:5433/keel")
        else { Issue.record("not postgres"); return }
        #expect(v6.endpoint == .tcp(host: "::1", port: 5433))
    }

    @Test(arguments: [
        ("", "expected sqlite:PATH"), ("sqlite:", "needs a file path"), ("postgres://keel@host", "names no database"),
        ("postgres://keel@host/", "database name is empty"), ("postgres://@host/db", "user is empty"),
        ("postgres://keel@host:0/db", "not 1-65535"), ("postgres://keel@host:x/db", "'x' is not 1-65535"),
        ("postgres://keel@/db", "host is empty"), ("postgres://keel@h/db?host=relative", "absolute socket directory"),
        ("postgres://keel@h/db?foo=1", "unknown parameter 'foo'"), ("postgres://keel@h/db?host", "has no value"),
        ("postgres://k%zz@h/db", "bad percent escape"),
    ])
    func badURLsSayWhatIsWrong(_ url: String, _ reason: String) {
        do {
            _ = try StoreURL(parsing: url)
            Issue.record("\(url) parsed")
        } catch let error as KeelError {
            #expect(error.code == .invalidParams)
            #expect(error.message.contains(reason), "\(url): \(error.message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func passwordsAreRedacted() throws {
        #expect(StoreURL.redacted("postgres://u:secret@h/db") == "postgres://u:***@h/db")
        #expect(StoreURL.redacted("postgres://u@h/db") == "postgres://u@h/db")
        do {
            _ = try StoreURL(parsing: "postgres://u:secret@h:0/db")
        } catch let error as KeelError {
            #expect(!error.message.contains("secret"))
        }
    }
}
