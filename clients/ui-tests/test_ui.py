"""The web UI in a real browser (issue 14, docs/ui.md): Debian's chromium driven by Playwright,
against a real `keel serve --http` with a Python worker. A person's path: open the list, filter,
open a workflow, watch its running step finish live (server-sent events, no reload), send a
signal through the form, cancel another workflow, and check what each page says. Screenshots go
to $KEEL_UI_SHOTS (default /tmp/keel-ui-shots).

Run: python3 -m pytest -q clients/ui-tests
"""

import asyncio
import concurrent.futures
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "clients", "python", "src"))

import keel  # noqa: E402

KEEL_BIN = os.environ.get("KEEL_BIN") or os.path.join(REPO, ".build", "debug", "keel")
CHROMIUM = os.environ.get("KEEL_CHROMIUM") or "/usr/bin/chromium"
SHOTS = os.environ.get("KEEL_UI_SHOTS") or "/tmp/keel-ui-shots"
WAIT_MS = 60_000  # every wait in the browser: generous for loaded CI cores

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
pytestmark = [
    pytest.mark.skipif(not os.access(KEEL_BIN, os.X_OK), reason=f"no keel binary at {KEEL_BIN}"),
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"),
]
expect = playwright_api.expect


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Keel:
    """A real `keel serve --http` in a temp dir with the UI worker spawned over stdio."""

    def __init__(self, directory):
        self.dir = directory
        self.socket = os.path.join(directory, "k.sock")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(directory, "keel.log"), "ab")
        argv = [KEEL_BIN, "serve", "--db", os.path.join(directory, "keel.db"), "--socket", self.socket,
                "--sync", "normal", "--http", f"127.0.0.1:{self.port}",
                "--worker", f"{sys.executable} {os.path.join(HERE, 'worker.py')}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while not self.workers_registered():
            assert self.process.poll() is None, "keel serve exited:\n" + self.tail()
            assert time.monotonic() < deadline, "the UI worker did not register:\n" + self.tail()
            time.sleep(0.2)

    def tail(self):
        self.log.flush()
        with open(os.path.join(self.dir, "keel.log"), "rb") as f:
            return f.read()[-4000:].decode(errors="replace")

    def call(self, fn):
        """Runs `fn(client)` on a thread of its own: Playwright's sync API holds this thread's loop."""
        async def main():
            async with await keel.Client.connect(socket=self.socket) as client:
                return await fn(client)

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, main()).result(timeout=60)

    def workers_registered(self):
        try:
            return any(w.get("name") == "ui-worker" for w in self.call(lambda c: c.workers()))
        except (OSError, keel.KeelError):
            return False

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="keel-ui-") as directory:
        k = Keel(directory)
        try:
            yield k
        finally:
            k.stop()


