"""A raw MCP peer over stdio: JSON lines to and from `keel mcp serve`, no SDK in between, so a
test sees exactly what each protocol revision puts on the wire."""
import json
import select
import subprocess

from harness import CALL_TIMEOUT, KEEL_BIN


class StdioPeer:
    """`keel mcp serve --socket SOCKET` as a child; `request` sends one request and reads until its answer."""

    def __init__(self, socket, session="raw"):
        self.process = subprocess.Popen(
            [KEEL_BIN, "mcp", "serve", "--socket", socket, "--session-key", session],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.next_id = 0
        self.notifications = []

    def send(self, message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def request(self, method, params=None):
        """The whole answer (`result` or `error`); notifications heard meanwhile go to `notifications`."""
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}})
        while True:
            ready, _, _ = select.select([self.process.stdout], [], [], CALL_TIMEOUT)
            assert ready, f"no answer to {method} within {CALL_TIMEOUT} s"
            line = self.process.stdout.readline()
            assert line, f"keel mcp serve closed stdout: {self.process.stderr.read()[-2000:]}"
            message = json.loads(line)
            if "id" not in message:
                self.notifications.append(message)
            elif message["id"] == self.next_id:
                return message

    def close(self):
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0, self.process.stderr.read()[-2000:]
