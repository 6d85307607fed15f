// Reconnecting (docs/clients.md "Reconnecting"): a real `keel serve` killed with SIGKILL and
// restarted on the same socket and database, with this library's Client and Worker connected.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff, Client, ConnectionClosedError, ConnectionLostError, Worker, safeToRepeat } from '../src/index.js';
import { liveSkipReason, recordCalls, startKeel } from '../support/keel.js';
import { tempDir } from '../support/peer.js';

const quiet = { error() {}, warn() {}, info() {} };
// Generous: CI runs on 2 busy cores; the backoff cap itself is 2 s.
const BACK_WITHIN_MS = 15_000;

async function kill9(keel) {
  const exited = new Promise((resolve) => keel.child.once('exit', resolve));
  keel.child.kill('SIGKILL');
  await exited;
}

/** True once every thread of process `pid` is stopped (state T in /proc): a SIGSTOP has taken hold. */
function stopped(pid) {
  return readdirSync(`/proc/${pid}/task`).every((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  });
}

async function waitUntil(predicate, what, timeoutMs = BACK_WITHIN_MS) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** keel serve, a worker serving `echo`, `slow` (and what `register` adds), and a client, all on one temp dir. */
async function setUp(t, register = () => {}) {
  const dir = tempDir(t);
  const keel = await startKeel(t, dir);
  const worker = new Worker({ name: 'reconnect-worker', socket: keel.socket, logger: quiet, handleSignals: false });
  worker.activity('echo', (input) => input);
  worker.activity('slow', async (input) => {
    await sleep(input.ms);
    return input;
  });
  register(worker);
  const running = worker.run();
  const client = await Client.connect({ socket: keel.socket, logger: quiet });
  t.after(async () => {
    await client.close();
    worker.stop();
    await running;
  });
  const registered = async () => (await client.workers()).some((w) => w.name === 'reconnect-worker');
  await waitUntil(registered, 'the worker to register');
  return { t, dir, keel, client, registered };
}

