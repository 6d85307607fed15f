// Client: starts workflows and activities and inspects Keel over a socket (never stdio).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from './connection.js';
import { ConnectionLostError, KeelError, codes } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES } from './framing.js';
import { Backoff, EndpointRing, safeToRepeat } from './reconnect.js';
import { describeEndpoint, resolveEndpoints, transportFor } from './transport.js';
import { initialize } from './version.js';

// Bound on round trips that do not wait for work (initialize, signal, describe, …).
const CALL_TIMEOUT_MS = 10_000;
// Slack added to a server-side wait before the local call gives up.
const WAIT_SLACK_MS = 5_000;
// How long one call keeps reconnecting to an unreachable Keel before it fails.
const RECONNECT_TIMEOUT_MS = 30_000;
// Refusals that reconnecting cannot change.
const FATAL_CODES = new Set([codes.unauthorized, codes.unsupportedProtocolVersion]);
// One workflow/follow long poll waits this long on the server for a new event.
const FOLLOW_WAIT_MS = 30_000;
// workflow/result and workflow/update wait this long on the server when not told (docs/protocol.md).
const DEFAULT_RESULT_WAIT_MS = 60_000;

/**
 * A connection to Keel for starting and inspecting workflows and activities. Call `close()`.
 *
 * When Keel restarts, the next call reconnects (full-jitter backoff, for up to
 * `reconnectTimeoutMs`); a call in flight at the drop is sent again when that is safe, else it
 * rejects with `ConnectionLostError` (docs/clients.md "Reconnecting"). With several endpoints,
 * a reconnect tries them in order from the one after the endpoint that failed (docs/clients.md
 * "Several endpoints").
 */
export class Client {
  /**
   * @param {Connection} connection an initialized connection (use `Client.connect`).
   * @param {object} [reconnect] `{endpoints, options}` from `connect` (or `{endpoint, options}`),
   *   the connected endpoint first; without it, never reconnects.
   */
  constructor(connection, reconnect = undefined) {
    this.connection = connection;
    this._reconnect = reconnect;
    this._endpoints = reconnect ? new EndpointRing(reconnect.endpoints ?? [reconnect.endpoint]) : null;
    this._backoff = new Backoff(reconnect?.options.reconnectInitialMs, reconnect?.options.reconnectMaxMs);
    this._reconnecting = null; // the pending reconnect, shared by every call that needs it
    this._closed = false;
  }

  /**
   * Connects (`socket`/KEEL_SOCKET, or `tcp` + `token`/KEEL_TCP + KEEL_TOKEN) and initializes.
   * `reconnectInitialMs`/`reconnectMaxMs` (100/2000) and `reconnectTimeoutMs` (30000) shape later
   * reconnects. `tls: true` or `tls: {caFile, certFile, keyFile, serverName}` speaks TLS over `tcp`.
   * `socket`/`tcp` (and KEEL_SOCKET/KEEL_TCP, comma-separated) may list several endpoints: the
   * first reachable one in order is used.
   * @throws {Error} no endpoint is reachable (the message names each one and why) or a TLS
   *   certificate is not trusted; {KeelError} Keel refused the connection.
   */
  static async connect(options = {}) {
    const endpoints = resolveEndpoints({ ...options, allowStdio: false });
    const failures = [];
    for (const [index, endpoint] of endpoints.entries()) {
      try {
        const connection = await open(endpoint, options);
        const ordered = [...endpoints.slice(index), ...endpoints.slice(0, index)];
        return new Client(connection, { endpoints: ordered, options });
      } catch (error) {
        if (endpoints.length === 1 || (error instanceof KeelError && FATAL_CODES.has(error.code))) throw error;
        failures.push(`${describeEndpoint(endpoint)}: ${error.message}`);
      }
    }
    throw new Error(`no Keel endpoint is reachable: ${failures.join('; ')}`);
  }

  /** Closes the connection. */
  close() {
    this._closed = true;
    return this.connection.close();
  }

