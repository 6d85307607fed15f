// Live: the real `keel` binary, this client's Worker and Client over a Unix socket. Skipped when
// the binary is missing; the workflow tests skip while the binary answers -32601 for workflow/start.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ActivityError, CancelledError, Client, KeelError, Worker, codes } from '../src/index.js';
import { liveSkipReason, recordCalls, startKeel } from '../support/keel.js';
import { tempDir } from '../support/peer.js';

const quiet = { error() {}, warn() {}, info() {} };
const skip = liveSkipReason();

async function withKeel(t, register, options = {}) {
  const dir = tempDir(t);
  const keel = await startKeel(t, dir);
  const worker = new Worker({ name: 'live-worker', socket: keel.socket, logger: quiet, handleSignals: false, maxConcurrent: 4, ...options });
  register(worker);
  const running = worker.run();
  const client = await Client.connect({ socket: keel.socket, logger: quiet });
  t.after(async () => {
    await client.close();
    worker.stop();
    await running;
  });
  for (let i = 0; i < 100 && !(await client.workers()).some((w) => w.name === 'live-worker'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { keel, worker, client, running };
}

/** Why workflow tests cannot run against this binary, or undefined. */
async function workflowsUnsupported(client) {
  try {
    await client.describeWorkflow('keel-node-probe-missing');
  } catch (error) {
    if (error.code === -32601) return 'the keel binary answers -32601 for workflow methods (workflow support not built in yet)';
  }
  return undefined;
}

describe('live against keel serve', { skip, timeout: 60_000 }, () => {
  test('an activity call is served by this worker, and failures come back as data', async (t) => {
    const { client } = await withKeel(t, (worker) => {
      worker.activity('greet.hello', (input) => ({ greeting: `Hello, ${input.name}` }), {
        input: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      });
      worker.activity('always.fails', () => {
        throw new ActivityError('no', { type: 'BadInput', retryable: false });
      });
    });
    const ok = await client.callActivity('greet.hello', { name: 'Ada' }, { waitTimeoutMs: 20_000 });
    assert.equal(ok.status, 'completed');
    assert.deepEqual(ok.output, { greeting: 'Hello, Ada' });
    const failed = await client.callActivity('always.fails', {}, { waitTimeoutMs: 20_000 });
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failure.type, 'BadInput');
    await assert.rejects(client.callActivity('greet.hello', { name: 5 }), (error) => error.code === 3001);
    const workers = await client.workers();
    assert.ok(workers.some((w) => w.name === 'live-worker' && w.activities.includes('greet.hello')));
  });

  test('a workflow runs its activities to a result', async (t) => {
    const { client } = await withKeel(t, (worker) => {
      worker.activity('echo', (input) => input);
      worker.workflow('wf.sequence', async (input, wf) => {
        const r1 = await wf.activity('echo', { n: input.n });
        const r2 = await wf.activity('echo', { n: r1.n + 1 });
        return { n: r2.n };
      });
    });
    const reason = await workflowsUnsupported(client);
    if (reason) return t.skip(reason);
    const started = await client.startWorkflow('wf.sequence', { n: 1 }, { workflowId: 'seq-1' });
    assert.equal(started.workflowId, 'seq-1');
    const result = await client.workflowResult('seq-1', { waitTimeoutMs: 20_000 });
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.output, { n: 2 });
    const described = await client.describeWorkflow('seq-1');
    assert.equal(described.name, 'wf.sequence');
  });

  test('a workflow waits for a signal, and a cancelled one compensates', async (t) => {
    const { client } = await withKeel(t, (worker) => {
      worker.activity('echo', (input) => input);
      worker.activity('block', async (input, ctx) => {
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        return {};
      });
      worker.workflow('wf.sleepSignal', async (input, wf) => {
        await wf.sleep(200);
        return { signal: await wf.signal('go') };
      });
      worker.workflow('wf.cancellable', async (input, wf) => {
        try {
          return await wf.activity('block', {});
        } catch (error) {
          if (error instanceof CancelledError) await wf.activity('echo', { step: 'compensate' });
          throw error;
        }
      });
    });
    const reason = await workflowsUnsupported(client);
    if (reason) return t.skip(reason);
    await client.startWorkflow('wf.sleepSignal', {}, { workflowId: 'sig-1' });
    await client.signalWorkflow('sig-1', 'go', { x: 1 });
    const signalled = await client.workflowResult('sig-1', { waitTimeoutMs: 20_000 });
    assert.deepEqual(signalled.output, { signal: { x: 1 } });

    await client.startWorkflow('wf.cancellable', {}, { workflowId: 'can-1' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await client.cancelWorkflow('can-1', 'test');
    const cancelled = await client.workflowResult('can-1', { waitTimeoutMs: 20_000 });
    assert.equal(cancelled.status, 'cancelled');
    const history = await client.workflowHistory('can-1');
    assert.ok(history.entries.some((entry) => entry.input?.step === 'compensate'));
  });
});

describe('live: deduplicated signals (workflow/signal requestId)', { skip, timeout: 60_000 }, () => {
  const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  test('a repeated request id delivers nothing; signals without an explicit id each get a fresh one', async (t) => {
    const { client } = await withKeel(t, (worker) => {
      worker.workflow('wf.approveTwice', async (input, wf) => [await wf.signal('approve'), await wf.signal('approve')]);
    });
    const reason = await workflowsUnsupported(client);
    if (reason) return t.skip(reason);
    const sent = recordCalls(client, 'workflow/signal');
    const A = { approvedBy: 'ada' };
    const B = { approvedBy: 'grace' };

    await client.startWorkflow('wf.approveTwice', {}, { workflowId: 'approve-1' });
    const first = await client.signalWorkflow('approve-1', 'approve', A, { requestId: 'approve-1/ada' });
    assert.equal(first.delivered, true);
    assert.equal(first.duplicate, false);
    const again = await client.signalWorkflow('approve-1', 'approve', A, { requestId: 'approve-1/ada' });
    assert.equal(again.delivered, true);
    assert.equal(again.duplicate, true);
    const second = await client.signalWorkflow('approve-1', 'approve', B);
    assert.equal(second.duplicate, false);
    const result = await client.workflowResult('approve-1', { waitTimeoutMs: 20_000 });
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.output, [A, B]);

    // Two signals with no explicit id: each call sends its own random UUID, so both are delivered.
    await client.startWorkflow('wf.approveTwice', {}, { workflowId: 'approve-2' });
    assert.equal((await client.signalWorkflow('approve-2', 'approve', 'C')).duplicate, false);
    assert.equal((await client.signalWorkflow('approve-2', 'approve', 'D')).duplicate, false);
    const both = await client.workflowResult('approve-2', { waitTimeoutMs: 20_000 });
    assert.deepEqual(both.output, ['C', 'D']);

    const ids = sent.map((params) => params.requestId);
    assert.deepEqual(ids.slice(0, 2), ['approve-1/ada', 'approve-1/ada']);
    for (const id of [ids[2], ids[3], ids[4]]) assert.match(id, UUID_V4);
    assert.equal(new Set(ids.slice(2)).size, 3);
  });
});

describe('live: patch markers and build ids', { skip, timeout: 60_000 }, () => {
  test('a new execution records the patch marker and takes the new path, on a worker with a build id', async (t) => {
    const { client } = await withKeel(
      t,
      (worker) => {
        worker.activity('echo', (input) => input);
        worker.workflow('wf.patched', async (input, wf) => {
          const p = await wf.patched('add-discount');
          if (p) await wf.activity('echo', { step: 'discount' });
          const charge = await wf.activity('echo', { step: 'charge' });
          await wf.deprecatePatch('other-patch');
          return { patched: p, again: await wf.patched('add-discount'), charge };
        });
      },
      { buildId: 'build-live-1', compatibleBuildIds: ['build-live-0'] },
    );
    const reason = await workflowsUnsupported(client);
    if (reason) return t.skip(reason);
    const me = (await client.workers()).find((w) => w.name === 'live-worker');
    assert.equal(me.buildId, 'build-live-1');
    assert.deepEqual(me.compatibleBuildIds, ['build-live-0']);
    await client.startWorkflow('wf.patched', {}, { workflowId: 'patch-1' });
    const result = await client.workflowResult('patch-1', { waitTimeoutMs: 20_000 });
    assert.equal(result.status, 'completed', JSON.stringify(result));
    assert.deepEqual(result.output, { patched: true, again: true, charge: { step: 'charge' } });
    const history = await client.workflowHistory('patch-1');
    assert.deepEqual(
      history.entries.map((entry) => [entry.seq, entry.kind, entry.name]),
      [
        [1, 'patch', 'add-discount'],
        [2, 'activity', 'echo'],
        [3, 'activity', 'echo'],
        [4, 'patch', 'other-patch'],
      ],
    );
  });
});

describe('live: orchestrator restarts', { skip, timeout: 60_000 }, () => {
  test('the worker reconnects, re-initializes and re-registers when keel restarts on the same socket', async (t) => {
    const dir = tempDir(t);
    let keel = await startKeel(t, dir);
    const worker = new Worker({ name: 'restart-worker', socket: keel.socket, logger: quiet, handleSignals: false });
    worker.activity('echo', (input) => input);
    const running = worker.run();
    t.after(async () => {
      worker.stop();
      await running;
    });
    await keel.stop();
    keel = await startKeel(t, dir);
    const client = await Client.connect({ socket: keel.socket, logger: quiet });
    t.after(() => client.close());
    const answer = await client.callActivity('echo', { again: true }, { waitTimeoutMs: 20_000 });
    assert.deepEqual(answer.output, { again: true });
  });
});

describe('live: execution streams (publish and follow)', { skip, timeout: 60_000 }, () => {
  test('workflow and activity events are followed once, in offset order, and the follow ends with the workflow', async (t) => {
    let directError;
    const { client } = await withKeel(t, (worker) => {
      worker.activity('progress', async (input, ctx) => {
        try {
          for (let i = 1; i <= input.steps; i++) await ctx.publish({ step: i }, 'progress');
        } catch (error) {
          directError = error;
          throw error;
        }
        return { published: input.steps };
      });
      worker.workflow('wf.streaming', async (input, wf) => {
        await wf.publish({ stage: 'start' }, 'stage');
        const progress = await wf.activity('progress', { steps: 3 });
        const go = await wf.signal('go');
        await wf.publish({ stage: 'end', go });
        return { progress };
      });
    });
    const reason = await workflowsUnsupported(client);
    if (reason) return t.skip(reason);
    await client.startWorkflow('wf.streaming', {}, { workflowId: 'stream-1' });
    const events = [];
    const following = (async () => {
      for await (const e of client.follow('stream-1')) events.push(e);
    })();
    // The signal goes once the activity's events are in: the rest arrives by the open long poll.
    for (let i = 0; i < 200 && events.length < 4; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(events.length, 4, JSON.stringify(events));
    await client.signalWorkflow('stream-1', 'go', { ok: true });
    await following; // ends by itself: the workflow completed
    const result = await client.workflowResult('stream-1', { waitTimeoutMs: 20_000 });
    assert.equal(result.status, 'completed', JSON.stringify(result));
    assert.deepEqual(result.output, { progress: { published: 3 } });

    assert.deepEqual(events.map((e) => e.offset), [1, 2, 3, 4, 5]);
    assert.deepEqual(
      events.map((e) => [e.source, e.name, e.event]),
      [
        ['workflow', 'stage', { stage: 'start' }],
        ['activity', 'progress', { step: 1 }],
        ['activity', 'progress', { step: 2 }],
        ['activity', 'progress', { step: 3 }],
        ['workflow', 'event', { stage: 'end', go: { ok: true } }],
      ],
    );
    assert.equal(events[0].seq, 1);
    for (const e of events.slice(1, 4)) {
      assert.equal(typeof e.taskId, 'string');
      assert.equal(e.attempt, 1);
    }
    for (const e of events) assert.equal(typeof e.atMs, 'number');

    const later = [];
    for await (const e of client.follow('stream-1', 2)) later.push(e);
    assert.deepEqual(later.map((e) => e.offset), [3, 4, 5]);
    const none = [];
    for await (const e of client.follow('stream-1', 5)) none.push(e);
    assert.deepEqual(none, []);

    // An activity called directly has no stream: its publish is refused with -32602.
    const direct = await client.callActivity('progress', { steps: 1 }, { waitTimeoutMs: 20_000, retryPolicy: { maximumAttempts: 1 } });
    assert.equal(direct.status, 'failed', JSON.stringify(direct));
    assert.equal(directError?.code, -32602);
  });
});

describe('live: priorities and fairness keys', { skip, timeout: 60_000 }, () => {
  test('queued tasks run highest priority first, then round-robin over fairness keys, FIFO within a key', async (t) => {
    const dir = tempDir(t);
    const keel = await startKeel(t, dir);
    const client = await Client.connect({ socket: keel.socket, logger: quiet });
    t.after(() => client.close());
    // No worker yet: every call waits in the queue.
    const tasks = [];
    const queue = async (id, options) => tasks.push((await client.callActivity('prio.record', { id }, { wait: false, ...options })).taskId);
    for (let i = 1; i <= 6; i++) await queue(`a${i}`, { fairnessKey: 'a' });
    for (let i = 1; i <= 2; i++) await queue(`b${i}`, { fairnessKey: 'b' });
    await queue('h', { priority: 9 });

    const order = [];
    const worker = new Worker({ name: 'prio-worker', socket: keel.socket, logger: quiet, handleSignals: false, maxConcurrent: 1 });
    worker.activity('prio.record', (input) => {
      order.push(input.id);
      return input;
    });
    const running = worker.run();
    t.after(async () => {
      worker.stop();
      await running;
    });
    for (const taskId of tasks) {
      const result = await client.activityResult(taskId, { waitTimeoutMs: 20_000 });
      assert.equal(result.status, 'completed', JSON.stringify(result));
    }
    assert.deepEqual(order, ['h', 'a1', 'b1', 'a2', 'b2', 'a3', 'a4', 'a5', 'a6']);
  });

  test('a workflow started with a priority and fairness key keeps them (workflow/describe)', async (t) => {
    const { client } = await withKeel(t, (worker) => {
      worker.activity('echo', (input) => input);
      worker.workflow('wf.prio', async (input, wf) => wf.activity('echo', input));
    });
    const reason = await workflowsUnsupported(client);
    if (reason) return t.skip(reason);
    await client.startWorkflow('wf.prio', { n: 1 }, { workflowId: 'prio-1', priority: 5, fairnessKey: 'acme' });
    const result = await client.workflowResult('prio-1', { waitTimeoutMs: 20_000 });
    assert.equal(result.status, 'completed', JSON.stringify(result));
    const described = await client.describeWorkflow('prio-1');
    assert.equal(described.priority, 5);
    assert.equal(described.fairnessKey, 'acme');

    await client.startWorkflow('wf.prio', { n: 2 }, { workflowId: 'prio-2' });
    await client.workflowResult('prio-2', { waitTimeoutMs: 20_000 });
    const plain = await client.describeWorkflow('prio-2');
    assert.equal(plain.priority, 0);
    assert.equal(plain.fairnessKey, undefined);

    await assert.rejects(client.startWorkflow('wf.prio', {}, { workflowId: 'prio-3', priority: 1001 }), (error) => error.code === -32602);
    await assert.rejects(client.callActivity('echo', {}, { wait: false, fairnessKey: '' }), (error) => error.code === -32602);
  });
});

describe('live: schedules', { skip, timeout: 60_000 }, () => {
  test('an interval schedule starts a workflow per slot; create again, pause, trigger, list, delete', async (t) => {
    const dir = tempDir(t);
    const keel = await startKeel(t, dir);
    const client = await Client.connect({ socket: keel.socket, logger: quiet });
    t.after(() => client.close());
    try {
      await client.describeSchedule('keel-node-probe-missing');
    } catch (error) {
      if (error.code === -32601) return t.skip('the keel binary answers -32601 for schedule methods (schedules not built in yet)');
    }
    // No worker: each started workflow stays pending, so overlap allowAll lets every slot start.
    const spec = { intervalMs: 1000 };
    const action = { workflow: 'sched.noop', input: {} };
    const created = await client.createSchedule('every-second', { spec, action, overlap: 'allowAll', note: 'live test' });
    assert.equal(created.scheduleId, 'every-second');
    assert.equal(created.spec.intervalMs, 1000);
    assert.equal(created.action.workflow, 'sched.noop');
    assert.equal(created.overlap, 'allowAll');
    assert.equal(created.paused, false);

    let described = created;
    for (const deadline = Date.now() + 20_000; described.started < 2 && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      described = await client.describeSchedule('every-second');
    }
    assert.ok(described.started >= 2, JSON.stringify(described));
    const ids = described.recentActions.map((a) => a.workflowId);
    assert.ok(ids.length >= 2, JSON.stringify(described));
    for (const id of ids) assert.ok(id.startsWith('every-second-'), id);
    assert.equal(new Set(ids).size, ids.length);

    await assert.rejects(client.createSchedule('every-second', { spec, action }), (error) => error instanceof KeelError && error.code === codes.scheduleAlreadyExists);

    const paused = await client.pauseSchedule('every-second', { note: 'paused by the test' });
    assert.equal(paused.paused, true);
    assert.equal((await client.describeSchedule('every-second')).paused, true);
    const triggered = await client.triggerSchedule('every-second');
    assert.equal(triggered.started, true, JSON.stringify(triggered));
    assert.ok(triggered.workflowId.startsWith('every-second-'), triggered.workflowId);

    const { schedules } = await client.listSchedules();
    assert.ok(schedules.some((s) => s.scheduleId === 'every-second' && s.workflow === 'sched.noop' && s.paused === true), JSON.stringify(schedules));

    assert.deepEqual(await client.deleteSchedule('every-second'), { scheduleId: 'every-second', deleted: true });
    await assert.rejects(client.describeSchedule('every-second'), (error) => error instanceof KeelError && error.code === codes.scheduleNotFound);
  });
});

describe('live: search attributes and memo', { skip, timeout: 60_000 }, () => {
  test('listWorkflows({query}) finds an execution by its start and upserted attributes; describe shows them and the memo', async (t) => {
    const { client } = await withKeel(t, (worker) => {
      worker.workflow('wf.ship', async (input, wf) => {
        await wf.upsertSearchAttributes({ stage: 'shipped' });
        return { shipped: true };
      });
    });
    const reason = await workflowsUnsupported(client);
    if (reason) return t.skip(reason);
    await client.startWorkflow('wf.ship', {}, { workflowId: 'search-acme', searchAttributes: { customer: 'acme', tier: 1 }, memo: { owner: 'ops' } });
    await client.startWorkflow('wf.ship', {}, { workflowId: 'search-globex', searchAttributes: { customer: 'globex', tier: 1 } });
    for (const id of ['search-acme', 'search-globex']) {
      const result = await client.workflowResult(id, { waitTimeoutMs: 20_000 });
      assert.equal(result.status, 'completed', JSON.stringify(result));
    }
    const acme = { customer: 'acme', tier: 1, stage: 'shipped' };

    const { workflows } = await client.listWorkflows({ query: 'customer = "acme" AND stage = "shipped"' });
    assert.deepEqual(workflows.map((w) => w.workflowId), ['search-acme'], JSON.stringify(workflows));
    assert.deepEqual(workflows[0].searchAttributes, acme);
    const both = await client.listWorkflows({ query: 'stage = "shipped" AND customer IN ("acme", "globex")' });
    assert.deepEqual(both.workflows.map((w) => w.workflowId).sort(), ['search-acme', 'search-globex']);

    const described = await client.describeWorkflow('search-acme');
    assert.deepEqual(described.searchAttributes, acme);
    assert.deepEqual(described.memo, { owner: 'ops' });
    await assert.rejects(client.listWorkflows({ query: 'customer = ' }), (error) => error instanceof KeelError && error.code === codes.invalidQuery);
  });

  test('a child started with its own searchAttributes and memo is found by listWorkflows({query}); describe shows its memo', async (t) => {
    const { client } = await withKeel(t, (worker) => {
      worker.workflow('wf.line', async (input) => ({ line: input.n }));
      worker.workflow('wf.batch', async (input, wf) => {
        const line = await wf.child('wf.line', { n: 1 }, { workflowId: 'batch-line-1', searchAttributes: { customer: 'acme' }, memo: { source: 'batch' } });
        const plain = await wf.child('wf.line', { n: 2 }, 'batch-line-2');
        let refused = null;
        try {
          await wf.child('wf.line', { n: 3 }, { workflowId: 'batch-line-3', searchAttributes: { status: 'x' } });
        } catch (error) {
          refused = { keelError: error instanceof KeelError, code: error.code, message: error.message };
        }
        return { line, plain, refused };
      });
    });
    const reason = await workflowsUnsupported(client);
    if (reason) return t.skip(reason);
    await client.startWorkflow('wf.batch', {}, { workflowId: 'batch-1' });
    const result = await client.workflowResult('batch-1', { waitTimeoutMs: 20_000 });
    assert.equal(result.status, 'completed', JSON.stringify(result));
    assert.deepEqual(result.output.line, { line: 1 });
    assert.deepEqual(result.output.plain, { line: 2 });
    // A built-in field as an attribute: refused as workflow/start refuses it, naming the field.
    assert.equal(result.output.refused?.keelError, true, JSON.stringify(result.output));
    assert.equal(result.output.refused.code, codes.invalidParams);
    assert.match(result.output.refused.message, /input[./]searchAttributes[./]status/);

    const { workflows } = await client.listWorkflows({ query: 'customer = "acme"' });
    assert.deepEqual(workflows.map((w) => w.workflowId), ['batch-line-1'], JSON.stringify(workflows));
    assert.deepEqual(workflows[0].searchAttributes, { customer: 'acme' });
    const child = await client.describeWorkflow('batch-line-1');
    assert.deepEqual(child.memo, { source: 'batch' });
    assert.deepEqual(child.searchAttributes, { customer: 'acme' });
    assert.equal(child.parentId, 'batch-1');
    // Neither the parent nor the child started without them has any.
    const parent = await client.describeWorkflow('batch-1');
    assert.ok(!parent.memo || Object.keys(parent.memo).length === 0, JSON.stringify(parent));
    const plain = await client.describeWorkflow('batch-line-2');
    assert.ok(!plain.memo || Object.keys(plain.memo).length === 0, JSON.stringify(plain));
    assert.ok(!plain.searchAttributes || Object.keys(plain.searchAttributes).length === 0, JSON.stringify(plain));
  });
});

describe('live: queries and signal-with-start', { skip, timeout: 60_000 }, () => {
  test('signalWithStart starts or signals; the workflow publishes query values a client reads; an unknown name is 1030', async (t) => {
    const { client } = await withKeel(t, (worker) => {
      worker.workflow('live.progress', async (input, wf) => {
        await wf.setQueryValue('stage', 'packed');
        const go = await wf.signal('go');
        await wf.setQueryValue('stage', { shipped: go });
        return go;
      });
    });
    const reason = await workflowsUnsupported(client);
    if (reason) return t.skip(reason);
    try {
      await client.queryWorkflow('keel-node-probe-missing', 'stage');
    } catch (error) {
      if (error.code === -32601) return t.skip('the keel binary answers -32601 for workflow/query (queries not built in yet)');
    }

    // (a) No execution with the id: started with the signal buffered for its first "go" wait.
    const first = await client.signalWithStart('live.progress', {}, 'go', { n: 1 }, { workflowId: 'sws-1' });
    assert.equal(first.workflowId, 'sws-1');
    assert.equal(first.started, true, JSON.stringify(first));
    assert.equal(first.signal.delivered, true, JSON.stringify(first));
    const done1 = await client.workflowResult('sws-1', { waitTimeoutMs: 20_000 });
    assert.equal(done1.status, 'completed', JSON.stringify(done1));
    assert.deepEqual(done1.output, { n: 1 });
    assert.deepEqual(await client.queryWorkflow('sws-1', 'stage'), { shipped: { n: 1 } });

    // (b) An open execution: the signal is delivered to it.
    await client.startWorkflow('live.progress', {}, { workflowId: 'sws-2' });
    let stage;
    for (const deadline = Date.now() + 20_000; stage !== 'packed' && Date.now() < deadline; ) {
      stage = await client.queryWorkflow('sws-2', 'stage').catch((error) => {
        if (error.code !== codes.queryNotFound) throw error;
      });
      if (stage !== 'packed') await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(stage, 'packed');
    const second = await client.signalWithStart('live.progress', {}, 'go', { n: 2 }, { workflowId: 'sws-2' });
    assert.equal(second.started, false, JSON.stringify(second));
    assert.equal(second.signal.delivered, true, JSON.stringify(second));
    const done2 = await client.workflowResult('sws-2', { waitTimeoutMs: 20_000 });
    assert.equal(done2.status, 'completed', JSON.stringify(done2));
    assert.deepEqual(done2.output, { n: 2 });
    assert.deepEqual(await client.queryWorkflow('sws-2', 'stage'), { shipped: { n: 2 } });

    // (c) A name the workflow never set, and an unknown workflow.
    await assert.rejects(
      client.queryWorkflow('sws-1', 'eta'),
      (error) => error instanceof KeelError && error.code === codes.queryNotFound && error.data?.known?.includes('stage'),
    );
    await assert.rejects(client.queryWorkflow('sws-missing', 'stage'), (error) => error instanceof KeelError && error.code === 1001);
  });
});

describe('live: workflow updates', { skip, timeout: 60_000 }, () => {
  const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  // How long the workflow waits for a second delivery of the update after answering it.
  const SECOND_WAIT_MS = 2_000;

  /** Skips `t` when the binary does not know workflow/update; true then. */
  async function updatesUnsupported(t, client) {
    let reason = await workflowsUnsupported(client);
    try {
      reason ??= await client.updateWorkflow('keel-node-probe-missing', 'approve', null, { waitTimeoutMs: 0 }).then(() => undefined);
    } catch (error) {
      if (error.code === -32601) reason = 'the keel binary answers -32601 for workflow/update (updates not built in yet)';
    }
    if (reason) t.skip(reason);
    return reason !== undefined;
  }

  const serveApprove = (worker) => {
    worker.workflow('live.approve', async (input, wf) => {
      const update = await wf.waitForUpdate('approve');
      const amount = update.input.amount;
      if (amount > 100) await wf.reject(update, `amount ${amount} is over 100`, { details: { limit: 100 } });
      else await wf.respond(update, { approved: amount });
      // A second delivery of the same update (a repeated updateId) would be received here.
      const again = await wf.waitForUpdate('approve', SECOND_WAIT_MS).catch((error) => {
        if (error.type !== 'TimedOut') throw error;
        return null;
      });
      return { approved: amount <= 100, again: again?.id ?? null };
    });
    worker.workflow('live.ignore', async (input, wf) => {
      await wf.waitForUpdate('approve');
      return 'ignored';
    });
  };

  test('an update is answered with respond; the same updateId again gets the same outcome, delivered once; over 100 is rejected', async (t) => {
    const { client } = await withKeel(t, serveApprove);
    if (await updatesUnsupported(t, client)) return;
    const sent = recordCalls(client, 'workflow/update');

    // (a) Answered: status "completed" with the result, under a generated update id.
    await client.startWorkflow('live.approve', {}, { workflowId: 'upd-1' });
    const first = await client.updateWorkflow('upd-1', 'approve', { amount: 5 }, { waitTimeoutMs: 20_000 });
    assert.equal(first.status, 'completed', JSON.stringify(first));
    assert.deepEqual(first.result, { approved: 5 });
    assert.equal(first.workflowId, 'upd-1');
    assert.equal(first.name, 'approve');
    assert.match(first.updateId, UUID_V4);
    assert.equal(first.updateId, sent[0].updateId);

    // (b) The same update id again: the same outcome, and the workflow receives nothing new.
    const repeat = await client.updateWorkflow('upd-1', 'approve', { amount: 5 }, { updateId: first.updateId, waitTimeoutMs: 20_000 });
    assert.deepEqual(repeat, first);
    const done = await client.workflowResult('upd-1', { waitTimeoutMs: 20_000 });
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.deepEqual(done.output, { approved: true, again: null }, 'the repeated update id was not delivered a second time');
    const { entries } = await client.workflowHistory('upd-1');
    const responds = entries.filter((entry) => entry.kind === 'respond');
    assert.deepEqual(responds.map((entry) => entry.name), [first.updateId], JSON.stringify(entries));

    // (c) Rejected: status "rejected" with the failure the workflow gave, no result.
    await client.startWorkflow('live.approve', {}, { workflowId: 'upd-2' });
    const rejected = await client.updateWorkflow('upd-2', 'approve', { amount: 500 }, { updateId: 'upd-2/approve', waitTimeoutMs: 20_000 });
    assert.equal(rejected.status, 'rejected', JSON.stringify(rejected));
    assert.equal(rejected.updateId, 'upd-2/approve');
    assert.equal(rejected.failure.type, 'Rejected');
    assert.equal(rejected.failure.message, 'amount 500 is over 100');
    assert.deepEqual(rejected.failure.details, { limit: 100 });
    assert.equal(rejected.result, undefined);
    const again = await client.updateWorkflow('upd-2', 'approve', { amount: 500 }, { updateId: 'upd-2/approve', waitTimeoutMs: 20_000 });
    assert.equal(again.status, 'rejected', JSON.stringify(again));
    const ended = await client.workflowResult('upd-2', { waitTimeoutMs: 20_000 });
    assert.deepEqual(ended.output, { approved: false, again: null });
  });

  test('a workflow that ends without answering its update: the call rejects with 1031 updateUnanswered', async (t) => {
    const { client } = await withKeel(t, serveApprove);
    if (await updatesUnsupported(t, client)) return;
    await client.startWorkflow('live.ignore', {}, { workflowId: 'upd-3' });
    await assert.rejects(
      client.updateWorkflow('upd-3', 'approve', {}, { updateId: 'upd-3/approve', waitTimeoutMs: 20_000 }),
      (error) => error instanceof KeelError && error.code === codes.updateUnanswered && error.data?.updateId === 'upd-3/approve',
    );
    assert.equal((await client.workflowResult('upd-3', { waitTimeoutMs: 20_000 })).output, 'ignored');
  });
});
