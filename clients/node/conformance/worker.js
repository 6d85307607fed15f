// The Node client under test for clients/conformance/: the fixed activities every language's
// conformance worker registers (mirroring clients/python/tests/conformance_worker.py) and the
// fixed conformance workflows. Talks stdio: python3 clients/conformance/run.py --cmd "node clients/node/conformance/worker.js"
import { setTimeout as sleep } from 'node:timers/promises';
import { ActivityError, CancelledError, Worker } from '../src/index.js';

// Bound on waits inside the test activities, so a broken client never hangs the runner for long.
const WAIT_BOUND_MS = 30_000;

const worker = new Worker({ name: 'conformance-worker', maxConcurrent: 4 });

/** A plain exception: the client must report it as retryable with type "CrashError". */
class CrashError extends Error {}

worker.activity('echo', { input: { type: 'object' }, output: { type: 'object' }, description: 'Returns its input.' }, async (input) => {
  console.log('a stray console.log from echo: must reach stderr, never the wire');
  process.stdout.write('a stray process.stdout.write from echo\n');
  return input;
});

worker.activity('upper_sync', (input) => ({ text: input.text.toUpperCase() }));

worker.activity('fail', async (input) => {
  throw new ActivityError('fail was called', { type: 'BadInput', retryable: false, details: { input } });
});

worker.activity('retry', { retryPolicy: { maximumAttempts: 3, nonRetryableErrorTypes: ['BadInput'] }, timeouts: { startToCloseMs: 5000 } }, async () => {
  throw new ActivityError('429 from the API', { type: 'RateLimited', retryAfterMs: 2000, details: { status: 429 } });
});

worker.activity('crash', async () => {
  throw new CrashError('boom');
});

worker.activity('hb', async (input, ctx) => {
  await ctx.heartbeat({ page: 1 });
  await ctx.heartbeat({ page: 2 });
  return { taskId: ctx.taskId, attempt: ctx.attempt, idempotencyKey: ctx.idempotencyKey, previous: ctx.heartbeatDetails };
});

worker.activity('slow', async (input, ctx) => {
  await ctx.heartbeat({ started: true });
  await sleep(WAIT_BOUND_MS, undefined, { signal: ctx.signal });
  return { cancelled: false };
});

const barrier = { waiting: 0, release: undefined, released: undefined };
worker.activity('barrier', async (input, ctx) => {
  barrier.released ??= new Promise((resolve) => {
    barrier.release = resolve;
  });
  barrier.waiting += 1;
  if (barrier.waiting >= input.count) barrier.release();
  await Promise.race([barrier.released, sleep(WAIT_BOUND_MS, undefined, { signal: ctx.signal, ref: false })]);
  return { released: true };
});

worker.activity('sleep', async (input) => {
  await sleep(input.ms);
  return { slept: input.ms };
});

worker.activity('progress', async (input, ctx) => {
  for (let i = 1; i <= input.steps; i++) await ctx.publish({ step: i }, 'progress');
  return { published: input.steps };
});

// The fixed conformance workflows (same in every language).

worker.workflow('wf.sequence', async (input, wf) => {
  const r1 = await wf.activity('echo', { n: input.n });
  const r2 = await wf.activity('echo', { n: r1.n + 1 });
  return { n: r2.n };
});

worker.workflow('wf.parallel', async (input, wf) => {
  const first = wf.activity('echo', { i: 1 });
  const second = wf.activity('echo', { i: 2 });
  const [a, b] = await Promise.all([first, second]);
  return { a, b };
});

worker.workflow('wf.sleepSignal', async (input, wf) => {
  await wf.sleep(1000);
  const signal = await wf.signal('go');
  return { signal };
});

worker.workflow('wf.sideEffects', async (input, wf) => {
  const t = await wf.now();
  const r = await wf.random();
  const u = await wf.uuid();
  return { t, r, u };
});

worker.workflow('wf.child', async (input, wf) => {
  const child = await wf.child('wf.sequence', { n: input.n });
  return { child };
});

worker.workflow('wf.cancellable', async (input, wf) => {
  try {
    return await wf.activity('echo', { step: 'work' });
  } catch (error) {
    if (error instanceof CancelledError) await wf.activity('echo', { step: 'compensate' });
    throw error;
  }
});

worker.workflow('wf.loop', async (input, wf) => {
  if (input.i < 3) {
    await wf.activity('echo', { i: input.i });
    return wf.continueAsNew({ i: input.i + 1 });
  }
  return { done: input.i };
});

worker.workflow('wf.patched', async (input, wf) => {
  const p = await wf.patched('add-discount');
  if (p) await wf.activity('echo', { step: 'discount' });
  const charge = await wf.activity('echo', { step: 'charge' });
  const again = await wf.patched('add-discount');
  return { patched: p, again, charge };
});

worker.workflow('wf.deprecatedPatch', async (input, wf) => {
  await wf.deprecatePatch('add-discount');
  const charge = await wf.activity('echo', { step: 'charge' });
  return { charge };
});

worker.workflow('wf.publish', async (input, wf) => {
  await wf.publish({ pct: 50 }, 'progress');
  await wf.publish('done');
  return { published: 2 };
});

worker.workflow('wf.priority', async (input, wf) => {
  const first = await wf.activity('echo', input, { priority: 7, fairnessKey: 'tenant-a' });
  const second = await wf.activity('echo', input);
  return { first, second };
});

worker.workflow('wf.upsert', async (input, wf) => {
  const attributes = await wf.upsertSearchAttributes({ customer: 'acme', amount: 42, vip: true });
  await wf.upsertSearchAttributes({ vip: null });
  const memo = await wf.upsertMemo({ note: 'hi' });
  return { attributes, memo };
});

worker.workflow('wf.query', async (input, wf) => {
  await wf.setQueryValue('progress', { pct: 50 });
  await wf.setQueryValue('progress', { pct: 100 });
  return 'done';
});

worker.workflow('wf.update', async (input, wf) => {
  const update = await wf.waitForUpdate('approve');
  const amount = update.input.amount;
  if (amount > 100) {
    await wf.reject(update, `amount ${amount} is over 100`);
    return { approved: false };
  }
  await wf.respond(update, { approved: amount });
  return { approved: true };
});

await worker.run();