  /**
   * Starts workflow `name` (`workflow/start`). `priority` (-1000..1000, default 0; higher runs
   * first) and `fairnessKey` (1-256 chars) are kept by the execution: its activity steps (and its
   * children's) inherit them unless a step sets its own. `searchAttributes` (at most 32 keys,
   * each a string, finite number or boolean; RFC 3339 strings are indexed as times too) are what
   * `listWorkflows({query})` filters on; `memo` (any JSON object, at most 32 KiB) is unindexed and
   * shown by `describeWorkflow`. Each is sent only when given; Keel checks them.
   * @param {{workflowId?: string, conflictPolicy?: 'useExisting'|'fail', priority?: number, fairnessKey?: string, searchAttributes?: Record<string, string|number|boolean>, memo?: Record<string, unknown>}} [options]
   * @returns {Promise<{workflowId: string, status: string, started: boolean}>}
   */
  startWorkflow(name, input = null, options = {}) {
    return this._call('workflow/start', { name, input, ...defined(options) });
  }

  /**
   * Waits up to `waitTimeoutMs` (default 60000) for a workflow to end (`workflow/result`).
   * @returns {Promise<{workflowId: string, status: string, output?: unknown, failure?: object}>}
   *   past the timeout, the current status.
   */
  workflowResult(workflowId, { waitTimeoutMs } = {}) {
    const wait = waitTimeoutMs ?? DEFAULT_RESULT_WAIT_MS;
    return this._call('workflow/result', defined({ workflowId, waitTimeoutMs }), wait + WAIT_SLACK_MS);
  }

  /**
   * Sends signal `name` with `payload` (`workflow/signal`). Every call carries a `requestId`, a
   * fresh random UUID unless `options.requestId` gives one: Keel delivers the first signal with a
   * given id and answers a later one `duplicate: true` without delivering it, so a signal in
   * flight when the connection drops is sent again after the reconnect. Pass your own id to make
   * a retry from elsewhere (another process, after a restart) deduplicate too.
   * @param {{requestId?: string}} [options]
   * @returns {Promise<{delivered: boolean, consumed?: boolean, duplicate?: boolean}>}
   */
  signalWorkflow(workflowId, name, payload = undefined, { requestId } = {}) {
    return this._call('workflow/signal', defined({ workflowId, name, payload, requestId: requestId ?? randomUUID() }));
  }

  /**
   * Signal-with-start (`workflow/start` with `signal`): starts workflow `name` and buffers signal
   * `signalName` with `payload` in one transaction (the workflow's first wait for that signal
   * receives it), or, when an execution with the workflow id is open, delivers the signal to it
   * (`started: false`). Give `options.workflowId`: it is how a later call finds the same
   * execution (without one Keel generates an id). `options` are `startWorkflow`'s plus
   * `requestId`, a fresh random UUID unless given, which deduplicates the signal like
   * `signalWorkflow`'s: a call in flight when the connection drops is sent again after the
   * reconnect and delivers once.
   * @param {{workflowId?: string, conflictPolicy?: 'useExisting'|'fail', priority?: number, fairnessKey?: string, searchAttributes?: Record<string, string|number|boolean>, memo?: Record<string, unknown>, requestId?: string}} [options]
   * @returns {Promise<{workflowId: string, status: string, started: boolean, signal: {delivered: boolean, duplicate: boolean}}>}
   * @throws {KeelError} 1001 workflowNotFound when the id's execution has ended.
   */
  signalWithStart(name, input = null, signalName, payload = undefined, options = {}) {
    const { requestId, ...start } = options;
    const signal = defined({ name: signalName, payload, requestId: requestId ?? randomUUID() });
    return this._call('workflow/start', { name, input, ...defined(start), signal });
  }

  /**
   * Reads query value `name` of execution `workflowId` (`workflow/query`): the latest value the
   * workflow set with `wf.setQueryValue(name, value)`, answered by Keel even when no worker is
   * connected. A read: sent again after a reconnect.
   * @returns {Promise<unknown>} the value.
   * @throws {KeelError} 1030 queryNotFound when the workflow never set `name` (`data: {workflowId,
   *   name, known}`, `known` the names it did set); 1001 workflowNotFound for an unknown workflow.
   */
  async queryWorkflow(workflowId, name) {
    const answer = await this._call('workflow/query', { workflowId, name });
    return answer?.value ?? null;
  }