@pytest.fixture(scope="module")
def page():
    os.makedirs(SHOTS, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.set_default_timeout(WAIT_MS)
        pg = context.new_page()
        try:
            yield pg
        finally:
            browser.close()


def shot(page, name):
    page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def test_a_person_steers_workflows_in_the_browser(server, page):
    gate = os.path.join(server.dir, "gate")
    server.call(lambda c: c.start_workflow("ui.approval", {"gate": gate}, workflow_id="order-1001"))
    server.call(lambda c: c.start_workflow("ui.idle", {}, workflow_id="idle-7"))

    # The list: newest first, counts per status, and both workflows.
    page.goto(server.url + "/")
    expect(page).to_have_url(server.url + "/workflows")
    expect(page.locator("#workflows")).to_contain_text("order-1001")
    expect(page.locator("#workflows")).to_contain_text("idle-7")
    expect(page.locator(".counts")).to_contain_text("all 2")
    shot(page, "01-workflow-list.png")

    # Filter by id prefix through the form: the URL says what is shown.
    page.fill("input[name=prefix]", "idle")
    page.click("#filter button[type=submit]")
    expect(page).to_have_url(server.url + "/workflows?name=&prefix=idle&q=&within=")
    expect(page.locator("#workflows")).to_contain_text("idle-7")
    expect(page.locator("#workflows")).not_to_contain_text("order-1001")
    shot(page, "02-filtered-list.png")

    # Open the other workflow: its activity runs until the gate opens.
    page.goto(server.url + "/workflows")
    page.click("text=order-1001")
    expect(page.locator("#headline")).to_contain_text("Running step 2: activity ui.slow attempt 1")
    expect(page.locator("#steps tr[data-seq='2']")).to_contain_text("scheduled")
    retried = page.locator("#steps tr[data-seq='1']")
    expect(retried).to_contain_text("ui.flaky")
    expect(retried.locator("td").nth(4)).to_have_text("2")  # attempts
    expect(retried.locator(".tries")).to_have_text("×2")
    # Each failed attempt's error stays on the page, not only the last one.
    expect(retried.locator("li.attempt-failure[data-attempt='1']")).to_contain_text("Unavailable: upstream answered HTTP 503")
    shot(page, "03-workflow-running.png")

    # Watch it finish live: no navigation, the live part refreshes itself.
    page.evaluate("window.__stayed = true")
    open(gate, "w").close()
    expect(page.locator("#steps tr[data-seq='2']")).to_contain_text("completed")
    expect(page.locator("#headline")).to_contain_text("Waiting for signal approve")
    assert page.evaluate("window.__stayed === true"), "the page reloaded instead of updating in place"
    # The retried step's track: queue wait, the failed attempt, its backoff, the attempt that
    # succeeded; the signal wait still open is drawn as suspended.
    classes = retried.locator(".seg").evaluate_all("els => els.map(e => e.className)")
    assert classes == ["seg seg-queue", "seg seg-run failed", "seg seg-backoff", "seg seg-run"], classes
    expect(retried.locator(".seg-backoff")).to_have_attribute("title", re.compile(r"^backoff \d"))
    expect(page.locator("#steps tr[data-seq='3'] .seg-wait.open")).to_have_count(1)
    expect(page.locator(".legend")).to_contain_text("backoff")
    shot(page, "04-workflow-waiting-for-signal.png")

    # Send the signal through the form.
    page.fill("#signal-form input[name=name]", "approve")
    page.fill("#signal-form textarea[name=payload]", '{"by": "ops"}')
    page.click("#signal-form button[type=submit]")
    expect(page.locator("#flash")).to_contain_text("Signal approve sent.")
    expect(page.locator("#headline")).to_contain_text("Completed in")
    expect(page.locator("#steps")).to_contain_text("approve")
    shot(page, "05-workflow-completed.png")
    assert server.call(lambda c: c.describe("order-1001"))["output"]["approved"] == {"by": "ops"}

    # Reset to step 2: steps 1 and 2 replay from the journal, and the approve signal the old run
    # consumed after step 2 is pending again, so the new generation takes it and completes.
    page.fill("#reset-form input[name=toStep]", "2")
    page.fill("#reset-form input[name=reason]", "approve again")
    page.click("#reset-form button[type=submit]")
    expect(page.locator("#flash")).to_contain_text("Reset to step 2.")
    expect(page.locator("#live")).to_contain_text("generation 1")
    expect(page.locator("#headline")).to_contain_text("Completed in")
    expect(page.locator("#steps tr[data-seq='3']")).to_contain_text("completed")
    shot(page, "05b-workflow-reset.png")

    # The stuck page with no threshold lists the idle one, waiting for its signal.
    page.goto(server.url + "/stuck?minutes=0")
    expect(page.locator("#quiet")).to_contain_text("idle-7")
    shot(page, "06-stuck.png")

    # Cancel the idle one.
    page.goto(server.url + "/workflow?id=idle-7")
    expect(page.locator("#headline")).to_contain_text("Waiting for signal never")
    page.fill("#cancel-form input[name=reason]", "not needed")
    page.click("#cancel-form button[type=submit]")
    expect(page.locator("#flash")).to_contain_text("Cancellation requested.")
    expect(page.locator("#headline")).to_contain_text("Cancelled")
    shot(page, "07-workflow-cancelled.png")
    assert server.call(lambda c: c.describe("idle-7"))["status"] == "cancelled"

    # The counts act as filters.
    page.goto(server.url + "/workflows")
    page.click(".counts a[data-status=cancelled]")
    expect(page).to_have_url(server.url + "/workflows?status=cancelled")
    expect(page.locator("#workflows")).to_contain_text("idle-7")
    expect(page.locator("#workflows")).not_to_contain_text("order-1001")

    # Workers and queues.
    page.goto(server.url + "/workers")
    expect(page.locator("#workers")).to_contain_text("ui-worker")
    expect(page.locator("#workers")).to_contain_text("ui.slow")
    expect(page.locator("#workers td.heartbeat")).to_contain_text("ago")  # its last message's age
    shot(page, "08-workers.png")

    # Contracts: ui.charge's schema, the worker serving it, and a call its contract refused.
    with pytest.raises(keel.KeelError):
        server.call(lambda c: c.call_activity("ui.charge", {"amount": "ten"}))
    page.click("nav >> text=Contracts")
    expect(page).to_have_url(server.url + "/contracts")
    expect(page.locator("#contracts tr[data-name='ui.charge']")).to_contain_text("ui-worker")
    charge = page.locator("section[id='activity-ui.charge']")
    expect(charge).to_contain_text("Charges a card.")
    expect(charge.locator("pre.schema[data-role=input]")).to_contain_text('"minimum": 1')
    expect(charge.locator("table.violations")).to_contain_text("at /amount")
    shot(page, "07-contracts.png")
    page.goto(server.url + "/queues")
    expect(page.locator("#activity-queues")).to_contain_text("ui.slow")
    shot(page, "09-queues.png")
    metrics = page.goto(server.url + "/metrics")
    assert metrics.status == 200 and "keel_workflows_open" in metrics.text()
    with open(os.path.join(SHOTS, "metrics-excerpt.txt"), "w") as f:
        f.write("\n".join(line for line in metrics.text().splitlines() if line.startswith("keel_"))[:6000])


def test_bad_input_gets_an_error_page(server, page):
    response = page.goto(server.url + "/workflow?id=no-such-workflow")
    assert response.status == 404
    expect(page.locator("#error")).to_contain_text("no-such-workflow")
    response = page.goto(server.url + "/workflows?name=" + "x" * 9000)
    assert response.status == 414
    shot(page, "10-not-found.png")
