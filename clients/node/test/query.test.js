// Queries and signal-with-start (docs/protocol.md, "Queries and signal-with-start"): what
// signalWithStart and queryWorkflow send, 1030 queryNotFound as a KeelError, a query resent after
// a reconnect, and the `query` steps of workflow code (shape, replay) against scripted peers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeelError, codes, safeToRepeat } from '../src/index.js';
import { answered as sent, connectedClient as connected, reconnected } from '../support/client.js';
import { servingWorker } from '../support/worker.js';
import { scriptedSteps as steps, workflowRun as run } from '../support/workflow.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const swsAnswer = { workflowId: 'order-1', status: 'pending', started: true, signal: { delivered: true, duplicate: false } };
const queried = (value) => ({ workflowId: 'order-1', name: 'progress', value, seq: 2, atMs: 1764921600000, status: 'running' });

describe('Client.signalWithStart', { timeout: 10_000 }, () => {
  test('sends workflow/start with the start options and signal {name, payload, requestId: a fresh UUID}', async (t) => {
    const { client, peer } = await connected(t);
    const options = { workflowId: 'order-1', priority: 5, searchAttributes: { customer: 'acme' }, memo: { owner: 'ops' } };
    const first = await sent(peer, client.signalWithStart('orders.fulfil', { id: 1 }, 'approve', { by: 'ada' }, options), swsAnswer);
    assert.equal(first.request.method, 'workflow/start');
    const { signal, ...start } = first.request.params;
    assert.deepEqual(start, { name: 'orders.fulfil', input: { id: 1 }, ...options });
    assert.deepEqual(Object.keys(signal).sort(), ['name', 'payload', 'requestId']);
    assert.equal(signal.name, 'approve');
    assert.deepEqual(signal.payload, { by: 'ada' });
    assert.match(signal.requestId, UUID_V4);
    assert.deepEqual(first.value, swsAnswer);

    const second = await sent(peer, client.signalWithStart('orders.fulfil', { id: 1 }, 'approve', { by: 'ada' }, options), swsAnswer);
    assert.match(second.request.params.signal.requestId, UUID_V4);
    assert.notEqual(second.request.params.signal.requestId, signal.requestId, 'each call has its own request id');
  });

  test('an explicit requestId goes in the signal, not beside the start options; no payload, no payload key', async (t) => {
    const { client, peer } = await connected(t);
    const call = client.signalWithStart('orders.fulfil', null, 'go', undefined, { workflowId: 'order-1', requestId: 'order-1/go', memo: undefined });
    const { request } = await sent(peer, call, swsAnswer);
    assert.deepEqual(request.params, { name: 'orders.fulfil', input: null, workflowId: 'order-1', signal: { name: 'go', requestId: 'order-1/go' } });
  });

  test('an ended execution rejects with KeelError 1001', async (t) => {
    const { client, peer } = await connected(t);
    const call = client.signalWithStart('orders.fulfil', {}, 'go', 1, { workflowId: 'order-1' });
    const request = await peer.recv();
    peer.send({ jsonrpc: '2.0', id: request.id, error: { code: 1001, message: 'workflow order-1 has ended' } });
    await assert.rejects(call, (error) => error instanceof KeelError && error.code === 1001);
  });

  test('is safe to send again after a drop only with a workflow id and a signal request id', () => {
    const signal = { name: 'go', requestId: 'r-1' };
    assert.ok(safeToRepeat('workflow/start', { name: 'w', workflowId: 'w-1', signal }));
    assert.ok(!safeToRepeat('workflow/start', { name: 'w', signal }));
    assert.ok(!safeToRepeat('workflow/start', { name: 'w', workflowId: 'w-1', signal: { name: 'go' } }));
    assert.ok(!safeToRepeat('workflow/start', { name: 'w', workflowId: 'w-1', conflictPolicy: 'fail', signal }));
  });
});