  /**
   * Sends update `name` with `input` to execution `workflowId` (`workflow/update`) and waits up to
   * `waitTimeoutMs` (default 60000) for the workflow's answer (`wf.respond` or `wf.reject`). Every
   * call carries an `updateId`, a fresh random UUID unless `options.updateId` gives one: Keel
   * delivers an update id once, and a later call with the same id delivers nothing and waits for
   * (or answers with) the same outcome, so a call in flight when the connection drops is sent
   * again after the reconnect. Pass your own id to resume waiting on a `pending` update.
   * @param {{updateId?: string, waitTimeoutMs?: number}} [options]
   * @returns {Promise<{workflowId: string, updateId: string, name: string, status: 'completed'|'rejected'|'pending', result?: unknown, failure?: {type: string, message: string, details?: unknown}}>}
   *   `completed` with the workflow's `result`, `rejected` with its `failure`, or `pending` when the
   *   wait ended first (the update stays delivered).
   * @throws {KeelError} 1031 updateUnanswered when the workflow ended without answering (`data:
   *   {workflowId, updateId, status}`); 1001 workflowNotFound for an unknown or ended workflow;
   *   3001 inputContractViolation when `input` breaks the update's contract (nothing recorded).
   */
  updateWorkflow(workflowId, name, input = null, { updateId, waitTimeoutMs } = {}) {
    const wait = waitTimeoutMs ?? DEFAULT_RESULT_WAIT_MS;
    const params = defined({ workflowId, name, input, updateId: updateId ?? randomUUID(), waitTimeoutMs });
    return this._call('workflow/update', params, wait + WAIT_SLACK_MS);
  }

  /** Requests cancellation (`workflow/cancel`). @returns {Promise<{status: string}>} */
  cancelWorkflow(workflowId, reason = undefined) {
    return this._call('workflow/cancel', defined({ workflowId, reason }));
  }

  /** `workflow/describe`: status, runId, input, output/failure, current and pending steps, and
   * `searchAttributes` and `memo` when set. */
  describeWorkflow(workflowId) {
    return this._call('workflow/describe', { workflowId });
  }

  /**
   * `workflow/list` with optional filters `{status, name, createdAfterMs, createdBeforeMs, query,
   * limit, cursor}`, each sent only when given. `query` is a search over the built-in fields
   * (`workflowId`, `name`, `status`, `startedAt`, `updatedAt`) and the search attributes, e.g.
   * `customer = "acme" AND amount >= 100 AND (status = "running" OR region IN ("eu", "us"))`
   * (operators `= != < <= > >= IN STARTS_WITH`, `AND OR NOT`, parentheses; docs/protocol.md).
   * @returns {Promise<{workflows: object[], nextCursor?: string}>} each summary with its
   *   `searchAttributes` when set; pass `nextCursor` back as `cursor` for the next page.
   * @throws {KeelError} 1013 invalidQuery for a query that does not parse (`data: {query,
   *   position, term}`).
   */
  listWorkflows(filters = {}) {
    return this._call('workflow/list', defined(filters));
  }

  /** `workflow/history`: the journal entries of the current run. */
  workflowHistory(workflowId) {
    return this._call('workflow/history', { workflowId });
  }

  /**
   * Follows the stream of execution `workflowId`: yields each event published after
   * `afterOffset` once, in offset order, by `workflow/follow` long polls (30 s each, the next from
   * the page's `nextOffset`), and ends after the page that says `done` (the execution ended).
   * `for await (const event of client.follow(id)) { … }`; `break` stops following. Each event is
   * `{offset, name, event, atMs, source: "workflow"|"activity", seq?, taskId?, attempt?}`; to
   * resume later, follow again from the last `offset` seen. A poll in flight when the connection
   * drops is sent again after the reconnect (it is a read), so nothing is lost or repeated.
   * @param {{limit?: number, waitTimeoutMs?: number, signal?: AbortSignal}} [options] events per
   *   page (1-1000, Keel's default 100), the server-side wait of one poll, and a signal that
   *   stops following (the iterator then throws `signal.reason`).
   * @returns {AsyncGenerator<object>}
   * @throws {KeelError} e.g. -32602 for bad params, or an unknown workflow.
   */
  async *follow(workflowId, afterOffset = 0, { limit, waitTimeoutMs = FOLLOW_WAIT_MS, signal } = {}) {
    let offset = afterOffset;
    for (;;) {
      signal?.throwIfAborted();
      const poll = this._call('workflow/follow', defined({ workflowId, afterOffset: offset, limit, waitTimeoutMs }), waitTimeoutMs + WAIT_SLACK_MS);
      const page = signal ? await abortable(poll, signal) : await poll;
      for (const event of page?.events ?? []) {
        if (!(event.offset > offset)) continue; // never yield an event twice
        offset = event.offset;
        yield event;
      }
      if (page?.done === true) return;
      if (Number.isInteger(page?.nextOffset) && page.nextOffset > offset) offset = page.nextOffset;
    }
  }