describe('reconnect against keel serve killed with SIGKILL', { skip: liveSkipReason(), timeout: 60_000 }, () => {
  test('the same client makes its next call, even one sent while Keel is down', async (t) => {
    const env = await setUp(t);
    await env.client.ping();
    await kill9(env.keel);
    const call = env.client.workers(); // sent while Keel is down: waits for it with backoff
    await sleep(500);
    await startKeel(t, env.dir);
    assert.ok(Array.isArray(await call));
    await env.client.ping();
  });

  test('a connected worker serves again soon after Keel comes back', async (t) => {
    const env = await setUp(t);
    await kill9(env.keel);
    await sleep(3000); // the worker keeps failing: its backoff grows to the cap
    await startKeel(t, env.dir);
    const back = Date.now();
    await waitUntil(env.registered, 'the worker to re-register');
    assert.ok(Date.now() - back < BACK_WITHIN_MS);
    const result = await env.client.callActivity('echo', { after: 'restart' }, { waitTimeoutMs: 20_000 });
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.output, { after: 'restart' });
  });

  test('a call in flight without an idempotency key rejects with ConnectionLostError', async (t) => {
    const env = await setUp(t);
    const call = env.client.callActivity('slow', { ms: 3000 });
    const outcome = call.then((value) => value, (error) => error);
    await waitUntil(async () => (await env.client.workers()).some((w) => w.inFlight > 0), 'the call to run');
    await kill9(env.keel);
    const error = await outcome;
    assert.ok(error instanceof ConnectionLostError, String(error));
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(error.code, 'ECONNLOST');
    assert.equal(error.method, 'activity/call');
    await startKeel(t, env.dir);
    await env.client.ping();
  });

  test('a call in flight with an idempotency key is sent again and completes', async (t) => {
    const env = await setUp(t);
    const call = env.client.callActivity('slow', { ms: 1500 }, { idempotencyKey: 'node-k1', waitTimeoutMs: 30_000 });
    await waitUntil(async () => (await env.client.workers()).some((w) => w.inFlight > 0), 'the call to run');
    await kill9(env.keel);
    await sleep(300);
    await startKeel(t, env.dir);
    const result = await call;
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.output, { ms: 1500 });
  });

  test('a signal in flight is sent again with its request id and delivered once', async (t) => {
    const env = await setUp(t, (worker) => {
      worker.workflow('wf.approveTwice', async (input, wf) => [await wf.signal('approve'), await wf.signal('approve')]);
    });
    await env.client.startWorkflow('wf.approveTwice', {}, { workflowId: 'approve-resend' });
    const sent = recordCalls(env.client, 'workflow/signal');
    env.keel.child.kill('SIGSTOP'); // Keel reads nothing more: the signal below stays unanswered
    // kill() returns before every thread has stopped; a request written meanwhile was once read
    // and stored, and the resend then answered duplicate.
    await waitUntil(async () => stopped(env.keel.child.pid), 'Keel to stop');
    const signal = env.client.signalWorkflow('approve-resend', 'approve', { n: 1 });
    await waitUntil(async () => sent.length === 1, 'the signal to be sent');
    await sleep(200);
    await kill9(env.keel);
    await startKeel(t, env.dir);
    const answer = await signal; // sent again on the new connection, not ConnectionLostError
    assert.equal(answer.delivered, true);
    assert.equal(answer.duplicate, false);
    const repeat = await env.client.signalWorkflow('approve-resend', 'approve', { n: 1 }, { requestId: sent[0].requestId });
    assert.equal(repeat.duplicate, true);
    await env.client.signalWorkflow('approve-resend', 'approve', { n: 2 });
    const result = await env.client.workflowResult('approve-resend', { waitTimeoutMs: 20_000 });
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.output, [{ n: 1 }, { n: 2 }]);
  });

  test('a follow waiting in a long poll resumes from its offset after Keel restarts: no loss, no duplicates', async (t) => {
    const env = await setUp(t, (worker) => {
      worker.workflow('wf.publishAround', async (input, wf) => {
        await wf.publish('before');
        await wf.signal('go');
        await wf.publish('after');
        return {};
      });
    });
    await env.client.startWorkflow('wf.publishAround', {}, { workflowId: 'follow-restart' });
    const sent = recordCalls(env.client, 'workflow/follow');
    const events = [];
    const following = (async () => {
      for await (const e of env.client.follow('follow-restart')) events.push(e);
    })();
    await waitUntil(async () => events.length === 1 && sent.length === 2, 'the first event and the next long poll');
    assert.equal(sent[1].afterOffset, 1);
    await kill9(env.keel); // the poll waiting for offset 2 loses its connection
    await sleep(300);
    await startKeel(t, env.dir);
    await waitUntil(env.registered, 'the worker to re-register');
    await env.client.signalWorkflow('follow-restart', 'go', null);
    await following;
    assert.deepEqual(events.map((e) => [e.offset, e.event]), [[1, 'before'], [2, 'after']]);
  });
});

describe('reconnect rules', () => {
  test('backoff is full jitter, capped, and resets', () => {
    const backoff = new Backoff(100, 1000);
    const waits = Array.from({ length: 40 }, () => backoff.next());
    assert.ok(waits.every((w) => w >= 0 && w <= 1000));
    assert.ok(waits[0] <= 100);
    backoff.reset();
    assert.ok(backoff.next() <= 100);
  });

  test('only reads and keyed calls are repeated', () => {
    assert.ok(safeToRepeat('workflow/result', { workflowId: 'w' }));
    assert.ok(safeToRepeat('activity/call', { name: 'a', idempotencyKey: 'k' }));
    assert.ok(!safeToRepeat('activity/call', { name: 'a' }));
    assert.ok(!safeToRepeat('workflow/start', { name: 'w', workflowId: 'w', conflictPolicy: 'fail' }));
    assert.ok(!safeToRepeat('workflow/signal', { workflowId: 'w', name: 's' }));
    assert.ok(safeToRepeat('workflow/follow', { workflowId: 'w', afterOffset: 3 }));
  });

  test('a workflow/signal is repeated only when it carries a requestId', () => {
    assert.ok(safeToRepeat('workflow/signal', { workflowId: 'w', name: 's', payload: 1, requestId: 'r-1' }));
    assert.ok(!safeToRepeat('workflow/signal', { workflowId: 'w', name: 's', payload: 1 }));
    assert.ok(!safeToRepeat('workflow/signal', { workflowId: 'w', name: 's', requestId: null }));
  });
});
