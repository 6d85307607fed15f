// Reconnect rules shared by Client and Worker (docs/clients.md "Reconnecting").

/** First wait bound (ms): a restarted `keel serve` binds its socket in well under a second. */
export const RECONNECT_INITIAL_MS = 100;
/** Cap on one wait (ms): a worker is back at most ~2 s after Keel is (a 10 s cap kept it away 5-10 s). */
export const RECONNECT_MAX_MS = 2_000;

/** Full-jitter exponential backoff: wait `uniform(0, min(max, initial × 2^n))`, n = failures
 * since the last `reset()` (call it after a successful initialize). */
export class Backoff {
  constructor(initialMs = RECONNECT_INITIAL_MS, maxMs = RECONNECT_MAX_MS) {
    if (!(initialMs > 0) || !(maxMs >= initialMs)) throw new RangeError('reconnect backoff needs 0 < initial <= max');
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this._failures = 0;
  }

  /** Starts over from `initialMs`: the last attempt succeeded. */
  reset() {
    this._failures = 0;
  }

  /** The next wait in ms; counts one more failed attempt. */
  next() {
    const bound = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this._failures, 30));
    this._failures += 1;
    return Math.random() * bound;
  }
}

/**
 * Several endpoints tried in order (docs/clients.md "Several endpoints"). `current` is where to
 * connect next; after a failed attempt or a dropped connection, `failed()` moves to the next one
 * (wrapping around) and returns true only when every endpoint has failed once since the last
 * success or pause: only then does the caller wait its backoff. One endpoint: every failure waits.
 */
export class EndpointRing {
  constructor(endpoints) {
    if (endpoints.length === 0) throw new RangeError('at least one endpoint is needed');
    this.endpoints = [...endpoints];
    this._index = 0;
    this._failures = 0;
  }

  get current() {
    return this.endpoints[this._index];
  }

  /** The current endpoint initialized: a later failure starts a new round from it. */
  succeeded() {
    this._failures = 0;
  }

  /** Moves to the next endpoint; true when a whole round failed (then wait the backoff). */
  failed() {
    this._index = (this._index + 1) % this.endpoints.length;
    this._failures += 1;
    if (this._failures < this.endpoints.length) return false;
    this._failures = 0;
    return true;
  }
}

// Reads: repeating them changes nothing in Keel.
const READS = new Set(['ping', 'activity/result', 'workflow/result', 'workflow/describe', 'workflow/history', 'workflow/list', 'workflow/follow', 'workflow/query', 'worker/list', 'schedule/describe', 'schedule/list']);

/** True when a call whose connection dropped before its answer may be sent again: a read, an
 * activity/call with an idempotency key, a workflow/start with a workflow id and no "fail" policy
 * (and, for a signal-with-start, a `signal.requestId`), a workflow/signal with a request id (Keel
 * delivers it once and answers a repeat `duplicate`), a workflow/update with an update id (Keel
 * delivers it once and answers a repeat with the same outcome). */
export function safeToRepeat(method, params = {}) {
  if (READS.has(method)) return true;
  if (method === 'activity/call') return params.idempotencyKey != null;
  if (method === 'workflow/signal') return params.requestId != null;
  if (method === 'workflow/update') return params.updateId != null;
  if (method === 'workflow/start') {
    if (params.signal != null && params.signal.requestId == null) return false;
    return params.workflowId != null && params.conflictPolicy !== 'fail';
  }
  return false;
}