  /** `workflow/resume`: re-runs a parked execution. */
  resumeWorkflow(workflowId) {
    return this._call('workflow/resume', { workflowId });
  }

  /**
   * Runs one durable activity call (`activity/call`). With `wait` (default) resolves with the
   * final result, or the current status after `waitTimeoutMs`; without, at once ("scheduled").
   * `priority` (-1000..1000, default 0; higher runs first) and `fairnessKey` (1-256 chars; ready
   * tasks of one priority are handed out round-robin over keys) order the task among the ready
   * tasks of its activity; each is sent only when given, and Keel checks the ranges (-32602).
   * @param {{idempotencyKey?: string, wait?: boolean, waitTimeoutMs?: number, retryPolicy?: object, timeouts?: object, priority?: number, fairnessKey?: string}} [options]
   * @returns {Promise<{taskId: string, status: string, attempts: number, output?: unknown, failure?: object}>}
   * @throws {KeelError} e.g. 3001 inputContractViolation, 4002 idempotencyConflict.
   */
  callActivity(name, input = null, options = {}) {
    const wait = options.wait ?? true;
    const timeout = !wait ? CALL_TIMEOUT_MS : options.waitTimeoutMs === undefined ? null : options.waitTimeoutMs + WAIT_SLACK_MS;
    return this._call('activity/call', { name, input, wait, ...defined({ ...options, wait: undefined }) }, timeout);
  }

  /** `activity/result` by `{taskId}` or `{idempotencyKey}`, waiting up to `waitTimeoutMs`. */
  activityResult(target, { waitTimeoutMs } = {}) {
    const params = typeof target === 'string' ? { taskId: target } : { ...target };
    const timeout = waitTimeoutMs === undefined ? null : waitTimeoutMs + WAIT_SLACK_MS;
    return this._call('activity/result', defined({ ...params, waitTimeoutMs }), timeout);
  }

  /** `activity/cancel` (request): cancels a task. @returns {Promise<{status: string}>} */
  cancelActivity(taskId) {
    return this._call('activity/cancel', { taskId });
  }

  /**
   * Creates schedule `scheduleId` (`schedule/create`): starts workflow `action.workflow` at each
   * time of `spec`, each slot once, as workflow id `<scheduleId>-<slot time, UTC ISO 8601 to the
   * second>`. `spec` is `{cron, timeZone?}` or `{intervalMs, offsetMs?}`, plus `jitterMs?`;
   * `action` is `{workflow, input?, priority?, fairnessKey?, executionTimeoutMs?, runTimeoutMs?}`
   * (both sent as given). `overlap` ("skip" by default, "bufferOne", "allowAll", "cancelOther"),
   * `catchupWindowMs`, `paused` and `note` are sent only when given.
   * @param {{spec: object, action: object, overlap?: 'skip'|'bufferOne'|'allowAll'|'cancelOther', catchupWindowMs?: number, paused?: boolean, note?: string}} options
   * @returns {Promise<object>} the schedule, as `describeSchedule` answers it.
   * @throws {KeelError} 1021 scheduleAlreadyExists, -32602 for a bad spec or action.
   */
  createSchedule(scheduleId, { spec, action, overlap, catchupWindowMs, paused, note } = {}) {
    return this._call('schedule/create', defined({ scheduleId, spec, action, overlap, catchupWindowMs, paused, note }));
  }

  /**
   * `schedule/describe`: spec, action, policies, `paused`, `nextActionTimesMs` (up to 5),
   * `recentActions` (`{slotMs, workflowId, startedAtMs}`, newest last), `started`, `skipped`.
   * @throws {KeelError} 1020 scheduleNotFound.
   */
  describeSchedule(scheduleId) {
    return this._call('schedule/describe', { scheduleId });
  }

