// Workflow updates (docs/protocol.md, "Updates"): the steps workflow code sends to receive an
// update (a `signal` step named "update:" + name) and to answer it (`respond` steps named by the
// update id, with {result} or {failure}), replay sending nothing, and what Client.updateWorkflow
// sends (a fresh UUID updateId by default), decodes and re-sends after a reconnect, against
// scripted peers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ActivityError, KeelError, codes, safeToRepeat } from '../src/index.js';
import { answered as sent, connectedClient as connected, reconnected } from '../support/client.js';
import { servingWorker } from '../support/worker.js';
import { scriptedSteps as steps, workflowRun as run } from '../support/workflow.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const completed = (updateId, result) => ({ workflowId: 'order-1', updateId, name: 'approve', status: 'completed', result });

/** wf.update of conformance case 51: approve amounts up to 100, reject the rest. */
const approving = async (input, wf) => {
  const update = await wf.waitForUpdate('approve');
  const amount = update.input.amount;
  if (amount > 100) {
    await wf.reject(update, `amount ${amount} is over 100`);
    return { approved: false };
  }
  await wf.respond(update, { approved: amount });
  return { approved: true };
};

/** Answers the scripted steps of one run in order with `results`; returns the step params sent. */
async function answerSteps(keel, results) {
  const shapes = [];
  for (const result of results) {
    const step = await keel.next();
    assert.equal(keel.sent.length, 0, 'each step waits for the one before');
    shapes.push(step.params);
    step.resolve({ status: 'completed', result });
  }
  return shapes;
}

