// Workflow execution: re-runs a workflow function against its journal (docs/protocol.md,
// Workflows). Recorded steps return at once (replay); each new step is sent with `workflow/step`.
import { ActivityError, CancelledError, ConnectionClosedError, KeelError, codes, failureOf } from './errors.js';

/** A promise that never settles: what a step returns once the run has ended (suspended,
 * continued as new, non-deterministic). The function is left parked there and garbage-collected
 * with it; a new one each time, because a shared one would keep every parked function alive. */
const never = () => new Promise(() => {});
const noop = () => {};

/**
 * What a workflow function gets as its second argument. Every method that talks to Keel is a
 * durable step: its `seq` is assigned when it is *called*, in program order ("the library assigns
 * seq when the step is started, in program order"), so start parallel steps first, then await
 * them together (e.g. `Promise.all`). Workflow code must be deterministic: use `now()`,
 * `random()` and `uuid()` instead of `Date.now()`, `Math.random()` and `crypto.randomUUID()`.
 */
export class WorkflowContext {
  /** @param {WorkflowRun} run */
  constructor(run) {
    this._run = run;
    this.workflowId = run.params.workflowId;
    this.runId = run.params.runId;
    this.name = run.params.name;
    /** True when Keel has a cancel request for this execution; steps then fail with Cancelled. */
    this.cancelRequested = run.params.cancelRequested === true;
  }

  /**
   * Runs activity `name` durably. `options.priority` and `options.fairnessKey` set this step's
   * own scheduling; a step that sets neither sends neither and inherits the execution's (from
   * `startWorkflow`). Options left undefined are not sent.
   * @param {{retryPolicy?: object, timeouts?: object, priority?: number, fairnessKey?: string}} [options]
   * @throws {ActivityError} the activity failed for good; {CancelledError} after a cancel request.
   */
  activity(name, input = null, options = undefined) {
    const given = options && Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
    return this._run.step('activity', name, input, given);
  }

  /** Sleeps durably for `ms` milliseconds (kind "sleep"). @param {{label?: string}} [options] */
  sleep(ms, options = {}) {
    return this._run.step('sleep', options.label ?? 'sleep', { durationMs: Math.round(ms) });
  }

  /**
   * Waits for signal `name` and returns its payload.
   * @param {number|{timeoutMs?: number}} [timeout] milliseconds; none waits forever.
   * @throws {ActivityError} type "TimedOut" when the wait timed out.
   */
  signal(name, timeout = undefined) {
    return this._run.step('signal', name, waitInput(timeout));
  }

  /**
   * Waits for update `name` (docs/protocol.md, "Updates"): a durable step `{kind: "signal", name:
   * "update:" + name, input: {} or {timeoutMs}}`, like `signal`, answered from the journal on
   * replay. Answer the update it returns with `respond` or `reject`; until then the client that
   * sent it waits (or gets `status: "pending"`).
   * @param {string} name a non-empty update name, e.g. "approve".
   * @param {number|{timeoutMs?: number}} [timeout] milliseconds; none waits forever.
   * @returns {Promise<{id: string, name: string, input: unknown}>} the update: its id (what
   *   `respond`/`reject` answer), its name and the client's input.
   * @throws {ActivityError} type "TimedOut" when the wait timed out; {TypeError} a name that is
   *   not a non-empty string (before it takes a seq).
   */
  waitForUpdate(name, timeout = undefined) {
    const refused = unnamed('an update name', name);
    if (refused) return refused;
    const received = this._run.step('signal', `update:${name}`, waitInput(timeout));
    const update = received.then((answer) => ({ id: answer?.updateId, name, input: answer?.input ?? null }));
    update.catch(noop); // like a step's own promise: unawaited, it must not crash the process
    return update;
  }

  /**
   * Answers `update` (from `waitForUpdate`, or its id) with `result` (any JSON value): a durable
   * step `{kind: "respond", name: <update id>, input: {result}}`, sent once and never again on
   * replay. The client's `updateWorkflow` then resolves `status: "completed"` with the result.
   * @returns {Promise<null>} once Keel has stored the answer.
   * @throws {TypeError} no update id (before it takes a seq).
   */
  respond(update, result = null) {
    return answer(this._run, update, { result: result === undefined ? null : result });
  }

