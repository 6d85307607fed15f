#!/usr/bin/env python3
"""Plays the conformance transcripts against a worker command (standard library only).

    python3 clients/conformance/run.py --cmd "python3 clients/python/tests/conformance_worker.py"

Each case runs against a fresh process with KEEL_TRANSPORT=stdio. The transcript format is in
README.md beside this file. Prints one line per case, then exactly "N passed, M failed".
Exit status 1 when a case fails (cases listed in --baseline are expected to fail).
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
# How long one expectation waits for the client's next message, or for it to exit.
DEFAULT_TIMEOUT_S = 10.0
# After a case: wait this long for an exit on stdin close, then SIGTERM, then SIGKILL.
TEARDOWN_GRACE_S = 3.0
WILDCARD = "*"
ANY_ORDER = "@any-order"
# "@without:a,b" matches a missing key, null, or an object that has none of the keys a, b.
WITHOUT = "@without:"
_VAR = re.compile(r'"\$([A-Za-z_][A-Za-z0-9_]*)"')


class Mismatch(Exception):
    pass


# Transcripts

def parse_transcript(path: str) -> List[Tuple[str, Any, str]]:
    """Returns steps (kind, argument, "file:line"). Kinds: send, expect, unordered, directive."""
    steps: List[Tuple[str, Any, str]] = []
    block: Optional[List[Tuple[str, int]]] = None
    name = os.path.basename(path)
    for line_number, line in _read_joined(path):
        number = f"{name}:{line_number}"
        if line.startswith("@include "):
            steps.extend(parse_transcript(os.path.join(os.path.dirname(path), line.split(None, 1)[1].strip())))
        elif line == "@unordered":
            block = []
        elif line == "@end":
            if block is None:
                raise ValueError(f"{number}: @end without @unordered")
            steps.append(("unordered", [_pattern(text, f"{name}:{n}") for text, n in block], number))
            block = None
        elif line.startswith("< "):
            if block is not None:
                block.append((line[2:], line_number))
            else:
                steps.append(("expect", _pattern(line[2:], number), number))
        elif line.startswith("> "):
            steps.append(("send", line[2:], number))
        elif line.startswith("@"):
            directive, _, argument = line[1:].partition(" ")
            steps.append(("directive", (directive, argument.strip()), number))
        else:
            raise ValueError(f"{number}: cannot parse {line[:60]!r}")
    if block is not None:
        raise ValueError(f"{path}: @unordered without @end")
    return steps


def _read_joined(path: str) -> List[Tuple[int, str]]:
    """Lines without comments and blanks; a line starting with whitespace continues the previous one."""
    out: List[Tuple[int, str]] = []
    with open(path, encoding="utf-8") as file:
        for number, raw in enumerate(file, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and out:
                out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
            else:
                out.append((number, line))
    return out


def _pattern(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"{where}: expected line is not JSON: {error}") from None


# Matching

def match(pattern: Any, actual: Any, bound: Dict[str, Any], where: str = "$") -> Dict[str, Any]:
    """Matches ``actual`` against ``pattern``; returns the bindings (a new dict) or raises Mismatch."""
    if pattern == WILDCARD:
        return bound
    if isinstance(pattern, str) and pattern.startswith(WITHOUT):
        banned = [key for key in pattern[len(WITHOUT):].split(",") if key]
        present = [key for key in banned if isinstance(actual, dict) and key in actual]
        if actual is not None and not isinstance(actual, dict) or present:
            raise Mismatch(f"{where}: expected no {banned}, got {json.dumps(actual)}")
        return bound
    if isinstance(pattern, str) and pattern.startswith("$") and len(pattern) > 1:
        name = pattern[1:]
        if name in bound:
            if not _same(bound[name], actual):
                raise Mismatch(f"{where}: expected ${name} = {json.dumps(bound[name])}, got {json.dumps(actual)}")
            return bound
        return {**bound, name: actual}
    if isinstance(pattern, dict):
        if not isinstance(actual, dict):
            raise Mismatch(f"{where}: expected an object, got {json.dumps(actual)}")
        extras_ok = WILDCARD in pattern
        for key, sub in pattern.items():
            if key == WILDCARD:
                continue
            if key not in actual and isinstance(sub, str) and sub.startswith(WITHOUT):
                continue
            if key not in actual:
                raise Mismatch(f"{where}: missing key {key!r} in {json.dumps(actual)}")
            bound = match(sub, actual[key], bound, f"{where}.{key}")
        unexpected = [key for key in actual if key not in pattern]
        if unexpected and not extras_ok:
            raise Mismatch(f"{where}: unexpected keys {unexpected} in {json.dumps(actual)}")
        return bound
    if isinstance(pattern, list):
        if not isinstance(actual, list):
            raise Mismatch(f"{where}: expected an array, got {json.dumps(actual)}")
        if pattern[:1] == [ANY_ORDER]:
            return match_any_order(pattern[1:], actual, bound, where)
        if len(pattern) != len(actual):
            raise Mismatch(f"{where}: expected {len(pattern)} items, got {len(actual)}: {json.dumps(actual)}")
        for index, (sub, item) in enumerate(zip(pattern, actual)):
            bound = match(sub, item, bound, f"{where}[{index}]")
        return bound
    if not _same(pattern, actual):
        raise Mismatch(f"{where}: expected {json.dumps(pattern)}, got {json.dumps(actual)}")
    return bound


def match_any_order(patterns: List[Any], actuals: List[Any], bound: Dict[str, Any], where: str) -> Dict[str, Any]:
    """Matches when some pairing of patterns to actual values matches (backtracking; blocks are small)."""
    if len(patterns) != len(actuals):
        raise Mismatch(f"{where}: expected {len(patterns)} messages in any order, got {len(actuals)}: {json.dumps(actuals)}")
    last: Optional[Mismatch] = None
    for order in itertools.permutations(range(len(actuals))):
        try:
            attempt = bound
            for pattern, index in zip(patterns, order):
                attempt = match(pattern, actuals[index], attempt, f"{where}[{index}]")
            return attempt
        except Mismatch as error:
            last = error
    raise Mismatch(f"{where}: no order matches; e.g. {last}; got {json.dumps(actuals)}")


def match_some(patterns: List[Any], actuals: List[Any], bound: Dict[str, Any], where: str) -> Dict[str, Any]:
    """Matches when each actual value fits a distinct pattern (patterns may be left over)."""
    last: Optional[Mismatch] = None
    for chosen in itertools.permutations(range(len(patterns)), len(actuals)):
        try:
            attempt = bound
            for index, actual in zip(chosen, actuals):
                attempt = match(patterns[index], actual, attempt, where)
            return attempt
        except Mismatch as error:
            last = error
    raise Mismatch(f"{where}: {json.dumps(actuals[-1])} fits no expected message left; e.g. {last}")


def _same(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, but booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# Running one case

class Peer:
    """The client under test: a child process whose stdin/stdout are the wire."""

    def __init__(self, command: List[str], timeout: float, extra_env: Optional[Dict[str, str]] = None) -> None:
        self.timeout = timeout
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ, KEEL_TRANSPORT="stdio", **(extra_env or {}))
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env)
        self.lines: "queue.Queue[Optional[bytes]]" = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise Mismatch(f"cannot write to the client (exit status {self.process.poll()}): {error}") from None

    def receive(self, timeout: Optional[float] = None) -> Any:
        try:
            line = self.lines.get(timeout=timeout or self.timeout)
        except queue.Empty:
            raise Mismatch(f"no message from the client within {timeout or self.timeout}s") from None
        if line is None:
            raise Mismatch(f"the client closed stdout (exit status {self.process.poll()})")
        try:
            return json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Mismatch(f"the client wrote a line that is not JSON to stdout: {line[:200]!r}") from None

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()
        except OSError:
            pass

    def teardown(self) -> None:
        self.close_stdin()
        for action in (None, self.process.terminate, self.process.kill):
            if action is not None:
                action()
            try:
                self.process.wait(TEARDOWN_GRACE_S)
                break
            except subprocess.TimeoutExpired:
                continue

    def stderr_tail(self, limit: int = 2000) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-limit:]


class SocketPeer(Peer):
    """The client under test over a Unix socket (KEEL_SOCKET) that the runner listens on, so a
    case can play an orchestrator that goes away and comes back (``@restart``, ``@accept-within``).
    The client's stdout and stderr both go to the stderr log: over a socket stdout is not the wire."""

    def __init__(self, command: List[str], timeout: float, extra_env: Optional[Dict[str, str]] = None) -> None:
        self.timeout = timeout
        self.stderr = tempfile.TemporaryFile()
        self.dir = tempfile.mkdtemp(prefix="kc-", dir="/tmp")  # short: socket paths stay < ~100 bytes
        self.path = os.path.join(self.dir, "k.sock")
        self.listener: Optional[socket.socket] = None
        self.connection: Optional[socket.socket] = None
        self.lines = queue.Queue()
        self.listen()
        env = {k: v for k, v in os.environ.items() if k not in ("KEEL_TRANSPORT", "KEEL_TCP", "KEEL_TOKEN")}
        env["KEEL_SOCKET"] = self.path
        env.update(extra_env or {})
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=self.stderr, stderr=self.stderr, env=env)
        try:
            self.accept(timeout)
        except Mismatch as error:
            self.teardown()
            raise Mismatch(f"{error}\n    --- client stderr (tail) ---\n    " + self.stderr_tail().replace("\n", "\n    ")) from None

    def listen(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)

    def accept(self, timeout: float) -> None:
        """Waits up to ``timeout`` seconds for the client to connect; its lines then queue up."""
        assert self.listener is not None
        self.listener.settimeout(timeout)
        try:
            connection, _ = self.listener.accept()
        except socket.timeout:
            raise Mismatch(f"the client did not connect within {timeout}s") from None
        connection.settimeout(None)
        self.connection = connection
        self.lines = queue.Queue()  # a fresh queue: the end of the old connection is not news
        threading.Thread(target=self._pump_socket, args=(connection, self.lines), daemon=True).start()

    @staticmethod
    def _pump_socket(connection: socket.socket, lines: "queue.Queue[Optional[bytes]]") -> None:
        try:
            for line in connection.makefile("rb"):
                lines.put(line)
        except OSError:
            pass
        lines.put(None)

    def restart(self, down_ms: int) -> None:
        """Plays `kill -9` of the orchestrator and its restart: the connection closes, connects are
        refused for ``down_ms`` (the socket file stays, as after a kill), then it listens again."""
        for closable in (self.connection, self.listener):
            if closable is not None:
                try:
                    closable.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                closable.close()
        self.connection = self.listener = None
        time.sleep(down_ms / 1000)
        self.listen()

    def send(self, data: bytes) -> None:
        if self.connection is None:
            raise Mismatch("no connection to send on")
        try:
            self.connection.sendall(data)
        except OSError as error:
            raise Mismatch(f"cannot write to the client (exit status {self.process.poll()}): {error}") from None

    def teardown(self) -> None:
        for closable in (self.connection, self.listener):
            if closable is not None:
                closable.close()
        super().teardown()
        shutil.rmtree(self.dir, ignore_errors=True)


