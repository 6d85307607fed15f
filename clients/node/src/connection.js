// JSON-RPC 2.0 connection over a Transport: calls and notifications out, requests and
// notifications in, batches (JSON-RPC 2.0 §6), and the error answers docs/protocol.md requires.
import { ConnectionClosedError, KeelError, codes } from './errors.js';
import { FrameTooLargeError } from './framing.js';

const NO_ID = Symbol('no id');

function validId(value) {
  return value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

function errorAnswer(id, code, message, data = undefined) {
  return { jsonrpc: '2.0', id, error: new KeelError(code, message, data).toWire() };
}

/**
 * One JSON-RPC 2.0 peer. Register handlers with `onRequest`/`onNotification` before `start`.
 * Each incoming request runs concurrently (a slow handler never blocks the reader); answers are
 * written as they complete and coalesced by the transport. When the transport closes, pending
 * calls reject with ConnectionClosedError and running handlers see their `signal` abort.
 */
export class Connection {
  /**
   * @param {import('./transport.js').Transport} transport an unstarted transport.
   * @param {{logger?: Console}} [options]
   */
  constructor(transport, { logger = console } = {}) {
    this.transport = transport;
    this.logger = logger;
    this._nextId = 1;
    this._pending = new Map();
    this._requestHandlers = new Map();
    this._notificationHandlers = new Map();
    this._running = new Set();
    this._closed = false;
    this._closeReason = 'connection closed';
    this._closedPromise = new Promise((resolve) => {
      this._resolveClosed = resolve;
    });
    transport.onmessage = (text) => this._handleText(text);
    transport.onerror = (error) => this._handleTransportError(error);
    transport.onclose = () => this._markClosed(this._closeReason);
  }

  /** True once the transport closed or `close` was called. */
  get closed() {
    return this._closed;
  }

  /** Resolves (with the reason) once the connection is closed, by the peer or by `close`. */
  get closedPromise() {
    return this._closedPromise;
  }

  /**
   * Serves `method`: `await handler(params, {id, signal})` is the result. A thrown KeelError is
   * the error answer; anything else is -32603 with `data: {incident}` (logged in full, STYLE §4).
   */
  onRequest(method, handler) {
    this._requestHandlers.set(method, handler);
  }

  /** Handles notification `method` with `handler(params)`; errors are logged, never answered. */
  onNotification(method, handler) {
    this._notificationHandlers.set(method, handler);
  }

  /** Starts the transport. Call once. @throws what the transport's start throws. */
  async start() {
    await this.transport.start();
  }

  /**
   * Sends a request and resolves with its result.
   * @param {string} method
   * @param {object} [params] always one object (STYLE §5).
   * @param {{timeoutMs?: number, signal?: AbortSignal}} [options]
   * @throws {KeelError} the peer answered with an error.
   * @throws {ConnectionClosedError} the connection closed before the answer.
   * @throws {Error} `name === 'TimeoutError'` after `timeoutMs`, or the signal's reason.
   */
  call(method, params = {}, { timeoutMs, signal } = {}) {
    if (this._closed) return Promise.reject(new ConnectionClosedError(this._closeReason));
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      let timer;
      const onAbort = () => settle(reject, signal.reason);
      const settle = (fn, value) => {
        if (!this._pending.delete(id)) return;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        fn(value);
      };
      this._pending.set(id, {
        resolve: (value) => settle(resolve, value),
        reject: (error) => settle(reject, error),
      });
      if (timeoutMs !== undefined && timeoutMs !== null) {
        timer = setTimeout(() => {
          const error = new Error(`no answer to ${method} within ${timeoutMs} ms`);
          error.name = 'TimeoutError';
          settle(reject, error);
        }, timeoutMs);
      }
      if (signal) {
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
      }
      try {
        this.transport.send({ jsonrpc: '2.0', id, method, params });
      } catch (error) {
        settle(reject, error);
      }
    });
  }

  /** Queues a notification (no answer). Dropped silently if closed. @throws {TypeError} not JSON. */
  notify(method, params = {}) {
    if (!this._closed) this.transport.send({ jsonrpc: '2.0', method, params });
  }

  /** Flushes queued writes (bounded wait) and closes the transport. Safe to call twice. */
  async close(reason = 'connection closed locally') {
    this._closeReason = reason;
    await this.transport.close();
    this._markClosed(reason);
  }

  // Reading

  _handleTransportError(error) {
    if (error instanceof FrameTooLargeError) {
      this._write(errorAnswer(null, codes.messageTooLarge, error.message));
    } else if (error?.name === 'InvalidFrameError') {
      this._write(errorAnswer(null, codes.parseError, error.message));
    } else {
      this._closeReason = `connection lost: ${error?.message ?? error}`;
    }
  }

  _handleText(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      // "A line that is not JSON gets -32700 parseError with id: null; the connection stays open."
      this._write(errorAnswer(null, codes.parseError, `Parse error: ${error.message}`));
      return;
    }
    if (Array.isArray(message)) {
      this._handleBatch(message);
      return;
    }
    const answer = this._handleMessage(message);
    if (answer instanceof Promise) answer.then((value) => this._write(value));
    else if (answer !== undefined) this._write(answer);
  }

  _handleBatch(batch) {
    if (batch.length === 0) {
      this._write(errorAnswer(null, codes.invalidRequest, 'Invalid Request: empty batch'));
      return;
    }
    const answers = batch.map((message) => this._handleMessage(message));
    if (answers.every((answer) => answer === undefined)) return;
    Promise.all(answers).then((values) => {
      const present = values.filter((value) => value !== undefined);
      if (present.length > 0) this._write(present);
    });
  }

  /** Returns undefined (nothing to answer), an answer, or a promise of one (never rejecting). */
  _handleMessage(message) {
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      return errorAnswer(null, codes.invalidRequest, 'Invalid Request: a message must be a JSON object');
    }
    const id = Object.hasOwn(message, 'id') ? message.id : NO_ID;
    const answerId = id !== NO_ID && validId(id) ? id : null;
    if (message.jsonrpc !== '2.0') {
      return errorAnswer(answerId, codes.invalidRequest, 'Invalid Request: "jsonrpc" must be "2.0"');
    }
    if (!Object.hasOwn(message, 'method')) {
      if ((Object.hasOwn(message, 'result') || Object.hasOwn(message, 'error')) && id !== NO_ID) {
        this._handleResponse(id, message);
        return undefined;
      }
      return errorAnswer(answerId, codes.invalidRequest, 'Invalid Request: neither a request nor a response');
    }
    const method = message.method;
    if (typeof method !== 'string' || (id !== NO_ID && !validId(id))) {
      return errorAnswer(answerId, codes.invalidRequest, 'Invalid Request: bad method or id');
    }
    const params = message.params ?? {};
    if (id === NO_ID) {
      this._handleNotification(method, params);
      return undefined;
    }
    if (typeof params !== 'object' || Array.isArray(params)) {
      // Protocol: "Params are always one object".
      return errorAnswer(id, codes.invalidParams, 'Invalid params: params must be an object');
    }
    const handler = this._requestHandlers.get(method);
    if (handler === undefined) return errorAnswer(id, codes.methodNotFound, `Method not found: ${method}`);
    return this._runHandler(id, method, handler, params);
  }

  _handleResponse(id, message) {
    const pending = validId(id) && id !== null ? this._pending.get(id) : undefined;
    if (pending === undefined) return; // a response nobody waits for is dropped (case 16)
    if (Object.hasOwn(message, 'error')) pending.reject(KeelError.fromWire(message.error));
    else pending.resolve(message.result);
  }

  _handleNotification(method, params) {
    const handler = this._notificationHandlers.get(method);
    if (handler === undefined) return;
    try {
      const result = handler(params !== null && typeof params === 'object' ? params : {});
      if (result instanceof Promise) result.catch((error) => this.logger.error(`notification ${method} failed:`, error));
    } catch (error) {
      this.logger.error(`notification ${method} failed:`, error);
    }
  }

  async _runHandler(id, method, handler, params) {
    const controller = new AbortController();
    this._running.add(controller);
    try {
      const result = await handler(params, { id, signal: controller.signal });
      return { jsonrpc: '2.0', id, result: result === undefined ? null : result };
    } catch (error) {
      if (error instanceof KeelError) return { jsonrpc: '2.0', id, error: error.toWire() };
      const incident = Math.random().toString(16).slice(2, 14);
      this.logger.error(`request handler for ${method} failed (incident ${incident}):`, error);
      return errorAnswer(id, codes.internalError, 'Internal error', { incident });
    } finally {
      this._running.delete(controller);
    }
  }

  _write(answer) {
    if (this._closed) return;
    try {
      this.transport.send(answer);
    } catch (error) {
      this.logger.error('cannot encode an answer:', error);
      const replace = (a) => errorAnswer(a.id ?? null, codes.internalError, `Internal error: result not sendable: ${error.message}`);
      this.transport.send(Array.isArray(answer) ? answer.map(replace) : replace(answer));
    }
  }

  _markClosed(reason) {
    if (this._closed) return;
    this._closed = true;
    const error = new ConnectionClosedError(reason);
    for (const pending of [...this._pending.values()]) pending.reject(error);
    this._pending.clear();
    for (const controller of this._running) controller.abort(error);
    this._resolveClosed(reason);
  }
}