describe('WorkflowContext.waitForUpdate, respond and reject', { timeout: 10_000 }, () => {
  test('an update is a signal step "update:NAME" {}; respond is a step {kind "respond", name: the id, input {result}}', async () => {
    const keel = steps();
    const done = run({ runId: 3 }, keel.send).execute(approving);
    const shapes = await answerSteps(keel, [{ updateId: 'u-1', input: { amount: 5 } }, null]);
    assert.deepEqual(shapes, [
      { workflowId: 'wf-1', runId: 3, seq: 1, kind: 'signal', name: 'update:approve', input: {} },
      { workflowId: 'wf-1', runId: 3, seq: 2, kind: 'respond', name: 'u-1', input: { result: { approved: 5 } } },
    ]);
    assert.deepEqual(await done, { status: 'completed', output: { approved: true } });
  });

  test('the received update is {id, name, input}; respond resolves with null', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute(async (input, wf) => {
      const update = await wf.waitForUpdate('order.approve');
      return { update, answered: await wf.respond(update, 'ok') };
    });
    const shapes = await answerSteps(keel, [{ updateId: 'u-7', input: [1, 2] }, null]);
    assert.equal(shapes[0].name, 'update:order.approve');
    assert.deepEqual(await done, { status: 'completed', output: { update: { id: 'u-7', name: 'order.approve', input: [1, 2] }, answered: null } });
  });

  test('reject sends {failure: {type "Rejected", message}}: no details key unless given', async () => {
    const keel = steps();
    const done = run({ workflowId: 'wf-u2' }, keel.send).execute(approving);
    const shapes = await answerSteps(keel, [{ updateId: 'u-2', input: { amount: 500 } }, null]);
    assert.deepEqual(shapes[1], {
      workflowId: 'wf-u2',
      runId: 1,
      seq: 2,
      kind: 'respond',
      name: 'u-2',
      input: { failure: { type: 'Rejected', message: 'amount 500 is over 100' } },
    });
    assert.deepEqual(await done, { status: 'completed', output: { approved: false } });
  });

  test('reject with a type and details; respond and reject also take a bare update id; undefined results as null', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute(async (input, wf) => {
      await wf.reject('u-3', 'over budget', { type: 'OverBudget', details: { limit: 100 } });
      await wf.reject('u-4', 'no', { details: null });
      await wf.respond('u-5', undefined);
      await wf.respond('u-6');
      return 'ok';
    });
    const shapes = await answerSteps(keel, [null, null, null, null]);
    assert.deepEqual(
      shapes.map(({ kind, name, input }) => ({ kind, name, input })),
      [
        { kind: 'respond', name: 'u-3', input: { failure: { type: 'OverBudget', message: 'over budget', details: { limit: 100 } } } },
        { kind: 'respond', name: 'u-4', input: { failure: { type: 'Rejected', message: 'no', details: null } } },
        { kind: 'respond', name: 'u-5', input: { result: null } },
        { kind: 'respond', name: 'u-6', input: { result: null } },
      ],
    );
    assert.deepEqual(await done, { status: 'completed', output: 'ok' });
  });

  test('a timeout is sent like a signal\'s, and a timed-out wait throws ActivityError "TimedOut"', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute(async (input, wf) => {
      try {
        await wf.waitForUpdate('approve', { timeoutMs: 1500.4 });
      } catch (error) {
        return { type: error.type, isActivityError: error instanceof ActivityError };
      }
    });
    const step = await keel.next();
    assert.deepEqual(step.params.input, { timeoutMs: 1500 });
    step.resolve({ status: 'failed', failure: { type: 'TimedOut', message: 'no update within 1500 ms', retryable: false } });
    assert.deepEqual(await done, { status: 'completed', output: { type: 'TimedOut', isActivityError: true } });

    const again = steps();
    const received = run({}, again.send).execute((input, wf) => wf.waitForUpdate('approve', 250));
    const wait = await again.next();
    assert.deepEqual(wait.params.input, { timeoutMs: 250 });
    wait.resolve({ status: 'completed', result: { updateId: 'u-1', input: null } });
    assert.deepEqual(await received, { status: 'completed', output: { id: 'u-1', name: 'approve', input: null } });
  });

  test('in replay the journal answers (the update with its id and input) and nothing is sent', async () => {
    const keel = steps();
    const journal = [
      { seq: 1, kind: 'signal', name: 'update:approve', status: 'completed', result: { updateId: 'u-1', input: { amount: 5 } } },
      { seq: 2, kind: 'respond', name: 'u-1', status: 'completed', result: null },
    ];
    assert.deepEqual(await run({ runId: 2, journal }, keel.send).execute(approving), { status: 'completed', output: { approved: true } });
    const rejected = [
      { seq: 1, kind: 'signal', name: 'update:approve', status: 'completed', result: { updateId: 'u-2', input: { amount: 500 } } },
      { seq: 2, kind: 'respond', name: 'u-2', status: 'completed', result: null },
    ];
    assert.deepEqual(await run({ runId: 2, journal: rejected }, keel.send).execute(approving), { status: 'completed', output: { approved: false } });
    assert.equal(keel.sent.length, 0);
  });

  test('a journal whose respond step names another update id is NonDeterminism', async () => {
    const keel = steps();
    const journal = [
      { seq: 1, kind: 'signal', name: 'update:approve', status: 'completed', result: { updateId: 'u-1', input: { amount: 5 } } },
      { seq: 2, kind: 'respond', name: 'approve', status: 'completed', result: null },
    ];
    const answer = await run({ journal }, keel.send).execute(approving);
    assert.equal(answer.status, 'failed');
    assert.equal(answer.failure.type, 'NonDeterminism');
    assert.deepEqual(answer.failure.details.code, { kind: 'respond', name: 'u-1' });
    assert.equal(keel.sent.length, 0);
  });

  test('an update name or id that is not a non-empty string is refused with a TypeError before it takes a seq', async () => {
    const keel = steps();
    const answer = await run({}, keel.send).execute(async (input, wf) => {
      const errors = [];
      const refused = (promise) => promise.catch((error) => errors.push(error.constructor.name));
      for (const bad of ['', null, undefined, 7]) await refused(wf.waitForUpdate(bad));
      for (const bad of ['', null, undefined, {}, { id: '' }]) await refused(wf.respond(bad, 1));
      await refused(wf.reject({ name: 'approve' }, 'no'));
      return { errors, seq: wf._run._seq };
    });
    assert.deepEqual(answer, { status: 'completed', output: { errors: Array(10).fill('TypeError'), seq: 0 } });
    assert.equal(keel.sent.length, 0);
  });

  test('on the wire, a worker sends the steps of case 51 and answers the run', async (t) => {
    const { peer } = await servingWorker(t, (worker) => worker.workflow('wf.update', approving));
    peer.send({ jsonrpc: '2.0', id: 'r1', method: 'workflow/run', params: { workflowId: 'wf-u', runId: 1, name: 'wf.update', input: {}, journal: [], cancelRequested: false } });
    const receive = await peer.recvLine();
    assert.match(receive, /"kind":"signal","name":"update:approve","input":\{\}/);
    peer.answer(JSON.parse(receive), { status: 'completed', result: { updateId: 'u-1', input: { amount: 5 } } });
    const respond = await peer.recvLine();
    assert.match(respond, /"kind":"respond","name":"u-1","input":\{"result":\{"approved":5\}\}/);
    peer.answer(JSON.parse(respond), { status: 'completed', result: null });
    assert.deepEqual((await peer.recv()).result, { status: 'completed', output: { approved: true } });
  });
});

