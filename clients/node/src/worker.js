// Worker: registers activities and workflows with Keel and serves activity/execute and
// workflow/run, reconnecting when the orchestrator restarts and draining on shutdown.
import path from 'node:path';
import { ActivityContext, NAME_PATTERN, Semaphore, contractToWire, loadContractFiles } from './activity.js';
import { Connection } from './connection.js';
import { ActivityError, KeelError, codes, failureOf } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame } from './framing.js';
import { Backoff, EndpointRing } from './reconnect.js';
import { describeEndpoint, resolveEndpoints, transportFor } from './transport.js';
import { VERSION, initialize } from './version.js';
import { WorkflowRun } from './workflow.js';

// Bound on the initialize and worker/register round trips.
const HANDSHAKE_TIMEOUT_MS = 10_000;
// Room left for the envelope when checking an output against the peer's frame limit.
const ENVELOPE_BYTES = 1024;
// Errors after which reconnecting cannot help.
const FATAL_CODES = new Set([codes.unauthorized, codes.unsupportedProtocolVersion, codes.contractConflict]);

/**
 * Serves activities and workflows to Keel.
 *
 * While disconnected, running activities are cancelled (their signal aborts) and late results are
 * dropped: "A worker that disconnects is removed at once; its in-flight activities are retried
 * elsewhere."
 */
