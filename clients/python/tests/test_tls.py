"""TLS against the real `keel serve --tls-cert --tls-key` (docs/security.md "TLS"), with a CA and
certificates made by Tests/tls/make-test-certs.sh. Skipped when the keel binary is missing."""

import os
import re
import ssl
import subprocess
import tempfile
import time

import pytest
from conftest import REPO, run

import keel

KEEL_BIN = os.environ.get("KEEL_BIN") or os.path.join(REPO, ".build", "debug", "keel")
TOKEN = "python-tls-token-0123456789"

pytestmark = pytest.mark.skipif(not os.access(KEEL_BIN, os.X_OK), reason=f"no keel binary at {KEEL_BIN}")


@pytest.fixture
def tls_keel():
    """A `keel serve` whose TCP listener speaks TLS and asks for client certificates; yields
    (address, certificate directory)."""
    with tempfile.TemporaryDirectory() as d:
        certs = os.path.join(d, "tls")
        subprocess.run(["bash", os.path.join(REPO, "Tests", "tls", "make-test-certs.sh"), certs], check=True)
        token_file = os.path.join(d, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN)
        os.chmod(token_file, 0o600)
        log_path = os.path.join(d, "keel.log")
        with open(log_path, "ab") as log:
            server = subprocess.Popen(
                [KEEL_BIN, "serve", "--db", os.path.join(d, "keel.db"), "--socket", os.path.join(d, "k.sock"),
                 "--tcp", "127.0.0.1:0", "--token-file", token_file,
                 "--tls-cert", os.path.join(certs, "server.pem"), "--tls-key", os.path.join(certs, "server.key"),
                 "--tls-client-ca", os.path.join(certs, "ca.pem")],
                stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            port = None
            while port is None:
                assert server.poll() is None and time.monotonic() < deadline, open(log_path).read()
                match = re.search(r"tcp=(\d+)", open(log_path).read())
                port = match and int(match.group(1))
                time.sleep(0.05)
            yield f"127.0.0.1:{port}", certs
        finally:
            server.terminate()
            server.wait(30)


def test_a_client_with_the_ca_and_a_client_certificate_reaches_keel_over_tls(tls_keel):
    address, certs = tls_keel
    settings = keel.TLS(ca_file=os.path.join(certs, "ca.pem"), cert_file=os.path.join(certs, "client.pem"),
                        key_file=os.path.join(certs, "client.key"))

    async def main():
        async with await keel.Client.connect(tcp=address, token=TOKEN, tls=settings, reconnect_timeout=1) as client:
            return await client.workers()

    assert run(main()) == []


def test_a_client_that_does_not_trust_the_ca_fails_the_handshake(tls_keel):
    address, _ = tls_keel

    async def main():
        await keel.Client.connect(tcp=address, token=TOKEN, tls=True, reconnect_timeout=1)

    with pytest.raises(ssl.SSLCertVerificationError):
        run(main())