describe('Client.updateWorkflow', { timeout: 10_000 }, () => {
  test('sends workflow/update {workflowId, name, input, updateId: a fresh UUID per call} and resolves with the result', async (t) => {
    const { client, peer } = await connected(t);
    const first = await sent(peer, client.updateWorkflow('order-1', 'approve', { amount: 5 }), completed('x', { approved: 5 }));
    assert.equal(first.request.method, 'workflow/update');
    const { updateId, ...rest } = first.request.params;
    assert.deepEqual(rest, { workflowId: 'order-1', name: 'approve', input: { amount: 5 } });
    assert.match(updateId, UUID_V4);
    assert.deepEqual(first.value, completed('x', { approved: 5 }));

    const second = await sent(peer, client.updateWorkflow('order-1', 'approve', { amount: 5 }), completed('y', null));
    assert.match(second.request.params.updateId, UUID_V4);
    assert.notEqual(second.request.params.updateId, updateId, 'each call has its own update id');
  });

  test('an explicit updateId and waitTimeoutMs are sent as given; no input sends null', async (t) => {
    const { client, peer } = await connected(t);
    const { request } = await sent(peer, client.updateWorkflow('order-1', 'approve', undefined, { updateId: 'order-1/approve', waitTimeoutMs: 0 }), completed('order-1/approve', 1));
    assert.deepEqual(request.params, { workflowId: 'order-1', name: 'approve', input: null, updateId: 'order-1/approve', waitTimeoutMs: 0 });
  });

  test('rejected and pending answers resolve as data, with the failure', async (t) => {
    const { client, peer } = await connected(t);
    const failure = { type: 'Rejected', message: 'amount 500 is over 100' };
    const rejected = { workflowId: 'order-1', updateId: 'u-2', name: 'approve', status: 'rejected', failure };
    assert.deepEqual((await sent(peer, client.updateWorkflow('order-1', 'approve', { amount: 500 }, { updateId: 'u-2' }), rejected)).value, rejected);
    const pending = { workflowId: 'order-1', updateId: 'u-3', name: 'approve', status: 'pending' };
    assert.deepEqual((await sent(peer, client.updateWorkflow('order-1', 'approve', {}, { updateId: 'u-3', waitTimeoutMs: 10 }), pending)).value, pending);
  });

  test('a workflow that ended without answering rejects with KeelError 1031 updateUnanswered and its data', async (t) => {
    const { client, peer } = await connected(t);
    assert.equal(codes.updateUnanswered, 1031);
    const call = client.updateWorkflow('order-1', 'approve', {}, { updateId: 'u-9' });
    const request = await peer.recv();
    const data = { workflowId: 'order-1', updateId: 'u-9', status: 'completed' };
    peer.send({ jsonrpc: '2.0', id: request.id, error: { code: 1031, message: 'workflow order-1 ended without answering update u-9', data } });
    await assert.rejects(call, (error) => error instanceof KeelError && error.code === codes.updateUnanswered && error.data.updateId === 'u-9');
  });

  test('is safe to send again with an update id: a call in flight at a drop is re-sent with the same id', async (t) => {
    assert.ok(safeToRepeat('workflow/update', { workflowId: 'order-1', name: 'approve', updateId: 'u-1' }));
    assert.ok(!safeToRepeat('workflow/update', { workflowId: 'order-1', name: 'approve' }));
    const { client, peer, keel } = await connected(t, { reconnectInitialMs: 10, reconnectMaxMs: 50 });
    const call = client.updateWorkflow('order-1', 'approve', { amount: 5 });
    const first = await peer.recv();
    assert.equal(first.method, 'workflow/update');
    peer.close(); // Keel drops the connection before answering
    const again = await reconnected(keel);
    const { request, value } = await sent(again, call, completed(first.params.updateId, { approved: 5 }));
    assert.deepEqual(request.params, first.params, 'the same params, the same generated update id');
    assert.equal(value.status, 'completed');
  });
});