  /**
   * Rejects `update` (from `waitForUpdate`, or its id): a durable step `{kind: "respond", name:
   * <update id>, input: {failure: {type, message, details?}}}`, like `respond`. The client's
   * `updateWorkflow` resolves `status: "rejected"` with the failure; the workflow goes on.
   * @param {{type?: string, details?: unknown}} [options] `type` defaults to "Rejected"; `details`
   *   is sent only when given.
   * @returns {Promise<null>} once Keel has stored the answer.
   * @throws {TypeError} no update id (before it takes a seq).
   */
  reject(update, message, { type = 'Rejected', details } = {}) {
    const failure = { type, message: String(message ?? '') };
    if (details !== undefined) failure.details = details;
    return answer(this._run, update, { failure });
  }

  /**
   * Runs child workflow `name` and returns its output: a durable step `{kind: "child", name,
   * input: {input, workflowId?, searchAttributes?, memo?}}`. `options` is the child's
   * `workflowId` (default `PARENT/SEQ`), or an object like `startWorkflow`'s options:
   * `{workflowId, searchAttributes, memo}`. `searchAttributes` and `memo` are the child's own
   * (not inherited from the parent), with `workflow/start`'s rules: at most 32 attributes, each a
   * string, finite number or boolean, which `Client.listWorkflows({query})` filters on; the memo
   * any JSON object up to 32 KiB, shown by `Client.describeWorkflow`. Each is sent only when given
   * (`undefined` or `null` sends nothing); Keel checks them.
   * @param {string|{workflowId?: string, searchAttributes?: Record<string, string|number|boolean>, memo?: Record<string, unknown>}} [options]
   * @throws {ActivityError} the child failed; {KeelError} -32602 when Keel refuses the attributes or memo.
   */
  child(name, input = null, options = undefined) {
    const { workflowId, searchAttributes, memo } = typeof options === 'string' ? { workflowId: options } : (options ?? {});
    const childInput = { input };
    if (workflowId !== undefined && workflowId !== null) childInput.workflowId = workflowId;
    if (searchAttributes !== undefined && searchAttributes !== null) childInput.searchAttributes = searchAttributes;
    if (memo !== undefined && memo !== null) childInput.memo = memo;
    return this._run.step('child', name, childInput);
  }

  /** The current time (epoch ms), recorded once. */
  now() {
    return this._run.step('now', 'now', {});
  }

  /**
   * Publishes `event` (any JSON value) to this execution's stream under `name` (default "event"):
   * a durable step `{kind: "publish", name, input: {event}}`, stored once and never sent again on
   * replay. Await it (steps run in program order); clients read the stream with `Client.follow`.
   * @returns {Promise<null>} once Keel has stored the event.
   */
  publish(event, name = 'event') {
    return this._run.step('publish', name, { event: event === undefined ? null : event });
  }

  /**
   * Sets query value `name` to `value` (any JSON value): a durable step `{kind: "query", name,
   * input: {value}}`, stored once and never sent again on replay (docs/protocol.md, "Queries and
   * signal-with-start"). Any client reads the latest value with `Client.queryWorkflow(id, name)`,
   * even while no worker runs the execution. Await it (steps run in program order).
   * @param {string} name a non-empty query name.
   * @returns {Promise<null>} once Keel has stored the value.
   * @throws {TypeError} a name that is not a non-empty string (before it takes a seq).
   */
  setQueryValue(name, value) {
    return unnamed('a query name', name) ?? this._run.step('query', name, { value: value === undefined ? null : value });
  }

  /**
   * Upserts this execution's search attributes, which `Client.listWorkflows({query})` filters on
   * (docs/protocol.md, "Search attributes and memo"): a durable step `{kind: "upsert", name:
   * "searchAttributes", input: attributes}`, sent once and answered from the journal on replay.
   * Each key is set to its value (a string, a finite number or a boolean); a `null` value removes
   * the key (`undefined` is not JSON: such a key is left out). Keel checks keys and values.
   * @param {Record<string, string|number|boolean|null>} attributes
   * @returns {Promise<Record<string, string|number|boolean>>} the execution's attributes after the merge.
   */
  upsertSearchAttributes(attributes) {
    return upsert(this._run, 'searchAttributes', attributes);
  }

  /**
   * Upserts this execution's memo (unindexed JSON that `Client.describeWorkflow` shows): a durable
   * step `{kind: "upsert", name: "memo", input: memo}`, like `upsertSearchAttributes`; a `null`
   * value removes the key.
   * @param {Record<string, unknown>} memo
   * @returns {Promise<Record<string, unknown>>} the execution's memo after the merge.
   */
  upsertMemo(memo) {
    return upsert(this._run, 'memo', memo);
  }