describe('Client.queryWorkflow', { timeout: 10_000 }, () => {
  test('sends workflow/query {workflowId, name} and resolves with the value alone', async (t) => {
    const { client, peer } = await connected(t);
    const { request, value } = await sent(peer, client.queryWorkflow('order-1', 'progress'), queried({ pct: 50 }));
    assert.equal(request.method, 'workflow/query');
    assert.deepEqual(request.params, { workflowId: 'order-1', name: 'progress' });
    assert.deepEqual(value, { pct: 50 });
    for (const falsy of [null, false, 0, '']) {
      assert.equal((await sent(peer, client.queryWorkflow('order-1', 'progress'), queried(falsy))).value, falsy);
    }
  });

  test('a name the workflow never set rejects with KeelError 1030 queryNotFound and the known names', async (t) => {
    const { client, peer } = await connected(t);
    assert.equal(codes.queryNotFound, 1030);
    const call = client.queryWorkflow('order-1', 'stage');
    const request = await peer.recv();
    const data = { workflowId: 'order-1', name: 'stage', known: ['progress'] };
    peer.send({ jsonrpc: '2.0', id: request.id, error: { code: 1030, message: 'workflow order-1 has no query value "stage"', data } });
    await assert.rejects(call, (error) => error instanceof KeelError && error.code === codes.queryNotFound && error.data.known[0] === 'progress');
  });

  test('workflow/query is a read: a query in flight at a drop is sent again after the reconnect', async (t) => {
    assert.ok(safeToRepeat('workflow/query', { workflowId: 'order-1', name: 'progress' }));
    const { client, peer, keel } = await connected(t, { reconnectInitialMs: 10, reconnectMaxMs: 50 });
    const call = client.queryWorkflow('order-1', 'progress');
    assert.equal((await peer.recv()).method, 'workflow/query');
    peer.close(); // Keel drops the connection before answering
    const again = await reconnected(keel);
    const { request, value } = await sent(again, call, queried({ pct: 100 }));
    assert.deepEqual(request.params, { workflowId: 'order-1', name: 'progress' });
    assert.deepEqual(value, { pct: 100 });
  });
});

describe('WorkflowContext.setQueryValue', { timeout: 10_000 }, () => {
  const querying = async (input, wf) => {
    await wf.setQueryValue('progress', { pct: 50 });
    await wf.setQueryValue('progress', { pct: 100 });
    return 'done';
  };

  test('is a step {kind "query", name, input {value}} resolving with null, in program order', async () => {
    const keel = steps();
    const done = run({ runId: 3 }, keel.send).execute(async (input, wf) => [await wf.setQueryValue('progress', { pct: 50 }), await querying(input, wf)]);
    const shapes = [];
    for (let i = 0; i < 3; i++) {
      const step = await keel.next();
      assert.equal(keel.sent.length, 0, 'each waits for the one before');
      shapes.push(step.params);
      step.resolve({ status: 'completed', result: null });
    }
    assert.deepEqual(shapes, [
      { workflowId: 'wf-1', runId: 3, seq: 1, kind: 'query', name: 'progress', input: { value: { pct: 50 } } },
      { workflowId: 'wf-1', runId: 3, seq: 2, kind: 'query', name: 'progress', input: { value: { pct: 50 } } },
      { workflowId: 'wf-1', runId: 3, seq: 3, kind: 'query', name: 'progress', input: { value: { pct: 100 } } },
    ]);
    assert.deepEqual(await done, { status: 'completed', output: [null, 'done'] });
  });

  test('in replay the journal answers and nothing is sent', async () => {
    const keel = steps();
    const journal = [1, 2].map((seq) => ({ seq, kind: 'query', name: 'progress', status: 'completed', result: null }));
    assert.deepEqual(await run({ runId: 2, journal }, keel.send).execute(querying), { status: 'completed', output: 'done' });
    assert.equal(keel.sent.length, 0);
  });

  test('the value goes out on the wire under "value"; undefined as null', async (t) => {
    const { peer } = await servingWorker(t, (worker) => {
      worker.workflow('wf.stage', async (input, wf) => {
        await wf.setQueryValue('stage', 'packed');
        await wf.setQueryValue('stage', undefined);
        return 'ok';
      });
    });
    peer.send({ jsonrpc: '2.0', id: 'r1', method: 'workflow/run', params: { workflowId: 'wf-s', runId: 1, name: 'wf.stage', input: {}, journal: [], cancelRequested: false } });
    const first = await peer.recvLine();
    assert.match(first, /"kind":"query","name":"stage","input":\{"value":"packed"\}/);
    peer.answer(JSON.parse(first), { status: 'completed', result: null });
    const second = await peer.recvLine();
    assert.match(second, /"kind":"query","name":"stage","input":\{"value":null\}/);
    peer.answer(JSON.parse(second), { status: 'completed', result: null });
    assert.deepEqual((await peer.recv()).result, { status: 'completed', output: 'ok' });
  });

  test('a name that is not a non-empty string is refused with a TypeError before it takes a seq', async () => {
    const keel = steps();
    const answer = await run({}, keel.send).execute(async (input, wf) => {
      const errors = [];
      for (const bad of ['', null, undefined, 7, {}]) await wf.setQueryValue(bad, 1).catch((error) => errors.push(error.constructor.name));
      return { errors, seq: wf._run._seq };
    });
    assert.deepEqual(answer, { status: 'completed', output: { errors: Array(5).fill('TypeError'), seq: 0 } });
    assert.equal(keel.sent.length, 0);
  });
});
