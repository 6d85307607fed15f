// Execution streams: publish from workflow code (a durable step) and from activities
// (`activity/publish`), and Client.follow (`workflow/follow` long polls) against scripted peers.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Client, KeelError, safeToRepeat } from '../src/index.js';
import { FakeKeelSocket, tempDir } from '../support/peer.js';
import { servingWorker as serving } from '../support/worker.js';
import { scriptedSteps as steps, workflowRun as run } from '../support/workflow.js';

const quiet = { error() {}, warn() {}, info() {} };

const publishing = async (input, wf) => {
  await wf.publish({ pct: 50 }, 'progress');
  await wf.publish('done');
  return { published: 2 };
};

describe('WorkflowContext.publish', { timeout: 10_000 }, () => {
  test('is a step {kind "publish", name, input {event}} in program order; the default name is "event"', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute(publishing);
    const s1 = await keel.next();
    assert.deepEqual(s1.params, { workflowId: 'wf-1', runId: 1, seq: 1, kind: 'publish', name: 'progress', input: { event: { pct: 50 } } });
    assert.equal(keel.sent.length, 0, 'the second publish waits for the first');
    s1.resolve({ status: 'completed', result: null });
    const s2 = await keel.next();
    assert.deepEqual(s2.params, { workflowId: 'wf-1', runId: 1, seq: 2, kind: 'publish', name: 'event', input: { event: 'done' } });
    s2.resolve({ status: 'completed', result: null });
    assert.deepEqual(await done, { status: 'completed', output: { published: 2 } });
  });

  test('replays from the journal without sending anything again', async () => {
    const keel = steps();
    const journal = [
      { seq: 1, kind: 'publish', name: 'progress', status: 'completed', result: null },
      { seq: 2, kind: 'publish', name: 'event', status: 'completed', result: null },
    ];
    assert.deepEqual(await run({ runId: 2, journal }, keel.send).execute(publishing), { status: 'completed', output: { published: 2 } });
    assert.equal(keel.sent.length, 0);
  });

  test('a journal with another name at that seq is NonDeterminism', async () => {
    const journal = [{ seq: 1, kind: 'publish', name: 'other', status: 'completed', result: null }];
    const answer = await run({ journal }, steps().send).execute(publishing);
    assert.equal(answer.failure.type, 'NonDeterminism');
  });
});