  /**
   * `schedule/list`, by schedule id: `{schedules: [{scheduleId, workflow, spec, paused,
   * nextActionTimeMs?}], nextCursor?}`; pass `nextCursor` back as `cursor` for the next page.
   * @param {{limit?: number, cursor?: string}} [options]
   */
  listSchedules({ limit, cursor } = {}) {
    return this._call('schedule/list', defined({ limit, cursor }));
  }

  /** `schedule/pause`: no slot starts until unpaused. @returns the schedule. @throws {KeelError} 1020. */
  pauseSchedule(scheduleId, { note } = {}) {
    return this._call('schedule/pause', defined({ scheduleId, note }));
  }

  /** `schedule/unpause`: slots missed while paused are not caught up. @returns the schedule. @throws {KeelError} 1020. */
  unpauseSchedule(scheduleId, { note } = {}) {
    return this._call('schedule/unpause', defined({ scheduleId, note }));
  }

  /**
   * `schedule/trigger`: starts the action now (even when paused), under the schedule's overlap
   * policy unless `overlap` is given.
   * @returns {Promise<{scheduleId: string, workflowId: string, started: boolean}>}
   * @throws {KeelError} 1020 scheduleNotFound.
   */
  triggerSchedule(scheduleId, { overlap } = {}) {
    return this._call('schedule/trigger', defined({ scheduleId, overlap }));
  }

  /** `schedule/delete`; workflows already started keep running.
   * @returns {Promise<{scheduleId: string, deleted: true}>} @throws {KeelError} 1020. */
  deleteSchedule(scheduleId) {
    return this._call('schedule/delete', { scheduleId });
  }

  /** `worker/list`: the connected workers. */
  async workers() {
    return (await this._call('worker/list', {}))?.workers ?? [];
  }

  /** A round trip to Keel. */
  async ping() {
    await this._call('ping', {});
  }

  /** `timeoutMs`: local bound; null waits as long as the server does. Reconnects first if the
   * connection dropped; repeats the call after a drop only when `safeToRepeat` allows it. */
  async _call(method, params, timeoutMs = CALL_TIMEOUT_MS) {
    for (;;) {
      const connection = await this._connected();
      try {
        return await connection.call(method, params, { timeoutMs });
      } catch (error) {
        if (!connection.closed || this._closed || !this._reconnect || error instanceof KeelError) throw error;
        if (!safeToRepeat(method, params)) throw new ConnectionLostError(method, error.message);
      }
    }
  }

  async _connected() {
    if (!this.connection.closed || this._closed || !this._reconnect) return this.connection;
    this._reconnecting ??= this._reopen().finally(() => {
      this._reconnecting = null;
    });
    return this._reconnecting;
  }

  async _reopen() {
    const { options } = this._reconnect;
    const endpoints = this._endpoints;
    const deadline = Date.now() + (options.reconnectTimeoutMs ?? RECONNECT_TIMEOUT_MS);
    endpoints.failed(); // the connected endpoint dropped: start with the next one
    for (;;) {
      try {
        this.connection = await open(endpoints.current, options);
        this._backoff.reset();
        endpoints.succeeded();
        return this.connection;
      } catch (error) {
        if (error instanceof KeelError && FATAL_CODES.has(error.code)) throw error;
        if (!endpoints.failed()) continue; // try the next endpoint at once; wait only after a whole round
        const pause = this._backoff.next();
        if (Date.now() + pause > deadline) throw error;
        await sleep(pause);
      }
    }
  }
}

/** Opens a connection and runs initialize on it; closes it again on failure. */
async function open(endpoint, options) {
  const transport = transportFor(endpoint, { maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
  const connection = new Connection(transport, { logger: options.logger ?? console });
  try {
    await connection.start();
    await initialize(connection, endpoint.token, CALL_TIMEOUT_MS);
  } catch (error) {
    await connection.close();
    throw error;
  }
  return connection;
}

/** `promise`, or a rejection with `signal.reason` as soon as `signal` aborts. */
function abortable(promise, signal) {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function defined(object) {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}