def substitute(text: str, bound: Dict[str, Any]) -> str:
    def replace(found: "re.Match[str]") -> str:
        name = found.group(1)
        if name not in bound:
            raise Mismatch(f"${name} is used before a `<` line captured it")
        return json.dumps(bound[name])

    return _VAR.sub(replace, text)


def run_case(path: str, command: List[str], timeout: float) -> None:
    """Plays one transcript; raises Mismatch on the first difference."""
    steps = parse_transcript(path)
    over_socket = ("directive", ("transport", "socket")) in [(kind, argument) for kind, argument, _ in steps]
    extra_env = dict(
        argument[1].split("=", 1) for kind, argument, _ in steps if kind == "directive" and argument[0] == "env")
    try:
        peer = SocketPeer(command, timeout, extra_env) if over_socket else Peer(command, timeout, extra_env)
    except Mismatch as error:
        raise Mismatch(f"{os.path.basename(path)}: {error}") from None
    bound: Dict[str, Any] = {}
    try:
        for kind, argument, number in steps:
            try:
                bound = _step(peer, kind, argument, bound, timeout)
            except Mismatch as error:
                raise Mismatch(f"{number}: {error}") from None
    except Mismatch as error:
        peer.teardown()
        raise Mismatch(f"{error}\n    --- client stderr (tail) ---\n    " + peer.stderr_tail().replace("\n", "\n    ")) from None
    peer.teardown()


