// TLS against the real `keel serve --tls-cert --tls-key --tls-client-ca` (docs/security.md "TLS"),
// with a CA and certificates made by Tests/tls/make-test-certs.sh. Skipped without the binary.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '../src/index.js';
import { liveSkipReason, startKeel } from '../support/keel.js';
import { tempDir } from '../support/peer.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TOKEN = 'node-tls-token-0123456789';
const quiet = { error() {}, warn() {}, info() {} };

/** keel serve with TLS and client certificates on 127.0.0.1:<port>; returns the address and cert dir. */
async function startTLSKeel(t) {
  const dir = tempDir(t);
  const certs = path.join(dir, 'tls');
  execFileSync('bash', [path.join(REPO, 'Tests', 'tls', 'make-test-certs.sh'), certs]);
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
  await startKeel(t, dir, [
    '--tcp', '127.0.0.1:0', '--token-file', tokenFile, '--tls-cert', path.join(certs, 'server.pem'),
    '--tls-key', path.join(certs, 'server.key'), '--tls-client-ca', path.join(certs, 'ca.pem'),
  ]);
  // The socket accepts a moment before the start-up line (which names the TCP port) is written.
  let port;
  for (let i = 0; i < 600 && !port; i++) {
    port = fs.readFileSync(path.join(dir, 'keel.log'), 'utf8').match(/tcp=(\d+)/)?.[1];
    if (!port) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(port, 'the start-up line names the TCP port');
  return { address: `127.0.0.1:${port}`, certs };
}

describe('TLS against keel serve', { skip: liveSkipReason(), timeout: 60_000 }, () => {
  test('a client with the CA file and a client certificate reaches keel over TLS', async (t) => {
    const { address, certs } = await startTLSKeel(t);
    const tls = { caFile: path.join(certs, 'ca.pem'), certFile: path.join(certs, 'client.pem'), keyFile: path.join(certs, 'client.key') };
    const client = await Client.connect({ tcp: address, token: TOKEN, tls, logger: quiet });
    try {
      assert.deepEqual(await client.workers(), []);
    } finally {
      await client.close();
    }
  });

  test('a client that does not trust the CA fails the handshake', async (t) => {
    const { address } = await startTLSKeel(t);
    await assert.rejects(
      Client.connect({ tcp: address, token: TOKEN, tls: true, logger: quiet, reconnectTimeoutMs: 1000 }),
      (error) => /certificate/i.test(`${error.code} ${error.message}`),
    );
  });
});
