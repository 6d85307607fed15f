import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ActivityError, CancelledError, Worker, activityContext } from '../src/index.js';
import { Peer, tempDir } from '../support/peer.js';
import { servingWorker as serving } from '../support/worker.js';

const quiet = { error() {}, warn() {}, info() {} };

describe('Worker', { timeout: 20_000 }, () => {
  test('registers activities with their contracts, from options and contract files, in order', async (t) => {
    const dir = tempDir(t);
    fs.writeFileSync(path.join(dir, 'greet.json'), JSON.stringify({ name: 'greet.hello', version: '1', input: { type: 'object' }, output: { type: 'string' }, description: 'Greets.', timeouts: { startToCloseMs: 1000 } }));
    const { registration } = await serving(t, (worker) => {
      worker.loadContracts(dir);
      worker.activity('echo', (input) => input, { input: { type: 'object' }, description: 'Echo.', retryPolicy: { maximumAttempts: 3 } });
      worker.activity('greet.hello', (input) => `hi ${input.name}`);
    }, { maxConcurrent: 3 });
    assert.deepEqual(registration, {
      name: 'test-worker',
      language: 'javascript',
      maxConcurrent: 3,
      activities: [
        { name: 'echo', description: 'Echo.', input: { type: 'object' }, retryPolicy: { maximumAttempts: 3 } },
        { name: 'greet.hello', description: 'Greets.', input: { type: 'object' }, output: { type: 'string' }, timeouts: { startToCloseMs: 1000 } },
      ],
      workflows: [],
    });
  });

  test('registers workflows beside activities with maxConcurrentWorkflows', async (t) => {
    const { registration } = await serving(t, (worker) => worker.workflow('orders.fulfil', async () => 1, { input: { type: 'object' } }), { maxConcurrentWorkflows: 7 });
    assert.deepEqual(registration.workflows, [{ name: 'orders.fulfil', input: { type: 'object' } }]);
    assert.equal(registration.maxConcurrentWorkflows, 7);
  });

  test('buildId and compatibleBuildIds go in worker/register; neither key without a build id', async (t) => {
    const saved = process.env.KEEL_BUILD_ID;
    delete process.env.KEEL_BUILD_ID;
    t.after(() => {
      if (saved === undefined) delete process.env.KEEL_BUILD_ID;
      else process.env.KEEL_BUILD_ID = saved;
    });
    const { registration } = await serving(t, (worker) => worker.activity('echo', (input) => input), { buildId: 'build-8', compatibleBuildIds: ['build-7', 'build-6'] });
    assert.equal(registration.buildId, 'build-8');
    assert.deepEqual(registration.compatibleBuildIds, ['build-7', 'build-6']);
    const keys = (options) => Object.keys(new Worker({ logger: quiet, ...options }).registration());
    assert.ok(!keys({}).includes('buildId') && !keys({}).includes('compatibleBuildIds'));
    assert.deepEqual(new Worker({ logger: quiet, buildId: 'b1' }).registration().buildId, 'b1');
    assert.ok(!keys({ buildId: 'b1', compatibleBuildIds: [] }).includes('compatibleBuildIds'));
    // compatible builds mean nothing without a build id of our own
    assert.ok(!keys({ compatibleBuildIds: ['b0'] }).includes('compatibleBuildIds'));
    assert.throws(() => new Worker({ buildId: 7 }), TypeError);
    assert.throws(() => new Worker({ buildId: 'b', compatibleBuildIds: 'b0' }), TypeError);
    assert.throws(() => new Worker({ buildId: 'b', compatibleBuildIds: [''] }), TypeError);
  });

  test('without a build id in code, KEEL_BUILD_ID gives it; empty means none; the option wins', async (t) => {
    const saved = process.env.KEEL_BUILD_ID;
    t.after(() => {
      if (saved === undefined) delete process.env.KEEL_BUILD_ID;
      else process.env.KEEL_BUILD_ID = saved;
    });
    process.env.KEEL_BUILD_ID = 'build-7';
    const { registration } = await serving(t, (worker) => worker.activity('echo', (input) => input));
    assert.equal(registration.buildId, 'build-7');
    assert.ok(!('compatibleBuildIds' in registration));
    assert.equal(new Worker({ logger: quiet, buildId: 'from-code' }).registration().buildId, 'from-code');
    assert.deepEqual(new Worker({ logger: quiet, compatibleBuildIds: ['build-6'] }).registration().compatibleBuildIds, ['build-6']);
    process.env.KEEL_BUILD_ID = '';
    assert.ok(!('buildId' in new Worker({ logger: quiet }).registration()));
  });

  test('refuses bad names and duplicates at registration', () => {
    const worker = new Worker({ logger: quiet });
    assert.throws(() => worker.activity('9bad', () => 1), /must match/);
    worker.activity('ok', () => 1);
    assert.throws(() => worker.activity('ok', () => 1), /already registered/);
    assert.throws(() => new Worker({ maxConcurrent: 0 }), RangeError);
  });

  test('answers executes with output or failure data', async (t) => {
    class CrashError extends Error {}
    const { peer } = await serving(t, (worker) => {
      worker.activity('echo', (input, ctx) => ({ input, taskId: ctx.taskId, same: activityContext() === ctx }));
      worker.activity('fail', () => {
        throw new ActivityError('nope', { type: 'BadInput', retryable: false, retryAfterMs: 1500.2, details: { a: 1 } });
      });
      worker.activity('crash', async () => {
        throw new CrashError('boom');
      });
      worker.activity('big', () => ({ cycle: 1n }));
    });
    peer.execute('k1', 'echo', { x: 1 }, { taskId: 't-9' });
    assert.deepEqual(await peer.recv(), { jsonrpc: '2.0', id: 'k1', result: { output: { input: { x: 1 }, taskId: 't-9', same: true } } });
    peer.execute(2, 'fail', {});
    assert.deepEqual((await peer.recv()).result, { failure: { type: 'BadInput', message: 'nope', retryable: false, retryAfterMs: 1500, details: { a: 1 } } });
    peer.execute(3, 'crash', {});
    assert.deepEqual((await peer.recv()).result, { failure: { type: 'CrashError', message: 'boom', retryable: true, details: null } });
    peer.execute(4, 'big', {});
    assert.equal((await peer.recv()).result.failure.type, 'OutputNotSerializable');
    peer.execute(5, 'missing', {});
    assert.equal((await peer.recv()).result.failure.type, 'ActivityNotRegistered');
  });

  test('activity/cancel aborts the signal and the execute is answered at once, even if the handler ignores it', async (t) => {
    let seen;
    const { peer } = await serving(t, (worker) => {
      worker.activity('stubborn', async (input, ctx) => {
        ctx.signal.addEventListener('abort', () => {
          seen = ctx.signal.reason.message;
        });
        await sleep(60_000, undefined, { ref: false });
      });
    });
    peer.execute('k1', 'stubborn', {}, { taskId: 't-1', attempt: 2 });
    await sleep(50);
    peer.send({ jsonrpc: '2.0', method: 'activity/cancel', params: { taskId: 't-1', attempt: 1, reason: 'wrong attempt' } });
    peer.send({ jsonrpc: '2.0', method: 'activity/cancel', params: { taskId: 't-1', attempt: 2, reason: 'by client' } });
    const answer = await peer.recv();
    assert.equal(answer.id, 'k1');
    assert.equal(answer.result.failure.type, 'Cancelled');
    assert.equal(seen, 'by client');
  });

  test('heartbeat sends details and returns the cancelled flag', async (t) => {
    const { peer } = await serving(t, (worker) => {
      worker.activity('hb', async (input, ctx) => {
        const first = await ctx.heartbeat({ page: 1 });
        const second = await ctx.heartbeat({ page: 2 });
        return { first, second, aborted: ctx.signal.aborted };
      });
    });
    peer.execute('k1', 'hb', {}, { taskId: 't-5', attempt: 3 });
    const h1 = await peer.recv();
    assert.deepEqual(h1.params, { taskId: 't-5', attempt: 3, details: { page: 1 } });
    peer.answer(h1, { cancelled: false });
    const h2 = await peer.recv();
    peer.answer(h2, { cancelled: true });
    // The attempt is cancelled: its execute is answered as Cancelled, whatever the handler returns.
    assert.equal((await peer.recv()).result.failure.type, 'Cancelled');
  });

  test('runs at most maxConcurrent activities at once', async (t) => {
    let running = 0;
    let peak = 0;
    const { peer } = await serving(t, (worker) => {
      worker.activity('work', async () => {
        running += 1;
        peak = Math.max(peak, running);
        await sleep(30);
        running -= 1;
        return {};
      });
    }, { maxConcurrent: 2 });
    for (let i = 1; i <= 5; i++) peer.execute(i, 'work', {}, { taskId: `t-${i}` });
    for (let i = 1; i <= 5; i++) await peer.recv();
    assert.equal(peak, 2);
  });

  test('reconnects after the connection drops, initializing and registering again', async (t) => {
    const { keel, peer } = await serving(t, (worker) => worker.activity('echo', (input) => input));
    peer.close();
    const again = await keel.accept();
    const registration = await again.handshake('w-2');
    assert.equal(registration.name, 'test-worker');
    again.execute(1, 'echo', { back: true });
    assert.deepEqual((await again.recv()).result, { output: { back: true } });
  });

  test('stop() drains: running activities finish and answer before the connection closes', async (t) => {
    const { worker, peer, running } = await serving(t, (w) => {
      w.activity('sleepy', async () => {
        await sleep(200);
        return { slept: true };
      });
    });
    peer.execute('k1', 'sleepy', {});
    await sleep(30);
    worker.stop();
    peer.execute('k2', 'sleepy', {}, { taskId: 't-2' });
    const answers = [await peer.recv(), await peer.recv()];
    assert.equal(answers[0].id, 'k2');
    assert.equal(answers[0].error.code, -32003);
    assert.deepEqual(answers[1], { jsonrpc: '2.0', id: 'k1', result: { output: { slept: true } } });
    await running;
    assert.ok(peer.ended || (await peer.recv().catch((error) => error)) instanceof Error);
  });

  test('shutdown drains, answers, and ends run()', async (t) => {
    const { peer, running } = await serving(t, (w) => w.activity('sleepy', async () => (await sleep(100), 'done')));
    peer.execute('k1', 'sleepy', {});
    peer.send({ jsonrpc: '2.0', id: 's1', method: 'shutdown', params: {} });
    assert.equal((await peer.recv()).id, 'k1');
    assert.deepEqual(await peer.recv(), { jsonrpc: '2.0', id: 's1', result: {} });
    await running;
  });

  test('serves workflow/run: steps go out as workflow/step and the run is answered at its end', async (t) => {
    const { peer } = await serving(t, (worker) => {
      worker.workflow('wf.compensating', async (input, wf) => {
        try {
          return await wf.activity('charge', input);
        } catch (error) {
          if (error instanceof CancelledError) await wf.activity('refund', input);
          throw error;
        }
      });
    });
    peer.send({ jsonrpc: '2.0', id: 'r1', method: 'workflow/run', params: { workflowId: 'o-1', runId: 1, name: 'wf.compensating', input: { amount: 5 }, journal: [], cancelRequested: false } });
    const step1 = await peer.recv();
    assert.deepEqual(step1.params, { workflowId: 'o-1', runId: 1, seq: 1, kind: 'activity', name: 'charge', input: { amount: 5 } });
    peer.answer(step1, { status: 'failed', failure: { type: 'Cancelled', message: 'stop', retryable: false, details: null } });
    const step2 = await peer.recv();
    assert.equal(step2.params.name, 'refund');
    peer.answer(step2, { status: 'completed', result: {} });
    assert.deepEqual((await peer.recv()).result, { status: 'failed', failure: { type: 'Cancelled', message: 'stop', retryable: false, details: null } });
    peer.send({ jsonrpc: '2.0', id: 'r2', method: 'workflow/run', params: { workflowId: 'o-2', runId: 1, name: 'not.here', input: {}, journal: [] } });
    assert.equal((await peer.recv()).error.code, -32602);
  });

  test('a workflow/cancel notification stops the matching run, whatever its code is doing', async (t) => {
    const { peer } = await serving(t, (worker) => {
      worker.workflow('wf.busy', async () => {
        await sleep(60_000, undefined, { ref: false }); // its own code: no step pending
      });
    });
    peer.send({ jsonrpc: '2.0', id: 'r1', method: 'workflow/run', params: { workflowId: 'wf-a', runId: 3, name: 'wf.busy', input: {}, journal: [] } });
    await sleep(50);
    peer.send({ jsonrpc: '2.0', method: 'workflow/cancel', params: { workflowId: 'wf-a', runId: 2, reason: 'another run' } });
    peer.send({ jsonrpc: '2.0', method: 'workflow/cancel', params: { workflowId: 'wf-a', runId: 3, reason: 'terminated' } });
    const answer = await peer.recv();
    assert.equal(answer.id, 'r1');
    assert.equal(answer.error.code, 2006);
    assert.match(answer.error.message, /terminated/);
  });

  test('over TCP the token goes in initialize', async (t) => {
    const server = net.createServer();
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise((resolve) => server.once('connection', (socket) => resolve(new Peer(socket))));
    const worker = new Worker({ tcp: `127.0.0.1:${server.address().port}`, token: 's3cret', logger: quiet, handleSignals: false, reconnect: false });
    worker.activity('echo', (input) => input);
    const running = worker.run();
    const peer = await accepted;
    const init = await peer.recv();
    assert.equal(init.params.token, 's3cret');
    assert.equal(init.params.protocolVersion, '1');
    peer.send({ jsonrpc: '2.0', id: init.id, error: { code: -32004, message: 'unauthorized' } });
    await assert.rejects(running, (error) => error.code === -32004);
    peer.close();
    server.close();
  });
});