  /** A number in [0, 1), recorded once. */
  random() {
    return this._run.step('random', 'random', {});
  }

  /** A UUID string, recorded once. */
  uuid() {
    return this._run.step('uuid', 'uuid', {});
  }

  /**
   * Whether this execution runs the code of patch `id` (docs/versioning.md): true when it is new
   * (live, a `patch` marker is recorded) or was recorded with the marker; false when it was
   * recorded by the code before the patch (nothing is sent and no seq is used, so the old path's
   * next step replays). Asking again for the same id in a run answers the same.
   * `if (await ctx.patched('add-discount')) { new code } else { old code }`.
   * @param {string} id a non-empty patch id.
   * @returns {Promise<boolean>}
   */
  patched(id) {
    return this._run.patch(id);
  }

  /**
   * Marks patch `id` as deprecated once every execution without its marker has ended: the new path
   * always runs. Live it records the marker like `patched()` (workers still running the
   * `patched()` code can replay the execution); in replay it uses a marker with that id and leaves
   * any other entry to the next step.
   * @param {string} id a non-empty patch id.
   * @returns {Promise<void>}
   */
  deprecatePatch(id) {
    return this._run.patch(id).then(noop);
  }

  /**
   * Ends this run and starts the execution over with `input` and an empty journal. Never returns:
   * `return ctx.continueAsNew(next)` or `await ctx.continueAsNew(next)`.
   */
  continueAsNew(input) {
    this._run.end({ answer: { status: 'continueAsNew', input: input === undefined ? null : input } });
    return never();
  }
}

/** One `workflow/run` request: the journal, the step counter and the run's outcome. */
export class WorkflowRun {
  /**
   * @param {object} params the `workflow/run` params.
   * @param {(params: object) => Promise<object>} sendStep sends `workflow/step`, resolves with its result.
   */
  constructor(params, sendStep) {
    this.params = params;
    this._sendStep = sendStep;
    this._journal = new Map();
    for (const entry of Array.isArray(params.journal) ? params.journal : []) {
      if (entry && Number.isInteger(entry.seq)) this._journal.set(entry.seq, entry);
    }
    this._seq = 0;
    this._patches = new Map(); // patch id → the promise of patched()'s answer (memoized per run)
    this.ended = false;
    this._outcome = new Promise((resolve) => {
      this._resolve = resolve;
    });
  }

  /**
   * Runs `fn(input, ctx)` to its end and returns the `workflow/run` answer.
   * @throws {KeelError} the run cannot be answered meaningfully (e.g. 2006 attemptSuperseded).
   * @throws {ConnectionClosedError} the connection closed while a step was in flight.
   */
  async execute(fn) {
    const ctx = new WorkflowContext(this);
    Promise.resolve()
      .then(() => fn(this.params.input ?? null, ctx))
      .then(
        (output) => this.end({ answer: { status: 'completed', output: output === undefined ? null : output } }),
        (error) => this.end({ answer: { status: 'failed', failure: failureOf(error) } }),
      );
    const outcome = await this._outcome;
    if (outcome.error) throw outcome.error;
    return outcome.answer;
  }

  /** Ends the run; the first call wins. @param {{answer?: object, error?: Error}} outcome */
  end(outcome) {
    if (this.ended) return;
    this.ended = true;
    this._resolve(outcome);
  }

  /** One durable step: replayed from the journal, or sent to Keel. */
  step(kind, name, input, options = undefined) {
    const seq = ++this._seq;
    if (this.ended) return never();
    const recorded = this._journal.get(seq);
    if (recorded !== undefined && (recorded.kind !== kind || recorded.name !== name)) {
      // "Client libraries check the journal themselves during replay and report a mismatch as a
      // failed run with failure.type = "NonDeterminism"."
      this.end({ answer: { status: 'failed', failure: nonDeterminism(seq, recorded, { kind, name }) } });
      return never();
    }
    let promise;
    if (recorded?.status === 'completed') {
      promise = Promise.resolve(recorded.result ?? null);
    } else if (recorded?.status === 'failed') {
      promise = Promise.reject(ActivityError.fromFailure(recorded.failure));
    } else {
      // Not recorded, or recorded but still running: Keel "answers with the recorded outcome,
      // or waits for the running one".
      const params = { workflowId: this.params.workflowId, runId: this.params.runId, seq, kind, name, input };
      if (options !== undefined && options !== null && Object.keys(options).length > 0) params.options = options;
      promise = this._live(params);
    }
    // A step nobody awaits (fire and forget, or a sibling of a step that failed) must not crash
    // the process with an unhandled rejection; awaiting it still throws.
    promise.catch(noop);
    return promise;
  }

