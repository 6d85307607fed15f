// Errors: JSON-RPC error objects (KeelError), local transport failures, activity and workflow
// failures. STYLE §4: "A step that failed in user code is data, not a JSON-RPC error."

/** JSON-RPC 2.0 spec codes and Keel's protocol/domain codes (docs/protocol.md, docs/errors.md). */
export const codes = Object.freeze({
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  notInitialized: -32000,
  unsupportedProtocolVersion: -32001,
  messageTooLarge: -32002,
  // Not yet in docs/protocol.md: STYLE §4 lists "shutting down" in the -32000 range and -32003 is
  // the only unused code between the documented ones (the Python client uses it too).
  shuttingDown: -32003,
  unauthorized: -32004,
  nonDeterminism: 1003,
  invalidQuery: 1013,
  scheduleNotFound: 1020,
  scheduleAlreadyExists: 1021,
  queryNotFound: 1030,
  updateUnanswered: 1031,
  contractConflict: 2005,
  attemptSuperseded: 2006,
  inputContractViolation: 3001,
  idempotencyConflict: 4002,
});

/** A JSON-RPC error object received from (or sent to) the peer. */
export class KeelError extends Error {
  constructor(code, message, data = undefined) {
    super(`${message} (code ${code})`);
    this.name = 'KeelError';
    this.code = code;
    this.rpcMessage = message;
    this.data = data;
  }

  /** The wire error object `{code, message, data?}`. */
  toWire() {
    const error = { code: this.code, message: this.rpcMessage };
    if (this.data !== undefined && this.data !== null) error.data = this.data;
    return error;
  }

  /** Builds a KeelError from a wire error object, tolerating malformed ones. */
  static fromWire(error) {
    if (error === null || typeof error !== 'object' || Array.isArray(error)) {
      return new KeelError(codes.internalError, `malformed error object: ${JSON.stringify(error)}`);
    }
    const code = Number.isInteger(error.code) ? error.code : codes.internalError;
    return new KeelError(code, String(error.message ?? ''), error.data ?? undefined);
  }
}

/** The connection to Keel closed. Local only, never sent on the wire. */
export class ConnectionClosedError extends Error {
  constructor(message = 'connection is closed') {
    super(message);
    this.name = 'ConnectionClosedError';
  }
}

/**
 * The connection to Keel dropped while this call was in flight and the call is not safe to repeat
 * (no idempotency key, not a read): it may or may not have taken effect. Local only. Repeat it
 * with an idempotency key, or check Keel's state first (docs/clients.md "Reconnecting").
 */
export class ConnectionLostError extends ConnectionClosedError {
  constructor(method, reason) {
    super(`connection to Keel lost during ${method}; outcome unknown (${reason})`);
    this.name = 'ConnectionLostError';
    this.code = 'ECONNLOST';
    this.method = method;
  }
}

/**
 * A failure with a chosen type, retryability and details. Throw it from an activity (its
 * execute is answered `{"failure": …}`) or from a workflow (its run is answered `failed`).
 * Steps that failed are raised into workflows as this class (or `CancelledError`).
 */
export class ActivityError extends Error {
  /**
   * @param {string} message
   * @param {{type?: string, retryable?: boolean, retryAfterMs?: number, details?: unknown}} [options]
   */
  constructor(message, options = {}) {
    super(message);
    this.name = 'ActivityError';
    this.type = options.type ?? this.constructor.name;
    this.retryable = options.retryable ?? true;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details ?? null;
  }

  /** The wire failure `{type, message, retryable, retryAfterMs?, details}`. */
  toFailure() {
    const failure = { type: this.type, message: this.message, retryable: this.retryable };
    if (this.retryAfterMs !== undefined && this.retryAfterMs !== null) {
      failure.retryAfterMs = Math.round(this.retryAfterMs);
    }
    failure.details = this.details;
    return failure;
  }

  /** An ActivityError (or CancelledError for type "Cancelled") from a wire failure. */
  static fromFailure(failure) {
    const f = failure && typeof failure === 'object' ? failure : {};
    const options = {
      type: typeof f.type === 'string' ? f.type : 'Failure',
      retryable: f.retryable !== false,
      retryAfterMs: f.retryAfterMs ?? undefined,
      details: f.details ?? null,
    };
    const message = typeof f.message === 'string' ? f.message : '';
    if (options.type === 'Cancelled') return new CancelledError(message || 'cancelled', options);
    return new ActivityError(message, options);
  }
}

/**
 * Raised into a workflow at the step where it waits after a cancel request ("the workflow sees
 * Cancelled at its current step and may run compensations"). Re-throw it to end as cancelled.
 */
export class CancelledError extends ActivityError {
  constructor(message = 'cancelled', options = {}) {
    super(message, { ...options, type: 'Cancelled', retryable: false });
    this.name = 'CancelledError';
  }
}

/** The wire failure for anything thrown by user code: ActivityError keeps its fields; anything
 * else is retryable with type = its class name (STYLE §4). */
export function failureOf(error) {
  if (error instanceof ActivityError) return error.toFailure();
  if (error instanceof Error) {
    const type = error.constructor?.name && error.constructor.name !== 'Object' ? error.constructor.name : error.name;
    return { type: type || 'Error', message: error.message, retryable: true, details: null };
  }
  return { type: 'Error', message: String(error), retryable: true, details: null };
}
