// Activity definitions (what a worker registers), contract files, and the per-attempt context.
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { ConnectionClosedError, KeelError, codes } from './errors.js';

// Bound on one heartbeat round trip; a heartbeat that times out is logged and the activity goes on.
export const HEARTBEAT_CALL_TIMEOUT_MS = 10_000;
// "`name` matches ^[A-Za-z_][A-Za-z0-9_.\-]*$" (docs/protocol.md, worker/register).
export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const storage = new AsyncLocalStorage();

/**
 * What an activity knows about its attempt; the handler's second argument, and
 * `activityContext()` anywhere below it. Cancellation is `signal` (an AbortSignal): it aborts on
 * `activity/cancel`, a heartbeat answered `cancelled: true` or 2006 attemptSuperseded, a lost
 * connection, or a drain that timed out. Pass it to anything that takes a signal.
 */
export class ActivityContext {
  constructor(params, connection, logger = console) {
    this.taskId = params.taskId ?? '';
    this.name = params.name ?? '';
    this.attempt = params.attempt ?? 1;
    this.idempotencyKey = params.idempotencyKey ?? null;
    this.deadlineMs = params.deadlineMs ?? null;
    this.heartbeatTimeoutMs = params.heartbeatTimeoutMs ?? null;
    /** The last details the previous attempt sent (docs/protocol.md, activity/execute). */
    this.heartbeatDetails = params.heartbeatDetails ?? null;
    this.workflowId = params.workflowId ?? null;
    this.input = params.input ?? null;
    this._attemptToken = params.attemptToken ?? null;
    this._controller = new AbortController();
    this._connection = connection;
    this._logger = logger;
  }

  /** Aborts when Keel cancels this attempt; `signal.reason` says why. */
  get signal() {
    return this._controller.signal;
  }

  /** True once the attempt was cancelled. */
  get cancelled() {
    return this._controller.signal.aborted;
  }

  /**
   * Sends `activity/heartbeat` {taskId, attempt, details}: resets the heartbeat timeout and keeps
   * `details` for the next attempt. Waits for the answer.
   * @returns {Promise<boolean>} the cancelled flag: true means stop and return (anything); the
   *   signal has aborted too. A heartbeat that fails otherwise is logged and returns false.
   */
  async heartbeat(details = null) {
    if (this.cancelled) return true;
    const params = { taskId: this.taskId, attempt: this.attempt, details };
    let result;
    try {
      result = await this._connection.call('activity/heartbeat', params, { timeoutMs: HEARTBEAT_CALL_TIMEOUT_MS });
    } catch (error) {
      if (error instanceof KeelError && error.code === codes.attemptSuperseded) {
        this._cancel(`attempt superseded: ${error.rpcMessage}`);
        return true;
      }
      if (error instanceof ConnectionClosedError) {
        this._cancel('connection to Keel lost');
        return true;
      }
      this._logger.warn(`heartbeat for ${this.taskId} failed: ${error.message}`);
      return false;
    }
    if (result?.cancelled === true) {
      this._cancel('cancelled (heartbeat answer)');
      return true;
    }
    return false;
  }

  /**
   * Publishes `event` (any JSON value) under `name` (default "event") to the stream of the
   * workflow execution that runs this activity: sends `activity/publish` {taskId, attempt, name,
   * event} (and the attempt token when Keel gave one) and waits for the answer, so events keep
   * the order of the calls.
   * @throws {KeelError} Keel refused it: 2006 attemptSuperseded (this attempt is over; its signal
   *   aborts too), -32602 for an activity run with `activity/call` (no workflow, so no stream).
   * @throws {ConnectionClosedError} the connection to Keel was lost (the signal aborts too).
   */
  async publish(event, name = 'event') {
    const params = { taskId: this.taskId, attempt: this.attempt, name, event: event === undefined ? null : event };
    if (this._attemptToken !== null) params.attemptToken = this._attemptToken;
    try {
      await this._connection.call('activity/publish', params, { timeoutMs: HEARTBEAT_CALL_TIMEOUT_MS });
    } catch (error) {
      if (error instanceof KeelError && error.code === codes.attemptSuperseded) this._cancel(`attempt superseded: ${error.rpcMessage}`);
      else if (error instanceof ConnectionClosedError) this._cancel('connection to Keel lost');
      throw error;
    }
  }

  /** Runs `fn` with this context as `activityContext()`. */
  _run(fn) {
    return storage.run(this, fn);
  }

  _cancel(reason) {
    if (!this.cancelled) this._controller.abort(new CancelledSignal(reason));
  }
}

/** The `signal.reason` of a cancelled attempt: an Error named AbortError carrying the reason. */
class CancelledSignal extends Error {
  constructor(reason) {
    super(reason);
    this.name = 'AbortError';
  }
}

/**
 * The context of the activity running in this async scope.
 * @throws {Error} not called from inside an activity.
 */
export function activityContext() {
  const context = storage.getStore();
  if (context === undefined) throw new Error('activityContext() called outside an activity');
  return context;
}

/**
 * Reads every `*.json` contract in `directory`: `{name, version, input, output, description?,
 * retryPolicy?, timeouts?}`.
 * @returns {Map<string, object>} by activity name.
 * @throws {Error} a file is not a contract, or two files name the same activity.
 */
export function loadContractFiles(directory) {
  const contracts = new Map();
  for (const entry of fs.readdirSync(directory).sort()) {
    if (!entry.endsWith('.json')) continue;
    const file = path.join(directory, entry);
    const contract = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (contract === null || typeof contract !== 'object' || typeof contract.name !== 'string') {
      throw new Error(`${file}: a contract is an object with a string "name"`);
    }
    const missing = ['version', 'input', 'output'].filter((key) => !Object.hasOwn(contract, key));
    if (missing.length > 0) throw new Error(`${file}: contract ${JSON.stringify(contract.name)} lacks ${missing.join(', ')}`);
    if (contracts.has(contract.name)) throw new Error(`${file}: a second contract for ${JSON.stringify(contract.name)}`);
    contracts.set(contract.name, contract);
  }
  return contracts;
}

/** The `worker/register` entry of an activity or workflow: only the fields that are set. */
export function contractToWire(definition) {
  const wire = { name: definition.name };
  for (const key of ['description', 'input', 'output', 'retryPolicy', 'timeouts']) {
    const value = definition[key];
    if (value !== undefined && value !== null && !(typeof value === 'object' && Object.keys(value).length === 0 && key !== 'input' && key !== 'output')) {
      wire[key] = value;
    }
  }
  return wire;
}

/** A counting semaphore: `acquire()` resolves with a release function (call it once). */
export class Semaphore {
  constructor(permits) {
    this._free = permits;
    this._waiters = [];
  }

  acquire() {
    if (this._free > 0) {
      this._free -= 1;
      return Promise.resolve(this._releaser());
    }
    return new Promise((resolve) => this._waiters.push(() => resolve(this._releaser())));
  }

  _releaser() {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this._waiters.shift();
      if (next) next();
      else this._free += 1;
    };
  }
}
