import KeelServer
import Testing

@Suite("Worker commands")
struct WorkerSpecTests {
    @Test(arguments: [
        ("python3 examples/hello/worker.py", "worker.py"), ("node", "node"), ("ruby", "ruby"),
        ("node tools/email.mjs --verbose", "email.mjs"), ("/usr/local/bin/calc-worker", "calc-worker"),
        ("sh -c 'exec ./w'", "sh"),
    ])
    func aWorkerIsNamedAfterItsScriptOrProgramWithoutCrashing(_ command: String, _ name: String) throws {
        #expect(try WorkerSpec(command: command).name == name)
    }

    @Test func quotesAreHonouredAndUnbalancedOnesRefused() throws {
        #expect(try WorkerSpec(command: #"python3 "my dir/w.py" --flag"#).argv == ["python3", "my dir/w.py", "--flag"])
        #expect(throws: (any Error).self) { try WorkerSpec(command: "python3 'oops") }
        #expect(throws: (any Error).self) { try WorkerSpec(command: "   ") }
    }
}