def _step(peer: Peer, kind: str, argument: Any, bound: Dict[str, Any], timeout: float) -> Dict[str, Any]:
    if kind == "send":
        peer.send(substitute(argument, bound).encode("utf-8") + b"\n")
    elif kind == "expect":
        bound = match(argument, peer.receive(), bound)
    elif kind == "unordered":
        received: List[Any] = []
        for _ in argument:
            received.append(peer.receive())
            # Fail as soon as a message fits no remaining pattern, not after a timeout.
            match_some(argument, received, bound, "unordered block")
        bound = match_any_order(argument, received, bound, "unordered block")
    else:
        name, value = argument
        bound = _directive(peer, name, value, bound, timeout)
    return bound


def _directive(peer: Peer, name: str, value: str, bound: Dict[str, Any], timeout: float) -> Dict[str, Any]:
    if name == "send-hex":
        peer.send(bytes.fromhex(value.replace(" ", "")))
    elif name == "send-padded":
        size_text, _, template = value.partition(" ")
        text = substitute(template, bound)
        pad = int(size_text) - (len(text.encode("utf-8")) - len('"@pad"') + 2)
        if pad < 0 or '"@pad"' not in text:
            raise ValueError(f"@send-padded needs a template with \"@pad\" shorter than {size_text} bytes")
        peer.send(text.replace('"@pad"', '"' + "a" * pad + '"', 1).encode("utf-8") + b"\n")
    elif name == "env":
        if "=" not in value:
            raise ValueError(f"@env takes NAME=VALUE, not {value!r}")
    elif name == "transport":
        if value not in ("stdio", "socket"):
            raise ValueError(f"@transport takes stdio or socket, not {value!r}")
    elif name in ("restart", "accept-within"):
        if not isinstance(peer, SocketPeer):
            raise ValueError(f"@{name} needs `@transport socket`")
        if name == "restart":
            peer.restart(int(value))
        else:
            peer.accept(int(value) / 1000)
    elif name == "close-stdin":
        peer.close_stdin()
    elif name == "signal":
        peer.process.send_signal(getattr(signal, "SIG" + value.upper()))
    elif name == "sleep":
        time.sleep(int(value) / 1000)
    elif name == "expect-silence":
        try:
            message = peer.receive(int(value) / 1000)
        except Mismatch:
            return bound
        raise Mismatch(f"expected no message for {value} ms, got {json.dumps(message)}")
    elif name == "expect-exit":
        try:
            status = peer.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Mismatch(f"the client did not exit within {timeout}s") from None
        if status != int(value):
            raise Mismatch(f"the client exited with status {status}, expected {value}")
    else:
        raise ValueError(f"unknown directive @{name}")
    return bound


