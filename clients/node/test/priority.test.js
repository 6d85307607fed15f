// Priorities and fairness keys (docs/protocol.md, "Priorities and fairness"): the params the
// Client sends for activity/call and workflow/start, and a workflow step's options, against
// scripted peers. Each key is sent only when the caller set it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { answered, connectedClient as connected } from '../support/client.js';
import { scriptedSteps as steps, workflowRun as run } from '../support/workflow.js';

/** Lets `call` go out, answers it with `result`, and returns the request Keel saw. */
const sent = async (peer, call, result) => (await answered(peer, call, result)).request;

const scheduled = { taskId: 't-1', status: 'scheduled', attempts: 0 };
const started = { workflowId: 'wf-1', status: 'pending', started: true };

describe('Client: priority and fairnessKey', { timeout: 10_000 }, () => {
  test('callActivity sends priority and fairnessKey as given, waiting or not', async (t) => {
    const { client, peer } = await connected(t);
    const queued = await sent(peer, client.callActivity('echo', { n: 1 }, { wait: false, priority: 9, fairnessKey: 'tenant-a' }), scheduled);
    assert.equal(queued.method, 'activity/call');
    assert.deepEqual(queued.params, { name: 'echo', input: { n: 1 }, wait: false, priority: 9, fairnessKey: 'tenant-a' });
    const waited = await sent(peer, client.callActivity('echo', {}, { priority: -3, idempotencyKey: 'k1', waitTimeoutMs: 1000 }), { ...scheduled, status: 'completed', output: {} });
    assert.deepEqual(waited.params, { name: 'echo', input: {}, wait: true, priority: -3, idempotencyKey: 'k1', waitTimeoutMs: 1000 });
    const keyOnly = await sent(peer, client.callActivity('echo', {}, { wait: false, fairnessKey: 'b' }), scheduled);
    assert.deepEqual(keyOnly.params, { name: 'echo', input: {}, wait: false, fairnessKey: 'b' });
  });

  test('callActivity sends neither key when the caller set none (no default 0, no null)', async (t) => {
    const { client, peer } = await connected(t);
    const plain = await sent(peer, client.callActivity('echo', {}, { wait: false }), scheduled);
    assert.deepEqual(plain.params, { name: 'echo', input: {}, wait: false });
    const undef = await sent(peer, client.callActivity('echo', {}, { wait: false, priority: undefined, fairnessKey: undefined }), scheduled);
    assert.deepEqual(undef.params, { name: 'echo', input: {}, wait: false });
    assert.ok(!('priority' in undef.params) && !('fairnessKey' in undef.params));
  });

  test('an explicit priority 0 is sent: only an unset one is left out', async (t) => {
    const { client, peer } = await connected(t);
    const zero = await sent(peer, client.callActivity('echo', {}, { wait: false, priority: 0 }), scheduled);
    assert.deepEqual(zero.params, { name: 'echo', input: {}, wait: false, priority: 0 });
  });

  test('startWorkflow sends priority and fairnessKey only when given', async (t) => {
    const { client, peer } = await connected(t);
    const withBoth = await sent(peer, client.startWorkflow('wf.order', { id: 1 }, { workflowId: 'wf-1', priority: 5, fairnessKey: 'acme' }), started);
    assert.equal(withBoth.method, 'workflow/start');
    assert.deepEqual(withBoth.params, { name: 'wf.order', input: { id: 1 }, workflowId: 'wf-1', priority: 5, fairnessKey: 'acme' });
    const without = await sent(peer, client.startWorkflow('wf.order', { id: 2 }, { workflowId: 'wf-2' }), started);
    assert.deepEqual(without.params, { name: 'wf.order', input: { id: 2 }, workflowId: 'wf-2' });
  });
});

describe('WorkflowContext.activity: priority and fairnessKey', { timeout: 10_000 }, () => {
  test('a step sends its own priority and fairnessKey in options, beside retryPolicy and timeouts', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute(async (input, wf) => {
      await wf.activity('echo', { n: 1 }, { priority: 7, fairnessKey: 'tenant-a' });
      await wf.activity('echo', { n: 2 }, { retryPolicy: { maximumAttempts: 2 }, timeouts: { startToCloseMs: 500 }, priority: -1 });
      return null;
    });
    const s1 = await keel.next();
    assert.deepEqual(s1.params.options, { priority: 7, fairnessKey: 'tenant-a' });
    s1.resolve({ status: 'completed', result: null });
    const s2 = await keel.next();
    assert.deepEqual(s2.params.options, { retryPolicy: { maximumAttempts: 2 }, timeouts: { startToCloseMs: 500 }, priority: -1 });
    s2.resolve({ status: 'completed', result: null });
    assert.deepEqual(await done, { status: 'completed', output: null });
  });

  test('a step that sets neither sends neither key, so the execution\'s apply', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute(async (input, wf) => {
      await wf.activity('echo', { n: 1 });
      await wf.activity('echo', { n: 2 }, { priority: undefined, fairnessKey: undefined });
      await wf.activity('echo', { n: 3 }, { retryPolicy: { maximumAttempts: 1 }, priority: undefined });
      return null;
    });
    const s1 = await keel.next();
    assert.ok(!('options' in s1.params), JSON.stringify(s1.params));
    s1.resolve({ status: 'completed', result: null });
    const s2 = await keel.next();
    assert.ok(!('options' in s2.params), JSON.stringify(s2.params));
    s2.resolve({ status: 'completed', result: null });
    const s3 = await keel.next();
    assert.deepEqual(s3.params.options, { retryPolicy: { maximumAttempts: 1 } });
    s3.resolve({ status: 'completed', result: null });
    assert.deepEqual(await done, { status: 'completed', output: null });
  });
});
