"""A real `keel serve` for the MCP tests: started, waited for, killed with -9 and restarted."""
import json
import os
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
KEEL_BIN = os.environ.get("KEEL_BIN") or os.path.join(REPO, ".build", "debug", "keel")

# Bounds on every wait (seconds): generous, CI runs on two busy cores.
START_TIMEOUT = 60.0
CALL_TIMEOUT = 90.0


def venv():
    """The private venv with the real MCP servers and the MCP SDK (made once, then reused)."""
    out = subprocess.run([os.path.join(HERE, "setup_venv.sh")], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"setup_venv.sh failed: {out.stderr[-2000:]}")
    return out.stdout.strip().splitlines()[-1]


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Orchestrator:
    """`keel serve` on a socket and a SQLite file in `directory`, with extra arguments."""

    def __init__(self, directory, args, env=None):
        self.directory = directory
        self.socket = os.path.join(directory, "k.sock")
        self.db = os.path.join(directory, "keel.db")
        self.args = args
        self.env = dict(os.environ, **(env or {}))
        self.log_path = os.path.join(directory, "serve.log")
        self.process = None

    def start(self):
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [KEEL_BIN, "serve", "--db", self.db, "--socket", self.socket, *self.args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        wait_for(lambda: os.path.exists(self.socket) and self.keel("workers", check=False).returncode == 0,
                 START_TIMEOUT, f"keel serve on {self.socket}")

    def kill9(self):
        """SIGKILL to the orchestrator alone: its spawned workers see stdin close and exit."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        # Anything the orchestrator's session left behind (a wedged MCP server in its own group).
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def keel(self, *args, check=True, timeout=CALL_TIMEOUT):
        out = subprocess.run([KEEL_BIN, *args, "--socket", self.socket], capture_output=True, text=True, timeout=timeout)
        if check and out.returncode not in (0, 1):
            raise AssertionError(f"keel {' '.join(args)} exited {out.returncode}: {out.stderr}")
        return out

    def call(self, name, input):
        """`keel call NAME INPUT --format json`: (exit code, the answer or the error object)."""
        out = self.keel("call", name, json.dumps(input), "--format", "json", check=False)
        text = out.stdout.strip() or out.stderr.strip().splitlines()[-1]
        return out.returncode, json.loads(text)

    def activities(self):
        out = self.keel("workers", "--format", "json", check=False)
        if out.returncode != 0:
            return set()
        workers = json.loads(out.stdout)
        workers = workers.get("workers", workers) if isinstance(workers, dict) else workers
        return {a for w in workers for a in w.get("activities", [])}

    def wait_for_activities(self, *names):
        return wait_for(lambda: set(names) <= self.activities(), START_TIMEOUT, f"activities {names} registered")