describe('ActivityContext.publish', { timeout: 10_000 }, () => {
  const progress = (worker, seen) =>
    worker.activity('progress', async (input, ctx) => {
      try {
        for (let i = 1; i <= input.steps; i++) await ctx.publish({ step: i }, 'progress');
        await ctx.publish(null);
      } catch (error) {
        seen.push(error);
        throw error;
      }
      return { published: input.steps };
    });

  test('sends activity/publish {taskId, attempt, name, event} (+ attemptToken) and awaits each answer', async (t) => {
    const seen = [];
    const { peer } = await serving(t, (worker) => progress(worker, seen));
    peer.execute('k1', 'progress', { steps: 2 }, { taskId: 't-p', attempt: 2, workflowId: 'wf-1', attemptToken: 'tok' });
    const p1 = await peer.recv();
    assert.equal(p1.method, 'activity/publish');
    assert.deepEqual(p1.params, { taskId: 't-p', attempt: 2, name: 'progress', event: { step: 1 }, attemptToken: 'tok' });
    await assert.rejects(peer.recv(150), /no message/, 'the next publish waits for the answer');
    peer.answer(p1, {});
    const p2 = await peer.recv();
    assert.deepEqual(p2.params.event, { step: 2 });
    peer.answer(p2, {});
    const p3 = await peer.recv();
    assert.deepEqual(p3.params, { taskId: 't-p', attempt: 2, name: 'event', event: null, attemptToken: 'tok' });
    peer.answer(p3, {});
    const answer = await peer.recv();
    assert.deepEqual(answer.result, { output: { published: 2 } });
    assert.deepEqual(seen, []);
  });

  test('no attemptToken key when activity/execute gave none', async (t) => {
    const { peer } = await serving(t, (worker) => progress(worker, []));
    peer.execute('k1', 'progress', { steps: 1 }, { taskId: 't-q' });
    const p1 = await peer.recv();
    assert.deepEqual(p1.params, { taskId: 't-q', attempt: 1, name: 'progress', event: { step: 1 } });
    peer.answer(p1, {});
    peer.answer(await peer.recv(), {});
    assert.deepEqual((await peer.recv()).result, { output: { published: 1 } });
  });

  test('an error answer raises KeelError in the activity: -32602 fails it, 2006 also cancels the attempt', async (t) => {
    const seen = [];
    const { peer } = await serving(t, (worker) => progress(worker, seen));
    peer.execute('k1', 'progress', { steps: 1 }, { taskId: 't-direct' });
    const p1 = await peer.recv();
    peer.send({ jsonrpc: '2.0', id: p1.id, error: { code: -32602, message: 'task t-direct belongs to no workflow execution; it has no stream' } });
    const failed = await peer.recv();
    assert.equal(failed.id, 'k1');
    assert.equal(failed.result.failure.type, 'KeelError');
    assert.ok(seen[0] instanceof KeelError);
    assert.equal(seen[0].code, -32602);

    peer.execute('k2', 'progress', { steps: 1 }, { taskId: 't-old', attempt: 3, workflowId: 'wf-1' });
    const p2 = await peer.recv();
    peer.send({ jsonrpc: '2.0', id: p2.id, error: { code: 2006, message: 'attempt 3 of task t-old ended' } });
    const superseded = await peer.recv();
    assert.equal(superseded.id, 'k2');
    assert.equal(superseded.result.failure.type, 'Cancelled');
    assert.equal(seen[1].code, 2006);
  });
});

/** A Client connected to a fake Keel; `peer` is the connection's Keel side (initialize answered). */
async function following(t, options = {}) {
  const keel = await FakeKeelSocket.listen(path.join(tempDir(t), 'k.sock'));
  const connecting = Client.connect({ socket: keel.path, logger: quiet, ...options });
  const peer = await accepted(keel);
  const client = await connecting;
  t.after(async () => {
    await client.close();
    await keel.close();
  });
  return { keel, client, peer };
}

async function accepted(keel) {
  const peer = await keel.accept();
  const init = await peer.recv();
  assert.equal(init.method, 'initialize');
  peer.answer(init, { protocolVersion: '1', serverInfo: { name: 'keel', version: '0' }, capabilities: { batches: true, maxMessageBytes: 16777216 } });
  return peer;
}

const event = (offset, extra = {}) => ({ offset, name: 'progress', event: { i: offset }, atMs: 1000 + offset, source: 'workflow', seq: offset, ...extra });

/** Drains an async iterator into an array in the background. */
function collect(iterator) {
  const items = [];
  const done = (async () => {
    for await (const item of iterator) items.push(item);
    return items;
  })();
  return { items, done };
}

