import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CancelledError, KeelError } from '../src/errors.js';
import { scriptedSteps as steps, workflowRun as run } from '../support/workflow.js';


const sequence = async (input, wf) => {
  const r1 = await wf.activity('echo', { n: input.n });
  const r2 = await wf.activity('echo', { n: r1.n + 1 });
  return { n: r2.n };
};

describe('WorkflowRun', { timeout: 10_000 }, () => {
  test('a fully recorded journal replays without sending steps', async () => {
    const keel = steps();
    const journal = [
      { seq: 1, kind: 'activity', name: 'echo', status: 'completed', result: { n: 7 } },
      { seq: 2, kind: 'activity', name: 'echo', status: 'completed', result: { n: 9 } },
    ];
    const answer = await run({ input: { n: 1 }, journal }, keel.send).execute(sequence);
    assert.deepEqual(answer, { status: 'completed', output: { n: 9 } });
    assert.equal(keel.sent.length, 0);
  });

  test('live steps carry workflowId, runId, seq, kind, name, input and options only when given', async () => {
    const keel = steps();
    const done = run({ input: { n: 1 }, runId: 4 }, keel.send).execute(async (input, wf) => {
      await wf.activity('a', { x: 1 }, { retryPolicy: { maximumAttempts: 2 } });
      await wf.sleep(1500.4);
      return wf.signal('go', 30_000);
    });
    const s1 = await keel.next();
    assert.deepEqual(s1.params, { workflowId: 'wf-1', runId: 4, seq: 1, kind: 'activity', name: 'a', input: { x: 1 }, options: { retryPolicy: { maximumAttempts: 2 } } });
    s1.resolve({ status: 'completed', result: null });
    const s2 = await keel.next();
    assert.deepEqual(s2.params, { workflowId: 'wf-1', runId: 4, seq: 2, kind: 'sleep', name: 'sleep', input: { durationMs: 1500 } });
    s2.resolve({ status: 'completed', result: null });
    const s3 = await keel.next();
    assert.deepEqual(s3.params.input, { timeoutMs: 30000 });
    s3.resolve({ status: 'completed', result: { payload: 1 } });
    assert.deepEqual(await done, { status: 'completed', output: { payload: 1 } });
  });

  test('parallel steps get seq in call order and their results by request, not by arrival', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute(async (input, wf) => {
      const [a, b] = await Promise.all([wf.activity('echo', { i: 1 }), wf.activity('echo', { i: 2 })]);
      return { a, b };
    });
    const s1 = await keel.next();
    const s2 = await keel.next();
    assert.deepEqual([s1.params.seq, s2.params.seq], [1, 2]);
    s2.resolve({ status: 'completed', result: 'second' });
    s1.resolve({ status: 'completed', result: 'first' });
    assert.deepEqual(await done, { status: 'completed', output: { a: 'first', b: 'second' } });
  });

  test('a journal entry with another kind or name ends the run as NonDeterminism naming both', async () => {
    const keel = steps();
    const journal = [{ seq: 1, kind: 'sleep', name: 'sleep', status: 'completed', result: null }];
    const answer = await run({ input: { n: 1 }, journal }, keel.send).execute(sequence);
    assert.equal(answer.status, 'failed');
    assert.equal(answer.failure.type, 'NonDeterminism');
    assert.match(answer.failure.message, /sleep "sleep".*activity "echo"/);
    assert.deepEqual(answer.failure.details, { seq: 1, journal: { kind: 'sleep', name: 'sleep' }, code: { kind: 'activity', name: 'echo' } });
    assert.equal(keel.sent.length, 0);
  });

  test('a step refused with 1003 nonDeterminism ends the run as NonDeterminism', async () => {
    const keel = steps();
    const done = run({ input: { n: 1 } }, keel.send).execute(sequence);
    (await keel.next()).reject(new KeelError(1003, 'seq 1 differs', { seq: 1, journal: { kind: 'now', name: 'now' }, code: { kind: 'activity', name: 'echo' } }));
    const answer = await done;
    assert.equal(answer.failure.type, 'NonDeterminism');
    assert.deepEqual(answer.failure.details.journal, { kind: 'now', name: 'now' });
  });

  test('suspend unwinds the function: no code after the step runs and the run is suspended', async () => {
    const keel = steps();
    let after = false;
    const done = run({}, keel.send).execute(async (input, wf) => {
      try {
        await wf.sleep(1000);
      } finally {
        after = true;
      }
    });
    (await keel.next()).resolve({ status: 'suspend' });
    assert.deepEqual(await done, { status: 'suspended' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(after, false);
  });

  test('a failed step raises its failure; Cancelled is a catchable CancelledError for compensation', async () => {
    const keel = steps();
    let caught;
    const done = run({}, keel.send).execute(async (input, wf) => {
      try {
        await wf.activity('echo', { step: 'work' });
      } catch (error) {
        caught = error;
        await wf.activity('echo', { step: 'compensate' });
        throw error;
      }
    });
    (await keel.next()).resolve({ status: 'failed', failure: { type: 'Cancelled', message: 'by client', retryable: false, details: null } });
    const compensation = await keel.next();
    assert.equal(compensation.params.seq, 2);
    compensation.resolve({ status: 'completed', result: {} });
    const answer = await done;
    assert.ok(caught instanceof CancelledError);
    assert.deepEqual(answer, { status: 'failed', failure: { type: 'Cancelled', message: 'by client', retryable: false, details: null } });
  });

  test('a failure recorded in the journal raises with its type and details', async () => {
    const journal = [{ seq: 1, kind: 'activity', name: 'echo', status: 'failed', failure: { type: 'BadInput', message: 'no', retryable: false, details: { a: 1 } } }];
    const answer = await run({ input: { n: 1 }, journal }, steps().send).execute(sequence);
    assert.deepEqual(answer, { status: 'failed', failure: { type: 'BadInput', message: 'no', retryable: false, details: { a: 1 } } });
  });

  test('an uncaught error fails the run with its class name; continueAsNew ends it with the new input', async () => {
    class Oops extends Error {}
    const failed = await run({}, steps().send).execute(async () => {
      throw new Oops('bad');
    });
    assert.deepEqual(failed, { status: 'failed', failure: { type: 'Oops', message: 'bad', retryable: true, details: null } });
    const next = await run({ input: { i: 1 } }, steps().send).execute((input, wf) => wf.continueAsNew({ i: input.i + 1 }));
    assert.deepEqual(next, { status: 'continueAsNew', input: { i: 2 } });
  });

  test('side effects and children are steps with the documented shapes', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute(async (input, wf) => [await wf.now(), await wf.random(), await wf.uuid(), await wf.child('kid', { n: 1 }), await wf.child('kid', 2, 'kid-1')]);
    const shapes = [];
    for (const result of [5, 0.5, 'u', 'c1', 'c2']) {
      const step = await keel.next();
      shapes.push([step.params.kind, step.params.name, step.params.input]);
      step.resolve({ status: 'completed', result });
    }
    assert.deepEqual(shapes, [
      ['now', 'now', {}],
      ['random', 'random', {}],
      ['uuid', 'uuid', {}],
      ['child', 'kid', { input: { n: 1 } }],
      ['child', 'kid', { input: 2, workflowId: 'kid-1' }],
    ]);
    assert.deepEqual(await done, { status: 'completed', output: [5, 0.5, 'u', 'c1', 'c2'] });
  });

  test('a step nobody awaits that fails does not crash the process', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute(async (input, wf) => {
      wf.activity('fire', {});
      return wf.activity('wait', {});
    });
    (await keel.next()).resolve({ status: 'failed', failure: { type: 'X', message: 'ignored' } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    (await keel.next()).resolve({ status: 'completed', result: 'done' });
    assert.deepEqual(await done, { status: 'completed', output: 'done' });
  });

  test('2006 attemptSuperseded on a step rejects the run itself', async () => {
    const keel = steps();
    const done = run({ input: { n: 1 } }, keel.send).execute(sequence);
    (await keel.next()).reject(new KeelError(2006, 'moved'));
    await assert.rejects(done, (error) => error.code === 2006);
  });

  test('patched() live: sends a patch step at the next seq, answers true, and memoizes the answer', async () => {
    const keel = steps();
    const done = run({ runId: 3 }, keel.send).execute(async (input, wf) => {
      const p = await wf.patched('add-discount');
      const charge = await wf.activity('echo', { step: 'charge' });
      const again = await wf.patched('add-discount');
      return { p, again, charge };
    });
    const marker = await keel.next();
    assert.deepEqual(marker.params, { workflowId: 'wf-1', runId: 3, seq: 1, kind: 'patch', name: 'add-discount', input: {} });
    marker.resolve({ status: 'completed', result: true });
    const charge = await keel.next();
    assert.equal(charge.params.seq, 2);
    charge.resolve({ status: 'completed', result: 'c' });
    assert.deepEqual(await done, { status: 'completed', output: { p: true, again: true, charge: 'c' } });
    assert.equal(keel.sent.length, 0);
  });

  test('patched() in replay: a marker with the id is used up and answers true; nothing is sent', async () => {
    const keel = steps();
    const journal = [
      { seq: 1, kind: 'patch', name: 'add-discount', status: 'completed', result: true },
      { seq: 2, kind: 'activity', name: 'echo', status: 'completed', result: 'c' },
    ];
    const answer = await run({ journal }, keel.send).execute(async (input, wf) => {
      const p = await wf.patched('add-discount');
      const charge = await wf.activity('echo', {});
      return { p, charge, again: await wf.patched('add-discount') };
    });
    assert.deepEqual(answer, { status: 'completed', output: { p: true, charge: 'c', again: true } });
    assert.equal(keel.sent.length, 0);
  });

  test('patched() on an execution recorded without the marker answers false and leaves the seq to the old path', async () => {
    for (const entry of [
      { seq: 1, kind: 'activity', name: 'echo', status: 'completed', result: 'old' },
      { seq: 1, kind: 'patch', name: 'another-patch', status: 'completed', result: true },
    ]) {
      const keel = steps();
      const answer = await run({ journal: [entry] }, keel.send).execute(async (input, wf) => {
        const p = await wf.patched('add-discount');
        const again = await wf.patched('add-discount');
        return { p, again, seqAfter: wf._run._seq };
      });
      assert.deepEqual(answer, { status: 'completed', output: { p: false, again: false, seqAfter: 0 } });
      assert.equal(keel.sent.length, 0);
    }
    // A scheduled (still running) entry: false as well, and the old path's step takes seq 1.
    const keel = steps();
    const journal = [{ seq: 1, kind: 'activity', name: 'echo', status: 'scheduled' }];
    const done = run({ journal }, keel.send).execute(async (input, wf) => {
      const p = await wf.patched('add-discount');
      if (p) await wf.activity('echo', { step: 'discount' });
      const charge = await wf.activity('echo', { step: 'charge' });
      return { p, charge, again: await wf.patched('add-discount') };
    });
    const step = await keel.next();
    assert.deepEqual([step.params.seq, step.params.kind, step.params.input], [1, 'activity', { step: 'charge' }]);
    step.resolve({ status: 'completed', result: 'c' });
    assert.deepEqual(await done, { status: 'completed', output: { p: false, charge: 'c', again: false } });
    assert.equal(keel.sent.length, 0);
  });

  test('patched() memoizes per id and per run; other ids are asked on their own', async () => {
    const keel = steps();
    const journal = [{ seq: 1, kind: 'patch', name: 'a', status: 'completed', result: true }];
    const done = run({ journal }, keel.send).execute(async (input, wf) => {
      const first = wf.patched('a');
      const second = wf.patched('a'); // before the first is awaited: the same answer, no seq
      const b = wf.patched('b'); // seq 2 is not in the journal: sent live
      return [await first, await second, await b, await wf.patched('b')];
    });
    const marker = await keel.next();
    assert.deepEqual([marker.params.seq, marker.params.name], [2, 'b']);
    marker.resolve({ status: 'completed', result: true });
    assert.deepEqual(await done, { status: 'completed', output: [true, true, true, true] });
    assert.equal(keel.sent.length, 0);
  });

  test('a failed patch step raises like any step failure', async () => {
    const keel = steps();
    const done = run({}, keel.send).execute((input, wf) => wf.patched('p'));
    (await keel.next()).resolve({ status: 'failed', failure: { type: 'Refused', message: 'no', retryable: false, details: null } });
    assert.deepEqual(await done, { status: 'failed', failure: { type: 'Refused', message: 'no', retryable: false, details: null } });
  });

  test('deprecatePatch() records the marker live, uses a matching one in replay and leaves any other entry', async () => {
    const program = async (input, wf) => {
      const result = await wf.deprecatePatch('add-discount');
      const charge = await wf.activity('echo', { step: 'charge' });
      return { result: result ?? null, charge };
    };
    const keel = steps();
    const live = run({}, keel.send).execute(program);
    const marker = await keel.next();
    assert.deepEqual(marker.params, { workflowId: 'wf-1', runId: 1, seq: 1, kind: 'patch', name: 'add-discount', input: {} });
    marker.resolve({ status: 'completed', result: true });
    const charge = await keel.next();
    assert.equal(charge.params.seq, 2);
    charge.resolve({ status: 'completed', result: 'c' });
    assert.deepEqual(await live, { status: 'completed', output: { result: null, charge: 'c' } });

    const withMarker = [
      { seq: 1, kind: 'patch', name: 'add-discount', status: 'completed', result: true },
      { seq: 2, kind: 'activity', name: 'echo', status: 'completed', result: 'c' },
    ];
    const withoutMarker = [{ seq: 1, kind: 'activity', name: 'echo', status: 'completed', result: 'c' }];
    for (const journal of [withMarker, withoutMarker]) {
      const replay = steps();
      assert.deepEqual(await run({ journal }, replay.send).execute(program), { status: 'completed', output: { result: null, charge: 'c' } });
      assert.equal(replay.sent.length, 0);
    }
  });

  test('patched() and deprecatePatch() reject an empty or non-string id', async () => {
    const keel = steps();
    const answer = await run({}, keel.send).execute(async (input, wf) => {
      const errors = [];
      for (const call of [() => wf.patched(''), () => wf.patched(), () => wf.patched(7), () => wf.deprecatePatch('')]) {
        await call().then(
          () => errors.push(null),
          (error) => errors.push(error.constructor.name),
        );
      }
      return errors;
    });
    assert.deepEqual(answer, { status: 'completed', output: ['TypeError', 'TypeError', 'TypeError', 'TypeError'] });
    assert.equal(keel.sent.length, 0);
  });

  test('runs that ended do not keep their parked functions alive', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    const refs = [];
    const park = async (answer) => {
      const keel = steps();
      const done = run({}, keel.send).execute(async (input, wf) => {
        const big = { payload: new Array(1000).fill(1) };
        refs.push(new WeakRef(big));
        await wf.sleep(1000);
        await wf.continueAsNew({});
        return big;
      });
      (await keel.next()).resolve(answer);
      await done;
    };
    await park({ status: 'suspend' });
    await park({ status: 'completed', result: null });
    for (let i = 0; i < 5 && refs.some((ref) => ref.deref() !== undefined); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      gc();
    }
    assert.deepEqual(refs.map((ref) => ref.deref()), [undefined, undefined]);
  });
});
