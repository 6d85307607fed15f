// Search attributes and memo (docs/protocol.md, "Search attributes and memo"): what startWorkflow
// and listWorkflows send, 1013 invalidQuery as a KeelError, and the `upsert` steps of workflow
// code (shapes, a null removal sent as null, replay from the journal), and a child step carrying the
// child's own searchAttributes and memo (sent only when given), against scripted peers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeelError, codes } from '../src/index.js';
import { answered as sent, connectedClient as connected } from '../support/client.js';
import { servingWorker } from '../support/worker.js';
import { scriptedSteps as steps, workflowRun as run } from '../support/workflow.js';

const started = { workflowId: 'wf-1', status: 'pending', started: true };
const listed = { workflows: [] };

describe('Client: search attributes, memo and list queries', { timeout: 10_000 }, () => {
  test('startWorkflow sends searchAttributes and memo as given, and neither when not given', async (t) => {
    const { client, peer } = await connected(t);
    const searchAttributes = { customer: 'acme', amount: 42, vip: true, due: '2026-12-01T10:00:00Z' };
    const memo = { owner: 'ops', notes: ['a', { b: null }] };
    const both = await sent(peer, client.startWorkflow('wf.order', { id: 1 }, { workflowId: 'wf-1', searchAttributes, memo }), started);
    assert.equal(both.request.method, 'workflow/start');
    assert.deepEqual(both.request.params, { name: 'wf.order', input: { id: 1 }, workflowId: 'wf-1', searchAttributes, memo });
    assert.deepEqual(both.value, started);

    const neither = await sent(peer, client.startWorkflow('wf.order', {}, { searchAttributes: undefined, memo: undefined }), started);
    assert.deepEqual(neither.request.params, { name: 'wf.order', input: {} });
  });

  test('listWorkflows sends query beside the other filters; without one, no query key', async (t) => {
    const { client, peer } = await connected(t);
    const query = 'customer = "acme" AND amount >= 100 AND (status = "running" OR status = "suspended")';
    const page = { workflows: [{ workflowId: 'wf-1', name: 'wf.order', status: 'running', searchAttributes: { customer: 'acme', amount: 120 } }] };
    const searched = await sent(peer, client.listWorkflows({ query, limit: 10 }), page);
    assert.equal(searched.request.method, 'workflow/list');
    assert.deepEqual(searched.request.params, { query, limit: 10 });
    assert.deepEqual(searched.value, page);

    const plain = await sent(peer, client.listWorkflows({ status: 'running', query: undefined }), listed);
    assert.deepEqual(plain.request.params, { status: 'running' });
  });

  test('a bad query rejects with KeelError 1013 invalidQuery and its data', async (t) => {
    const { client, peer } = await connected(t);
    assert.equal(codes.invalidQuery, 1013);
    const call = client.listWorkflows({ query: 'customer = ' });
    const request = await peer.recv();
    const data = { query: 'customer = ', position: 11, token: '' };
    peer.send({ jsonrpc: '2.0', id: request.id, error: { code: 1013, message: 'bad query at character 11: a value is missing', data } });
    await assert.rejects(call, (error) => error instanceof KeelError && error.code === codes.invalidQuery && error.data.position === 11);
  });
});