describe('Client.follow', { timeout: 15_000 }, () => {
  test('pages through nextOffset with 30 s long polls and ends after a page with done', async (t) => {
    const { client, peer } = await following(t);
    const { done } = collect(client.follow('wf-1'));
    const f1 = await peer.recv();
    assert.equal(f1.method, 'workflow/follow');
    assert.deepEqual(f1.params, { workflowId: 'wf-1', afterOffset: 0, waitTimeoutMs: 30000 });
    peer.answer(f1, { workflowId: 'wf-1', events: [event(1), event(2)], nextOffset: 2, status: 'running', done: false });
    const f2 = await peer.recv();
    assert.equal(f2.params.afterOffset, 2);
    peer.answer(f2, { workflowId: 'wf-1', events: [], nextOffset: 2, status: 'running', done: false }); // a poll that timed out
    const f3 = await peer.recv();
    assert.equal(f3.params.afterOffset, 2);
    peer.answer(f3, { workflowId: 'wf-1', events: [event(3, { source: 'activity', taskId: 't-1', attempt: 1, seq: undefined })], nextOffset: 3, status: 'running', done: false });
    const f4 = await peer.recv();
    assert.equal(f4.params.afterOffset, 3);
    peer.answer(f4, { workflowId: 'wf-1', events: [event(4)], nextOffset: 4, status: 'completed', done: true });
    const items = await done;
    assert.deepEqual(items.map((e) => e.offset), [1, 2, 3, 4]);
    assert.equal(items[2].source, 'activity');
    assert.equal(items[2].taskId, 't-1');
    await assert.rejects(peer.recv(150), /no message/, 'no poll after done');
  });

  test('starts after the given offset, passes limit and waitTimeoutMs, and ends on an empty done page', async (t) => {
    const { client, peer } = await following(t);
    const { done } = collect(client.follow('wf-2', 5, { limit: 2, waitTimeoutMs: 1000 }));
    const f1 = await peer.recv();
    assert.deepEqual(f1.params, { workflowId: 'wf-2', afterOffset: 5, limit: 2, waitTimeoutMs: 1000 });
    peer.answer(f1, { workflowId: 'wf-2', events: [event(6), event(7)], nextOffset: 7, status: 'running', done: false });
    const f2 = await peer.recv();
    assert.equal(f2.params.afterOffset, 7);
    peer.answer(f2, { workflowId: 'wf-2', events: [], nextOffset: 7, status: 'failed', done: true });
    assert.deepEqual((await done).map((e) => e.offset), [6, 7]);
  });

  test('an error answer ends the iteration with the KeelError', async (t) => {
    const { client, peer } = await following(t);
    const { done } = collect(client.follow('missing'));
    const f1 = await peer.recv();
    peer.send({ jsonrpc: '2.0', id: f1.id, error: { code: 1001, message: 'no workflow missing' } });
    await assert.rejects(done, (error) => error instanceof KeelError && error.code === 1001);
  });

  test('break stops following; an aborted signal ends a poll in flight', async (t) => {
    const { client, peer } = await following(t);
    const seen = [];
    const loop = (async () => {
      for await (const e of client.follow('wf-3')) {
        seen.push(e.offset);
        break;
      }
    })();
    const f1 = await peer.recv();
    peer.answer(f1, { workflowId: 'wf-3', events: [event(1), event(2)], nextOffset: 2, status: 'running', done: false });
    await loop;
    assert.deepEqual(seen, [1]);
    await assert.rejects(peer.recv(150), /no message/, 'no poll after break');

    const controller = new AbortController();
    const { done } = collect(client.follow('wf-3', 0, { signal: controller.signal }));
    await peer.recv();
    controller.abort(new Error('stop'));
    await assert.rejects(done, /stop/);
  });

  test('workflow/follow is a read: a poll in flight at a drop is sent again after the reconnect, from the same offset', async (t) => {
    assert.equal(safeToRepeat('workflow/follow', { workflowId: 'x' }), true);
    const { keel, client, peer } = await following(t, { reconnectInitialMs: 10, reconnectMaxMs: 50 });
    const { done } = collect(client.follow('wf-4'));
    const f1 = await peer.recv();
    peer.answer(f1, { workflowId: 'wf-4', events: [event(1), event(2)], nextOffset: 2, status: 'running', done: false });
    const f2 = await peer.recv();
    assert.equal(f2.params.afterOffset, 2);
    peer.close(); // Keel drops the connection while the poll waits
    const again = await accepted(keel);
    const f3 = await again.recv();
    assert.equal(f3.method, 'workflow/follow');
    assert.equal(f3.params.afterOffset, 2);
    again.answer(f3, { workflowId: 'wf-4', events: [event(3)], nextOffset: 3, status: 'completed', done: true });
    assert.deepEqual((await done).map((e) => e.offset), [1, 2, 3]);
  });
});