  /**
   * A patch marker (step kind "patch"): the answer of patched(id), memoized per run. The entry at
   * the next seq decides: a marker with this id is used up (true); any other entry, completed or
   * scheduled, means an execution recorded before the patch (false, seq left for the next step);
   * none means new code running live: the marker is sent (true once Keel has recorded it).
   */
  patch(id) {
    const refused = unnamed('a patch id', id);
    if (refused) return refused;
    const memo = this._patches.get(id);
    if (memo !== undefined) return memo;
    if (this.ended) return never();
    const seq = this._seq + 1;
    const recorded = this._journal.get(seq);
    let promise;
    if (recorded !== undefined) {
      const marked = recorded.kind === 'patch' && recorded.name === id;
      if (marked) this._seq = seq;
      promise = Promise.resolve(marked);
    } else {
      this._seq = seq;
      promise = this._live({ workflowId: this.params.workflowId, runId: this.params.runId, seq, kind: 'patch', name: id, input: {} }).then(() => true);
      promise.catch(noop);
    }
    this._patches.set(id, promise);
    return promise;
  }

  _live(params) {
    return new Promise((resolve, reject) => {
      this._sendStep(params).then(
        (result) => {
          if (this.ended) return;
          const status = result?.status;
          if (status === 'completed') resolve(result.result ?? null);
          else if (status === 'failed') reject(ActivityError.fromFailure(result.failure));
          else if (status === 'suspend') this.end({ answer: { status: 'suspended' } });
          else this.end({ error: new KeelError(codes.internalError, `workflow/step answered with status ${JSON.stringify(status)}`) });
        },
        (error) => {
          if (this.ended) return;
          if (error instanceof KeelError && error.code === codes.nonDeterminism) {
            const data = error.data ?? {};
            const failure = nonDeterminism(params.seq, data.journal ?? {}, data.code ?? params);
            failure.message = error.rpcMessage || failure.message;
            this.end({ answer: { status: 'failed', failure } });
          } else if (error instanceof ConnectionClosedError || (error instanceof KeelError && error.code === codes.attemptSuperseded)) {
            this.end({ error });
          } else {
            reject(error);
          }
        },
      );
    });
  }
}

/** The input of a wait step (`signal`, `waitForUpdate`): `{timeoutMs}` (whole ms) when `timeout`
 * is a number or `{timeoutMs}`, else `{}` (waits forever). */
function waitInput(timeout) {
  const timeoutMs = typeof timeout === 'number' ? timeout : timeout?.timeoutMs;
  return timeoutMs === undefined || timeoutMs === null ? {} : { timeoutMs: Math.round(timeoutMs) };
}

/** A TypeError rejection when `value` (`what`, e.g. "a query name") is not a non-empty string,
 * else undefined: checked before the step takes a seq. */
function unnamed(what, value) {
  if (typeof value === 'string' && value.length > 0) return undefined;
  return Promise.reject(new TypeError(`${what} must be a non-empty string, not ${JSON.stringify(value)}`));
}

/** A `respond` step answering `update` (an update from waitForUpdate, or its id) with `input`
 * (`{result}` or `{failure}`). */
function answer(run, update, input) {
  const id = typeof update === 'string' ? update : update?.id;
  return unnamed('an update id', id) ?? run.step('respond', id, input);
}

/** An `upsert` step of `values` (an object): sent as given, so a null (a removal) reaches Keel as
 * null. Anything else is refused here, before it takes a seq. */
function upsert(run, name, values) {
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    return Promise.reject(new TypeError(`upsert ${name} takes an object, not ${JSON.stringify(values)}`));
  }
  return run.step('upsert', name, values);
}

function nonDeterminism(seq, journal, code) {
  return {
    type: 'NonDeterminism',
    message:
      `journal seq ${seq} is ${journal.kind} ${JSON.stringify(journal.name)} but the code called ` +
      `${code.kind} ${JSON.stringify(code.name)}; deploy code that replays this journal, then workflow/resume`,
    retryable: false,
    details: { seq, journal: { kind: journal.kind, name: journal.name }, code: { kind: code.kind, name: code.name } },
  };
}

export { CancelledError };