# Baseline and main

def load_baseline(path: str) -> Dict[str, str]:
    """Reads a conformance-baseline.yml: a list of ``- case: NAME`` entries with ``reason: TEXT``."""
    expected: Dict[str, str] = {}
    current: Optional[str] = None
    with open(path, encoding="utf-8") as file:
        for line in file:
            stripped = line.split("#", 1)[0].strip() if not line.strip().startswith("reason:") else line.strip()
            found = re.match(r"-\s*case:\s*(\S+)", stripped)
            if found:
                current = found.group(1)
                expected[current] = ""
                continue
            found = re.match(r"reason:\s*(.*)", stripped)
            if found and current is not None:
                expected[current] = found.group(1).strip().strip('"')
    return expected


def default_baseline(command: List[str]) -> Optional[str]:
    """The conformance-baseline.yml of the client the command runs: for a word of the command
    inside clients/<lang>/, clients/<lang>/conformance-baseline.yml if it exists."""
    clients = os.path.dirname(HERE)
    for word in command:
        path = os.path.abspath(word)
        if path.startswith(clients + os.sep):
            language = path[len(clients) + 1 :].split(os.sep)[0]
            candidate = os.path.join(clients, language, "conformance-baseline.yml")
            if os.path.isfile(candidate):
                return candidate
    return None


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cmd", required=True, help="command that starts the client under test")
    parser.add_argument("--cases", default=HERE, help="directory of NN-name.txt transcripts, or one file")
    parser.add_argument("--baseline", help="conformance-baseline.yml listing expected failures (default: the "
                        "one in clients/<lang>/ when the command names a file there)")
    parser.add_argument("--no-baseline", action="store_true", help="expect every case to pass")
    parser.add_argument("-k", dest="select", help="only cases whose name contains this")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per expectation")
    args = parser.parse_args(argv)

    if os.path.isfile(args.cases):
        paths = [args.cases]
    else:
        paths = sorted(glob.glob(os.path.join(args.cases, "[0-9][0-9]-*.txt")))
    if args.select:
        paths = [p for p in paths if args.select in os.path.basename(p)]
    command = shlex.split(args.cmd)
    baseline_path = None if args.no_baseline else args.baseline or default_baseline(command)
    baseline = load_baseline(baseline_path) if baseline_path else {}
    if baseline_path and not args.baseline:
        print(f"baseline: {os.path.relpath(baseline_path)}", flush=True)
    passed = failed = expected_failures = 0
    for path in paths:
        case = os.path.splitext(os.path.basename(path))[0]
        started = time.monotonic()
        try:
            run_case(path, command, args.timeout)
            error: Optional[str] = None
        except Mismatch as mismatch:
            error = str(mismatch)
        elapsed = f"{time.monotonic() - started:.2f}s"
        if case in baseline:
            if error is None:
                failed += 1
                print(f"FAIL {case} ({elapsed}): passes but is listed in the baseline; remove it", flush=True)
            else:
                expected_failures += 1
                print(f"XFAIL {case} ({elapsed}): {baseline[case]}", flush=True)
        elif error is None:
            passed += 1
            print(f"PASS {case} ({elapsed})", flush=True)
        else:
            failed += 1
            print(f"FAIL {case} ({elapsed}): {error}", flush=True)
    if expected_failures:
        print(f"{expected_failures} expected failures (baseline)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not paths else 0


if __name__ == "__main__":
    sys.exit(main())