describe('WorkflowContext.upsertSearchAttributes and upsertMemo', { timeout: 10_000 }, () => {
  const upserting = async (input, wf) => {
    const attributes = await wf.upsertSearchAttributes({ customer: 'acme', amount: 42, vip: true });
    await wf.upsertSearchAttributes({ vip: null });
    const memo = await wf.upsertMemo({ note: 'hi' });
    return { attributes, memo };
  };
  const merged = [{ customer: 'acme', amount: 42, vip: true }, { customer: 'acme', amount: 42 }, { note: 'hi' }];

  test('each is a step {kind "upsert", name "searchAttributes"|"memo", input: the values} resolving with the merge', async () => {
    const keel = steps();
    const done = run({ runId: 2 }, keel.send).execute(upserting);
    const shapes = [];
    for (const result of merged) {
      const step = await keel.next();
      shapes.push(step.params);
      step.resolve({ status: 'completed', result });
    }
    assert.deepEqual(shapes, [
      { workflowId: 'wf-1', runId: 2, seq: 1, kind: 'upsert', name: 'searchAttributes', input: { customer: 'acme', amount: 42, vip: true } },
      { workflowId: 'wf-1', runId: 2, seq: 2, kind: 'upsert', name: 'searchAttributes', input: { vip: null } },
      { workflowId: 'wf-1', runId: 2, seq: 3, kind: 'upsert', name: 'memo', input: { note: 'hi' } },
    ]);
    assert.deepEqual(await done, { status: 'completed', output: { attributes: merged[0], memo: merged[2] } });
  });

  test('in replay the journal answers and nothing is sent', async () => {
    const keel = steps();
    const journal = merged.map((result, i) => ({ seq: i + 1, kind: 'upsert', name: i < 2 ? 'searchAttributes' : 'memo', status: 'completed', result }));
    const answer = await run({ journal }, keel.send).execute(upserting);
    assert.deepEqual(answer, { status: 'completed', output: { attributes: merged[0], memo: merged[2] } });
    assert.equal(keel.sent.length, 0);
  });

  test('a null removal goes out on the wire as null, not dropped', async (t) => {
    const { peer } = await servingWorker(t, (worker) => {
      worker.workflow('wf.unset', async (input, wf) => [await wf.upsertSearchAttributes({ vip: null, region: 'eu' }), await wf.upsertMemo({ note: null })]);
    });
    peer.send({ jsonrpc: '2.0', id: 'r1', method: 'workflow/run', params: { workflowId: 'wf-u', runId: 1, name: 'wf.unset', input: {}, journal: [], cancelRequested: false } });
    const attributesLine = await peer.recvLine();
    assert.match(attributesLine, /"kind":"upsert","name":"searchAttributes","input":\{"vip":null,"region":"eu"\}/);
    peer.answer(JSON.parse(attributesLine), { status: 'completed', result: { region: 'eu' } });
    const memoLine = await peer.recvLine();
    assert.match(memoLine, /"kind":"upsert","name":"memo","input":\{"note":null\}/);
    peer.answer(JSON.parse(memoLine), { status: 'completed', result: {} });
    assert.deepEqual((await peer.recv()).result, { status: 'completed', output: [{ region: 'eu' }, {}] });
  });

  test('a failed upsert (Keel refused the values) raises like any step failure', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute((input, wf) => wf.upsertSearchAttributes({ status: 'x' }));
    const failure = { type: 'InvalidSearchAttributes', message: 'status is a built-in field', retryable: false, details: null };
    (await keel.next()).resolve({ status: 'failed', failure });
    assert.deepEqual(await done, { status: 'failed', failure });
  });

  test('anything but an object is refused with a TypeError before it takes a seq', async () => {
    const keel = steps();
    const answer = await run({}, keel.send).execute(async (input, wf) => {
      const errors = [];
      for (const bad of [null, undefined, [], 'vip', 7]) {
        await wf.upsertSearchAttributes(bad).catch((error) => errors.push(error.constructor.name));
        await wf.upsertMemo(bad).catch((error) => errors.push(error.constructor.name));
      }
      return { errors, seq: wf._run._seq };
    });
    assert.deepEqual(answer, { status: 'completed', output: { errors: Array(10).fill('TypeError'), seq: 0 } });
    assert.equal(keel.sent.length, 0);
  });
});