export class Worker {
  /**
   * @param {object} [options]
   * @param {string} [options.name] shown by worker/list (default: the script name).
   * @param {number} [options.maxConcurrent=16] activity/execute requests run at once.
   * @param {number} [options.maxConcurrentWorkflows=1000] workflow/run requests run at once.
   * @param {string|string[]} [options.socket] Unix socket path, or several tried in order (else
   *   KEEL_SOCKET, comma-separated; docs/clients.md "Several endpoints").
   * @param {string|string[]} [options.tcp] HOST:PORT, or several (else KEEL_TCP), with `token` (else KEEL_TOKEN).
   * @param {boolean|{caFile?: string, certFile?: string, keyFile?: string, serverName?: string}} [options.tls]
   *   TLS over `tcp`: true (system trust store) or a CA file and client certificate (else KEEL_TLS*).
   * @param {boolean} [options.reconnect=true] reconnect socket/TCP with exponential backoff.
   * @param {number} [options.reconnectInitialMs=100] the backoff's first bound (full jitter).
   * @param {number} [options.reconnectMaxMs=2000] the backoff's cap.
   * @param {number} [options.drainTimeoutMs=30000] how long a graceful stop waits for running work.
   * @param {Console} [options.logger] defaults to console (stderr over stdio).
   * @param {string} [options.buildId] this worker's build (else KEEL_BUILD_ID; empty = none). An
   *   execution is pinned to the build of the worker that first runs it (docs/versioning.md).
   * @param {string[]} [options.compatibleBuildIds] other builds whose executions this one may run.
   */
  constructor(options = {}) {
    const maxConcurrent = options.maxConcurrent ?? 16;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1 || maxConcurrent > 10000) {
      throw new RangeError('maxConcurrent must be an integer between 1 and 10000');
    }
    this.name = options.name ?? (path.parse(process.argv[1] ?? 'node-worker').name || 'node-worker');
    this.maxConcurrent = maxConcurrent;
    this.maxConcurrentWorkflows = options.maxConcurrentWorkflows ?? 1000;
    this.workerId = null;
    const buildId = options.buildId ?? process.env.KEEL_BUILD_ID ?? '';
    if (typeof buildId !== 'string') throw new TypeError('buildId must be a string');
    this.buildId = buildId === '' ? null : buildId;
    const compatible = options.compatibleBuildIds ?? [];
    if (!Array.isArray(compatible) || !compatible.every((id) => typeof id === 'string' && id !== '')) {
      throw new TypeError('compatibleBuildIds must be an array of non-empty strings');
    }
    this.compatibleBuildIds = [...compatible];
    this._options = options;
    this._logger = options.logger ?? console;
    this._activities = new Map();
    this._workflows = new Map();
    this._contracts = new Map();
    this._running = new Map(); // `${taskId}#${attempt}` → ActivityContext
    this._runs = new Set();
    this._slots = new Semaphore(maxConcurrent);
    this._workflowSlots = new Semaphore(this.maxConcurrentWorkflows);
    this._draining = false;
    this._stopRequested = false;
    this._backoff = new Backoff(options.reconnectInitialMs, options.reconnectMaxMs);
    this._wakeStop = undefined;
    this._idleWaiters = [];
  }

  /** Loads contract files (`*.json`); `activity` then takes the contract of the same name. */
  loadContracts(directory) {
    for (const [name, contract] of loadContractFiles(directory)) this._contracts.set(name, contract);
    return this;
  }

  /**
   * Registers activity `name`: `handler(input, ctx)` returns the output (or a promise of it).
   * The contract comes from `options` (input/output JSON Schemas, description, retryPolicy and
   * timeouts in wire form, e.g. `{maximumAttempts: 3}`, `{startToCloseMs: 5000}`), else from a
   * loaded contract file. Throw ActivityError for a chosen failure; anything else thrown is a
   * retryable failure whose type is its class name. Arguments may also be (name, options, handler).
   */
  activity(name, handler, options = {}) {
    if (typeof handler !== 'function') [handler, options] = [options, handler];
    checkName(name, this._activities, 'activity', handler);
    const contract = this._contracts.get(name) ?? {};
    const pick = (key) => options[key] ?? contract[key];
    this._activities.set(name, {
      name,
      handler,
      description: pick('description'),
      input: pick('input'),
      output: pick('output'),
      retryPolicy: pick('retryPolicy'),
      timeouts: pick('timeouts'),
    });
    return this;
  }

  /**
   * Registers workflow `name`: `async fn(input, ctx)` with a WorkflowContext. `options` may give
   * input/output JSON Schemas and a description. Arguments may also be (name, options, fn).
   */
  workflow(name, fn, options = {}) {
    if (typeof fn !== 'function') [fn, options] = [options, fn];
    checkName(name, this._workflows, 'workflow', fn);
    this._workflows.set(name, { name, fn, description: options.description, input: options.input, output: options.output });
    return this;
  }

  /** The `worker/register` params this worker sends. */
  registration() {
    const params = {
      name: this.name,
      language: 'javascript',
      maxConcurrent: this.maxConcurrent,
      activities: [...this._activities.values()].map(contractToWire),
      workflows: [...this._workflows.values()].map(contractToWire),
    };
    if (this._workflows.size > 0) params.maxConcurrentWorkflows = this.maxConcurrentWorkflows;
    if (this.buildId !== null) {
      params.buildId = this.buildId;
      if (this.compatibleBuildIds.length > 0) params.compatibleBuildIds = [...this.compatibleBuildIds];
    }
    return params;
  }

  /**
   * Connects, initializes, registers and serves until stopped (`stop()`, SIGTERM/SIGINT, a
   * `shutdown` request, or, over stdio, the end of stdin). Socket/TCP connections are re-opened
   * with full-jitter exponential backoff (reset after each successful initialize),
   * initializing and registering again each time. With several endpoints a failure moves to the
   * next one at once; the backoff is waited once every endpoint has failed in a row.
   * @throws {KeelError} Keel refused us for good (unauthorized, protocol version, contract conflict).
   * @throws {Error} no transport configured.
   */
  async run() {
    const endpoints = new EndpointRing(resolveEndpoints(this._options));
    this._endpoints = endpoints;
    this._stopRequested = false;
    this._draining = false;
    const removeSignals = this._options.handleSignals === false ? () => {} : this._installSignals();
    this._backoff.reset();
    try {
      while (!this._stopRequested) {
        const endpoint = endpoints.current;
        try {
          await this._session(endpoint);
        } catch (error) {
          if (error instanceof KeelError && FATAL_CODES.has(error.code)) throw error;
          this._logger.warn(`connection to Keel at ${describeEndpoint(endpoint)} failed: ${error.message}`);
        }
        if (endpoint.kind === 'stdio' || this._options.reconnect === false || this._stopRequested) break;
        if (!endpoints.failed()) {
          this._logger.info(`failing over from Keel at ${describeEndpoint(endpoint)} to ${describeEndpoint(endpoints.current)}`);
          continue;
        }
        const pause = this._backoff.next();
        this._logger.info(`reconnecting to Keel in ${Math.round(pause)} ms`);
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, pause);
          this._wakeStop = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      removeSignals();
    }
  }

  /** Starts a graceful stop: refuse new work, let running work finish (up to drainTimeoutMs),
   * send its results, disconnect. `run()` then resolves. */
  stop() {
    this._draining = true;
    this._stopRequested = true;
    this._wakeStop?.();
  }

  async _session(endpoint) {
    const transport = transportFor(endpoint, { maxFrameBytes: this._options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
    const connection = new Connection(transport, { logger: this._logger });
    connection.onRequest('activity/execute', (params) => this._execute(connection, params));
    connection.onRequest('workflow/run', (params) => this._runWorkflow(connection, params));
    connection.onNotification('activity/cancel', (params) => this._onCancel(params));
    connection.onNotification('workflow/cancel', (params) => this._onWorkflowCancel(params));
    connection.onRequest('ping', () => ({}));
    connection.onRequest('shutdown', () => this._onShutdown());
    await connection.start();
    try {
      await initialize(connection, endpoint.token, HANDSHAKE_TIMEOUT_MS);
      this._backoff.reset(); // Keel is back: a drop from here on starts the backoff over
      this._endpoints?.succeeded();
      const registered = await connection.call('worker/register', this.registration(), { timeoutMs: HANDSHAKE_TIMEOUT_MS });
      this.workerId = registered?.workerId ?? null;
      this._logger.info(`registered with Keel at ${describeEndpoint(endpoint)} as ${this.workerId}`);
      const stopped = new Promise((resolve) => {
        this._wakeStop = resolve;
      });
      if (this._stopRequested) this._wakeStop();
      await Promise.race([stopped, connection.closedPromise]);
      if (connection.closed) {
        this._logger.info(`connection to Keel at ${describeEndpoint(endpoint)} closed`);
        for (const ctx of this._running.values()) ctx._cancel('connection to Keel lost');
      } else {
        await this._drain();
      }
    } finally {
      this._wakeStop = undefined;
      await connection.close();
    }
  }

  async _drain() {
    this._draining = true;
    const timeoutMs = this._options.drainTimeoutMs ?? 30_000;
    let timer;
    const timedOut = await Promise.race([
      this._whenIdle().then(() => false),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this._logger.warn(`drain timed out after ${timeoutMs} ms; cancelling ${this._running.size} activities`);
      for (const ctx of this._running.values()) ctx._cancel('worker shutting down');
    }
    // One macrotask turn: answers of the work that just finished are queued before we go on.
    await new Promise((resolve) => setImmediate(resolve));
  }

  _whenIdle() {
    if (this._running.size === 0 && this._runs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this._idleWaiters.push(resolve));
  }

  _checkIdle() {
    if (this._running.size > 0 || this._runs.size > 0) return;
    for (const resolve of this._idleWaiters.splice(0)) resolve();
  }

  async _onShutdown() {
    // Drain first, so every result is sent before the answer; then stop (after the answer is queued).
    await this._drain();
    setImmediate(() => this.stop());
    return {};
  }

  _onCancel(params) {
    for (const ctx of this._running.values()) {
      if (ctx.taskId === params.taskId && (params.attempt === undefined || params.attempt === ctx.attempt)) {
        ctx._cancel(String(params.reason ?? 'cancelled'));
      }
    }
  }

  /** Keel ended the execution (terminated, timed out): the matching run stops; Keel ignores its answer. */
  _onWorkflowCancel(params) {
    for (const run of this._runs) {
      if (run.params.workflowId === params.workflowId && run.params.runId === params.runId) {
        const reason = String(params.reason ?? 'the workflow ended');
        run.end({ error: new KeelError(codes.attemptSuperseded, `workflow ${params.workflowId} ended: ${reason}`) });
      }
    }
  }

  _installSignals() {
    let count = 0;
    const onSignal = (signal) => {
      count += 1;
      if (count === 1) {
        this._logger.info(`${signal}: draining (send again to cancel running activities)`);
        this.stop();
      } else {
        for (const ctx of this._running.values()) ctx._cancel('worker killed');
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    return () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    };
  }

  async _execute(connection, params) {
    if (this._draining) throw new KeelError(codes.shuttingDown, 'worker is shutting down; dispatch the attempt elsewhere');
    const definition = this._activities.get(params.name);
    if (definition === undefined) {
      const message = `this worker does not serve activity ${JSON.stringify(params.name)}`;
      return { failure: { type: 'ActivityNotRegistered', message, retryable: true, details: null } };
    }
    const ctx = new ActivityContext(params, connection, this._logger);
    const key = `${ctx.taskId}#${ctx.attempt}`;
    this._running.set(key, ctx);
    const release = await this._slots.acquire();
    try {
      const output = await this._invoke(definition, ctx);
      const problem = unsendable(output, connection.transport.maxSendBytes);
      return problem ? { failure: problem } : { output };
    } catch (error) {
      if (ctx.cancelled) {
        // "The handler should stop; its answer to activity/execute is then ignored."
        return { failure: { type: 'Cancelled', message: ctx.signal.reason?.message ?? 'cancelled', retryable: false, details: null } };
      }
      if (!(error instanceof ActivityError)) {
        this._logger.error(`activity ${ctx.name} (task ${ctx.taskId}, attempt ${ctx.attempt}) failed:`, error);
      }
      return { failure: failureOf(error) };
    } finally {
      release();
      if (this._running.get(key) === ctx) this._running.delete(key);
      this._checkIdle();
    }
  }

  /** Runs the handler; a cancelled attempt answers at once, whether or not the handler stops. */
  _invoke(definition, ctx) {
    return new Promise((resolve, reject) => {
      if (ctx.cancelled) return reject(ctx.signal.reason);
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      ctx._run(() => Promise.resolve().then(() => definition.handler(ctx.input, ctx))).then(
        (value) => resolve(value === undefined ? null : value),
        reject,
      );
    });
  }

  async _runWorkflow(connection, params) {
    if (this._draining) throw new KeelError(codes.shuttingDown, 'worker is shutting down; dispatch the run elsewhere');
    const definition = this._workflows.get(params.name);
    if (definition === undefined) {
      throw new KeelError(codes.invalidParams, `this worker does not serve workflow ${JSON.stringify(params.name)}`);
    }
    const run = new WorkflowRun(params, (step) => connection.call('workflow/step', step));
    this._runs.add(run);
    const release = await this._workflowSlots.acquire();
    try {
      const answer = await run.execute(definition.fn);
      if (answer.status === 'completed') {
        const problem = unsendable(answer.output, connection.transport.maxSendBytes);
        if (problem) return { status: 'failed', failure: problem };
      }
      return answer;
    } finally {
      release();
      this._runs.delete(run);
      this._checkIdle();
    }
  }
}

function checkName(name, registry, what, fn) {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new Error(`${what} name ${JSON.stringify(name)} must match ${NAME_PATTERN}`);
  }
  if (registry.has(name)) throw new Error(`${what} ${JSON.stringify(name)} is already registered`);
  if (typeof fn !== 'function') throw new TypeError(`${what} ${JSON.stringify(name)} needs a function`);
}

/** undefined if `output` can be sent, else the failure to send instead (not retryable: the same
 * code would produce the same output). */
function unsendable(output, limit) {
  let size;
  try {
    size = encodeFrame(output).length - 1;
  } catch (error) {
    return { type: 'OutputNotSerializable', message: `output is not JSON: ${error.message}`, retryable: false, details: null };
  }
  if (limit !== undefined && size > limit - ENVELOPE_BYTES) {
    return { type: 'OutputTooLarge', message: `${size}-byte output exceeds the ${limit}-byte frame limit`, retryable: false, details: { bytes: size, limit } };
  }
  return undefined;
}

export { VERSION };
