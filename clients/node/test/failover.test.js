// Several endpoints (docs/clients.md "Several endpoints"): two independent `keel serve`
// processes A and B, a worker and a client given both; A is killed with SIGKILL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Worker, resolveEndpoints } from '../src/index.js';
import { EndpointRing } from '../src/reconnect.js';
import { liveSkipReason, startKeel } from '../support/keel.js';
import { tempDir } from '../support/peer.js';

const quiet = { error() {}, warn() {}, info() {} };
// Generous: CI runs on 2 busy cores.
const WITHIN_MS = 30_000;

async function kill9(keel) {
  const exited = new Promise((resolve) => keel.child.once('exit', resolve));
  keel.child.kill('SIGKILL');
  await exited;
}

async function waitUntil(predicate, what) {
  const deadline = Date.now() + WITHIN_MS;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Whether `failover-worker` is registered on the orchestrator at `socket`. */
async function registeredOn(socket) {
  const client = await Client.connect({ socket, logger: quiet });
  try {
    return (await client.workers()).some((w) => w.name === 'failover-worker');
  } finally {
    await client.close();
  }
}

/** Calls `whoami` through the orchestrator at `socket`; returns the serving worker's id. */
async function whoami(socket) {
  const client = await Client.connect({ socket, logger: quiet });
  try {
    const result = await client.callActivity('whoami', {}, { waitTimeoutMs: WITHIN_MS });
    assert.equal(result.status, 'completed', JSON.stringify(result));
    return result.output.worker;
  } finally {
    await client.close();
  }
}

/** Orchestrators A and B, and a worker given KEEL_SOCKET-style "A,B" that answers `whoami` with its own id. */
async function setUp(t) {
  const a = await startKeel(t, tempDir(t));
  const b = await startKeel(t, tempDir(t));
  const id = randomUUID();
  const worker = new Worker({ name: 'failover-worker', socket: [a.socket, b.socket], logger: quiet, handleSignals: false });
  worker.activity('whoami', () => ({ worker: id }));
  const running = worker.run();
  t.after(async () => {
    worker.stop();
    await running;
  });
  return { a, b, id };
}

describe('several endpoints', () => {
  test('KEEL_SOCKET and KEEL_TCP take comma-separated lists; an option string is one endpoint', () => {
    assert.deepEqual(resolveEndpoints({}, { KEEL_SOCKET: '/a.sock, /b.sock' }).map((e) => e.path), ['/a.sock', '/b.sock']);
    const tcp = resolveEndpoints({}, { KEEL_TCP: 'h1:7000,h2:7001', KEEL_TOKEN: 't' });
    assert.deepEqual(tcp.map((e) => [e.host, e.port, e.token]), [['h1', 7000, 't'], ['h2', 7001, 't']]);
    assert.deepEqual(resolveEndpoints({ socket: '/a,b.sock' }, {}).map((e) => e.path), ['/a,b.sock']);
    assert.deepEqual(resolveEndpoints({ socket: ['/a', '/b'] }, {}).map((e) => e.path), ['/a', '/b']);
    assert.throws(() => resolveEndpoints({}, { KEEL_SOCKET: '/a.sock,,/b.sock' }), /empty entry/);
  });

  test('the ring moves on at once and asks for a backoff pause only after a whole round', () => {
    const ring = new EndpointRing(['a', 'b']);
    assert.equal(ring.current, 'a');
    assert.equal(ring.failed(), false);
    assert.equal(ring.current, 'b');
    assert.equal(ring.failed(), true);
    assert.equal(ring.current, 'a');
    const one = new EndpointRing(['only']);
    assert.equal(one.failed(), true);
  });
});

describe('failover between two keel serve processes', { skip: liveSkipReason(), timeout: 120_000 }, () => {
  test('a worker serves the first endpoint, then fails over and registers on the next', async (t) => {
    const { a, b, id } = await setUp(t);
    await waitUntil(() => registeredOn(a.socket), 'the worker to register on A');
    assert.equal(await registeredOn(b.socket), false);
    assert.equal(await whoami(a.socket), id);
    await kill9(a);
    await waitUntil(() => registeredOn(b.socket), 'the worker to register on B');
    assert.equal(await whoami(b.socket), id);
  });

  test('a worker keeps retrying while every endpoint is down and serves when one is back', async (t) => {
    const { a, b, id } = await setUp(t);
    await waitUntil(() => registeredOn(a.socket), 'the worker to register on A');
    await kill9(a);
    await kill9(b);
    await sleep(1000);
    const dir = b.socket.slice(0, b.socket.lastIndexOf('/'));
    const again = await startKeel(t, dir);
    await waitUntil(() => registeredOn(again.socket), 'the worker to register on B again');
    assert.equal(await whoami(again.socket), id);
  });

  test('a client fails over for its next call, and names every endpoint when all are down', async (t) => {
    const a = await startKeel(t, tempDir(t));
    const b = await startKeel(t, tempDir(t));
    const client = await Client.connect({ socket: [a.socket, b.socket], logger: quiet, reconnectTimeoutMs: 5_000 });
    t.after(() => client.close());
    await client.ping();
    await kill9(a);
    assert.ok(Array.isArray(await client.workers())); // sent after A died: reaches B
    await kill9(b);
    await assert.rejects(Client.connect({ socket: [a.socket, b.socket], logger: quiet }), (error) => {
      assert.match(error.message, /no Keel endpoint is reachable/);
      assert.ok(error.message.includes(a.socket) && error.message.includes(b.socket), error.message);
      return true;
    });
  });
});