describe('WorkflowContext.child with the child\'s own searchAttributes and memo', { timeout: 10_000 }, () => {
  const searchAttributes = { customer: 'acme', amount: 42, vip: true };
  const memo = { source: 'batch', notes: ['a', { b: null }] };

  test('the child step input carries them when given, as startWorkflow\'s options are named', async () => {
    const keel = steps();
    const done = run({ runId: 3 }, keel.send).execute(async (input, wf) => [
      await wf.child('kid', { n: 1 }, { searchAttributes, memo }),
      await wf.child('kid', 2, { workflowId: 'kid-2', searchAttributes }),
      await wf.child('kid', 3, { workflowId: 'kid-3', memo }),
      await wf.child('kid', 4, { searchAttributes: {}, memo: {} }),
    ]);
    const sentSteps = [];
    for (const result of ['c1', 'c2', 'c3', 'c4']) {
      const step = await keel.next();
      sentSteps.push(step.params);
      step.resolve({ status: 'completed', result });
    }
    assert.deepEqual(sentSteps, [
      { workflowId: 'wf-1', runId: 3, seq: 1, kind: 'child', name: 'kid', input: { input: { n: 1 }, searchAttributes, memo } },
      { workflowId: 'wf-1', runId: 3, seq: 2, kind: 'child', name: 'kid', input: { input: 2, workflowId: 'kid-2', searchAttributes } },
      { workflowId: 'wf-1', runId: 3, seq: 3, kind: 'child', name: 'kid', input: { input: 3, workflowId: 'kid-3', memo } },
      { workflowId: 'wf-1', runId: 3, seq: 4, kind: 'child', name: 'kid', input: { input: 4, searchAttributes: {}, memo: {} } },
    ]);
    assert.deepEqual(await done, { status: 'completed', output: ['c1', 'c2', 'c3', 'c4'] });
  });

  test('without them the input is unchanged: {input} or {input, workflowId}, never null or {} by default', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute(async (input, wf) => [
      await wf.child('kid', { n: 1 }),
      await wf.child('kid', 2, 'kid-2'),
      await wf.child('kid', 3, { workflowId: 'kid-3' }),
      await wf.child('kid', 4, {}),
      await wf.child('kid', 5, { searchAttributes: undefined, memo: undefined }),
      await wf.child('kid', 6, { workflowId: null, searchAttributes: null, memo: null }),
      await wf.child('kid', 7, null),
    ]);
    const inputs = [];
    for (let i = 1; i <= 7; i++) {
      const step = await keel.next();
      assert.equal(step.params.options, undefined);
      inputs.push(step.params.input);
      step.resolve({ status: 'completed', result: i });
    }
    assert.deepEqual(inputs, [
      { input: { n: 1 } },
      { input: 2, workflowId: 'kid-2' },
      { input: 3, workflowId: 'kid-3' },
      { input: 4 },
      { input: 5 },
      { input: 6 },
      { input: 7 },
    ]);
    assert.deepEqual(await done, { status: 'completed', output: [1, 2, 3, 4, 5, 6, 7] });
  });

  test('on the wire: the step line without them is byte-for-byte the old one; with them the fields follow', async (t) => {
    const { peer } = await servingWorker(t, (worker) => {
      worker.workflow('wf.parent', async (input, wf) => [await wf.child('wf.kid', { n: 1 }), await wf.child('wf.kid', { n: 2 }, { workflowId: 'kid-2', searchAttributes: { customer: 'acme' }, memo: { source: 'batch' } })]);
    });
    peer.send({ jsonrpc: '2.0', id: 'r1', method: 'workflow/run', params: { workflowId: 'wf-p', runId: 1, name: 'wf.parent', input: {}, journal: [], cancelRequested: false } });
    const plainLine = await peer.recvLine();
    assert.match(plainLine, /"params":\{"workflowId":"wf-p","runId":1,"seq":1,"kind":"child","name":"wf.kid","input":\{"input":\{"n":1\}\}\}/);
    peer.answer(JSON.parse(plainLine), { status: 'completed', result: 'one' });
    const fullLine = await peer.recvLine();
    assert.match(fullLine, /"seq":2,"kind":"child","name":"wf.kid","input":\{"input":\{"n":2\},"workflowId":"kid-2","searchAttributes":\{"customer":"acme"\},"memo":\{"source":"batch"\}\}\}/);
    peer.answer(JSON.parse(fullLine), { status: 'completed', result: 'two' });
    assert.deepEqual((await peer.recv()).result, { status: 'completed', output: ['one', 'two'] });
  });

  test('in replay the journal answers the child and nothing is sent', async () => {
    const keel = steps();
    const journal = [{ seq: 1, kind: 'child', name: 'kid', status: 'completed', result: { done: true } }];
    const answer = await run({ journal }, keel.send).execute((input, wf) => wf.child('kid', {}, { searchAttributes, memo }));
    assert.deepEqual(answer, { status: 'completed', output: { done: true } });
    assert.equal(keel.sent.length, 0);
  });

  test('Keel refusing them (-32602 naming params.input.searchAttributes) rejects the step with a KeelError', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute(async (input, wf) => {
      try {
        await wf.child('kid', {}, { searchAttributes: { status: 'x' } });
        return 'no error';
      } catch (error) {
        return { keelError: error instanceof KeelError, code: error.code };
      }
    });
    const step = await keel.next();
    assert.deepEqual(step.params.input, { input: {}, searchAttributes: { status: 'x' } });
    step.reject(new KeelError(-32602, 'workflow/step: params.input.searchAttributes.status is a built-in field', { field: 'input.searchAttributes.status' }));
    assert.deepEqual(await done, { status: 'completed', output: { keelError: true, code: -32602 } });
  });
});
