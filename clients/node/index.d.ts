// Types for @keel/client (hand-written; the library is plain ESM JavaScript).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A JSON Schema (2020-12 unless `$schema` says draft-07), or `true`/`false`. */
export type Schema = boolean | { [key: string]: unknown };

/** JSON-RPC and Keel error codes (docs/errors.md). */
export declare const codes: Readonly<{
  parseError: -32700;
  invalidRequest: -32600;
  methodNotFound: -32601;
  invalidParams: -32602;
  internalError: -32603;
  notInitialized: -32000;
  unsupportedProtocolVersion: -32001;
  messageTooLarge: -32002;
  shuttingDown: -32003;
  unauthorized: -32004;
  nonDeterminism: 1003;
  invalidQuery: 1013;
  scheduleNotFound: 1020;
  scheduleAlreadyExists: 1021;
  queryNotFound: 1030;
  updateUnanswered: 1031;
  contractConflict: 2005;
  attemptSuperseded: 2006;
  inputContractViolation: 3001;
  idempotencyConflict: 4002;
}>;

/** A JSON-RPC error object received from (or sent to) the peer. */
export declare class KeelError extends Error {
  constructor(code: number, message: string, data?: unknown);
  readonly code: number;
  /** The wire `error.message` (`message` adds the code). */
  readonly rpcMessage: string;
  readonly data: unknown;
  toWire(): { code: number; message: string; data?: unknown };
  static fromWire(error: unknown): KeelError;
}

/** The connection to Keel closed. Local only. */
export declare class ConnectionClosedError extends Error {}
/** A call in flight when the connection dropped that was not safe to repeat: outcome unknown. */
export declare class ConnectionLostError extends ConnectionClosedError {
  readonly code: 'ECONNLOST';
  readonly method: string;
}
/** Full-jitter exponential backoff (docs/clients.md "Reconnecting"). */
export declare class Backoff {
  constructor(initialMs?: number, maxMs?: number);
  reset(): void;
  next(): number;
}
export declare const RECONNECT_INITIAL_MS: number;
export declare const RECONNECT_MAX_MS: number;
export declare function safeToRepeat(method: string, params?: object): boolean;

/** The wire failure shape: `{type, message, retryable, retryAfterMs?, details}`. */
export interface Failure {
  type: string;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
  details: Json;
}

/** A failure with a chosen type, retryability and details; failed workflow steps raise it. */
export declare class ActivityError extends Error {
  constructor(message: string, options?: { type?: string; retryable?: boolean; retryAfterMs?: number; details?: Json });
  readonly type: string;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly details: Json;
  toFailure(): Failure;
  static fromFailure(failure: unknown): ActivityError;
}

/** Raised into a workflow at its current step after a cancel request; catch it to compensate. */
export declare class CancelledError extends ActivityError {
  constructor(message?: string, options?: { details?: Json });
  readonly type: 'Cancelled';
}

// Framing

export declare const DEFAULT_MAX_FRAME_BYTES: number;
export declare class FrameTooLargeError extends Error {
  readonly limit: number;
  readonly size?: number;
}
export declare class InvalidFrameError extends Error {}
/** Splits bytes into frames; pure. Bad lines come back as errors in their place. */
export declare class LineDecoder {
  constructor(maxFrameBytes?: number);
  readonly maxFrameBytes: number;
  feed(chunk: Uint8Array): Array<string | FrameTooLargeError | InvalidFrameError>;
  finish(): Array<string | FrameTooLargeError | InvalidFrameError>;
}
/** One compact JSON line with its "\n". @throws TypeError, FrameTooLargeError */
export declare function encodeFrame(message: unknown, maxFrameBytes?: number): Buffer;

// Transport and connection

/** A line-framed byte stream: `onmessage` receives each frame's text. */
export declare abstract class Transport {
  onmessage?: (text: string) => void;
  onerror?: (error: Error) => void;
  onclose?: () => void;
  /** Largest frame sent (the peer's maxMessageBytes after initialize). */
  maxSendBytes?: number;
  readonly closed: boolean;
  start(): Promise<void>;
  /** Queues one message; writes of one event-loop turn are coalesced. */
  send(message: unknown): void;
  flush(): void;
  close(): Promise<void>;
}
/** TLS to a `keel serve --tls-cert …` TCP listener (docs/security.md "TLS"). Files are PEM. */
export interface TLSOptions {
  /** CA certificates to trust for the server; absent: the system trust store. */
  caFile?: string;
  /** A client certificate and its key, for `keel serve --tls-client-ca`. */
  certFile?: string;
  keyFile?: string;
  /** The name the server's certificate must carry (default: the host connected to). */
  serverName?: string;
}
export declare class SocketTransport extends Transport {
  constructor(options: { path?: string; host?: string; port?: number; maxFrameBytes?: number; tls?: TLSOptions });
}
export declare class StdioTransport extends Transport {
  constructor(options?: { stdin?: NodeJS.ReadableStream; stdout?: NodeJS.WritableStream; maxFrameBytes?: number });
}
export interface Endpoint {
  kind: 'stdio' | 'unix' | 'tcp';
  path?: string;
  host?: string;
  port?: number;
  token?: string;
  tls?: TLSOptions;
}
export declare function resolveEndpoint(
  options?: { socket?: string | string[]; tcp?: string | string[]; token?: string; tls?: boolean | TLSOptions; allowStdio?: boolean },
  env?: Record<string, string | undefined>,
): Endpoint;
/** Every endpoint, in the order to try (KEEL_SOCKET/KEEL_TCP are comma-separated lists). */
export declare function resolveEndpoints(
  options?: { socket?: string | string[]; tcp?: string | string[]; token?: string; tls?: boolean | TLSOptions; allowStdio?: boolean },
  env?: Record<string, string | undefined>,
): Endpoint[];

export interface Logger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** One JSON-RPC 2.0 peer over a Transport. */
export declare class Connection {
  constructor(transport: Transport, options?: { logger?: Logger });
  readonly transport: Transport;
  readonly closed: boolean;
  readonly closedPromise: Promise<string>;
  onRequest(method: string, handler: (params: any, info: { id: string | number; signal: AbortSignal }) => unknown): void;
  onNotification(method: string, handler: (params: any) => unknown): void;
  start(): Promise<void>;
  call<T = any>(method: string, params?: object, options?: { timeoutMs?: number | null; signal?: AbortSignal }): Promise<T>;
  notify(method: string, params?: object): void;
  close(reason?: string): Promise<void>;
}

// Activities

export interface RetryPolicy {
  initialIntervalMs?: number;
  backoffCoefficient?: number;
  maximumIntervalMs?: number;
  /** 0 = unlimited. */
  maximumAttempts?: number;
  nonRetryableErrorTypes?: string[];
}
export interface Timeouts {
  startToCloseMs?: number | null;
  scheduleToStartMs?: number | null;
  scheduleToCloseMs?: number | null;
  /** Longest silence between heartbeats of a running attempt (`activity/execute` passes it on as `heartbeatTimeoutMs`). */
  heartbeatTimeoutMs?: number | null;
  /** @deprecated The old wire name of `heartbeatTimeoutMs`; Keel still accepts it. */
  heartbeatMs?: number | null;
}
/** Where a task goes among the ready tasks of its activity (docs/protocol.md, "Priorities and
 * fairness"). Each key is sent only when set; Keel answers -32602 for a value out of range. */
export interface Scheduling {
  /** -1000..1000, default 0: higher runs first. */
  priority?: number;
  /** 1-256 chars: within one priority, ready tasks are handed out round-robin over keys. */
  fairnessKey?: string;
}
/** Per-step options of `WorkflowContext.activity`. */
export interface StepOptions extends Scheduling {
  retryPolicy?: RetryPolicy;
  timeouts?: Timeouts;
}
export interface ActivityOptions {
  input?: Schema;
  output?: Schema;
  description?: string;
  retryPolicy?: RetryPolicy;
  timeouts?: Timeouts;
}

/** What an activity knows about its attempt. */
export declare class ActivityContext {
  readonly taskId: string;
  readonly name: string;
  readonly attempt: number;
  readonly idempotencyKey: string | null;
  readonly deadlineMs: number | null;
  readonly heartbeatTimeoutMs: number | null;
  /** The last details the previous attempt sent. */
  readonly heartbeatDetails: Json;
  readonly workflowId: string | null;
  readonly input: Json;
  /** Aborts when Keel cancels the attempt; pass it to anything that takes a signal. */
  readonly signal: AbortSignal;
  readonly cancelled: boolean;
  /** Sends a heartbeat; resolves with the cancelled flag. */
  heartbeat(details?: Json): Promise<boolean>;
  /** Publishes to the workflow execution's stream (`activity/publish`); waits for Keel's answer.
   * @throws KeelError (2006 attemptSuperseded, -32602 for an activity run with activity/call). */
  publish(event: Json, name?: string): Promise<void>;
}
/** The context of the activity running in this async scope. @throws outside an activity. */
export declare function activityContext(): ActivityContext;
export declare function loadContractFiles(directory: string): Map<string, object>;

export type ActivityHandler<I = any, O = any> = (input: I, ctx: ActivityContext) => O | Promise<O>;

// Workflows

/** Indexed values `listWorkflows({query})` filters on (docs/protocol.md, "Search attributes and
 * memo"): at most 32 keys matching `^[A-Za-z_][A-Za-z0-9_]{0,63}$`, none a built-in field name;
 * strings of at most 1,024 bytes (RFC 3339 ones are indexed as times too), finite numbers, booleans. */
export type SearchAttributes = { [key: string]: string | number | boolean };
/** An upsert of search attributes: `null` removes the key. */
export type SearchAttributeUpdate = { [key: string]: string | number | boolean | null };

/** An update received by `waitForUpdate`: answer it with `respond` or `reject` (by it or its `id`). */
export interface Update<T = any> {
  /** The update id (the client's `updateId`): the name of the `respond` step that answers it. */
  id: string;
  name: string;
  input: T;
}

/** A workflow function's handle on Keel: every method is a durable step. */
export declare class WorkflowContext {
  readonly workflowId: string;
  readonly runId: number;
  readonly name: string;
  readonly cancelRequested: boolean;
  /** Runs activity `name`; a step without `priority`/`fairnessKey` inherits the execution's. */
  activity<T = any>(name: string, input?: unknown, options?: StepOptions): Promise<T>;
  sleep(ms: number, options?: { label?: string }): Promise<null>;
  /** Waits for a signal's payload; a timeout raises ActivityError with type "TimedOut". */
  signal<T = any>(name: string, timeout?: number | { timeoutMs?: number }): Promise<T>;
  /** Waits for update `name` (a `signal` step named `"update:" + name`); a timeout raises ActivityError
   * with type "TimedOut". @throws TypeError for an empty or non-string name. */
  waitForUpdate<T = any>(name: string, timeout?: number | { timeoutMs?: number }): Promise<Update<T>>;
  /** Answers `update` with `result` (a durable `respond` step named by the update id); the client's
   * `updateWorkflow` resolves `completed` with it. */
  respond(update: Update | string, result?: Json): Promise<null>;
  /** Rejects `update` (a `respond` step with `{failure: {type, message, details?}}`, `type` "Rejected"
   * unless given); the client's `updateWorkflow` resolves `rejected`. */
  reject(update: Update | string, message: string, options?: { type?: string; details?: Json }): Promise<null>;
  /** Runs child workflow `name` and resolves with its output. `options` is the child's workflow id, or
   * `{workflowId, searchAttributes, memo}`: the child's own attributes (indexed for `listWorkflows({query})`)
   * and memo (shown by describe), checked as `startWorkflow` checks them; each is sent only when given. */
  child<T = any>(name: string, input?: unknown, options?: string | ChildOptions): Promise<T>;
  now(): Promise<number>;
  random(): Promise<number>;
  uuid(): Promise<string>;
  /** Publishes `event` to this execution's stream under `name` (default "event"): a durable step. */
  publish(event: Json, name?: string): Promise<null>;
  /** Sets query value `name` to `value` (a durable `query` step, never re-sent on replay); clients
   * read the latest with `Client.queryWorkflow`. @throws TypeError for an empty or non-string name. */
  setQueryValue(name: string, value: Json): Promise<null>;
  /** Merges `attributes` into this execution's search attributes (a durable `upsert` step); a
   * `null` value removes its key. Resolves with the attributes after the merge. */
  upsertSearchAttributes(attributes: SearchAttributeUpdate): Promise<SearchAttributes>;
  /** Merges `memo` into this execution's memo (a durable `upsert` step); a `null` value removes its key. */
  upsertMemo(memo: { [key: string]: Json }): Promise<{ [key: string]: Json }>;
  /** Whether this execution runs patch `id`'s code: true live (a `patch` marker is recorded) or when
   * recorded with the marker; false for an execution recorded before the patch. Memoized per run. */
  patched(id: string): Promise<boolean>;
  /** Like patched(id) with the answer discarded: the new path always runs (docs/versioning.md). */
  deprecatePatch(id: string): Promise<void>;
  /** Ends this run and starts over with `input`; never resolves. */
  continueAsNew(input: unknown): Promise<never>;
}

export type WorkflowFunction<I = any, O = any> = (input: I, ctx: WorkflowContext) => Promise<O>;

export type WorkflowAnswer =
  | { status: 'completed'; output: Json }
  | { status: 'failed'; failure: Failure }
  | { status: 'suspended' }
  | { status: 'continueAsNew'; input: Json };

/** One `workflow/run`: replays the journal and sends new steps through `sendStep`. */
export declare class WorkflowRun {
  constructor(params: object, sendStep: (params: object) => Promise<any>);
  readonly ended: boolean;
  execute(fn: WorkflowFunction): Promise<WorkflowAnswer>;
}

// Worker

export interface WorkerOptions {
  name?: string;
  /** activity/execute requests run at once (1-10000, default 16). */
  maxConcurrent?: number;
  /** workflow/run requests run at once (default 1000). */
  maxConcurrentWorkflows?: number;
  /** A Unix socket path, or several tried in order (docs/clients.md "Several endpoints"). */
  socket?: string | string[];
  /** HOST:PORT, or several tried in order. */
  tcp?: string | string[];
  token?: string;
  /** TLS over `tcp`: true (system trust store) or the CA file and client certificate. */
  tls?: boolean | TLSOptions;
  maxFrameBytes?: number;
  /** Reconnect socket/TCP connections with exponential backoff (default true). */
  reconnect?: boolean;
  /** Backoff's first bound and cap in ms (defaults 100 and 2000; full jitter). */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** How long a graceful stop waits for running work (default 30000). */
  drainTimeoutMs?: number;
  /** Install SIGTERM/SIGINT handlers that drain (default true). */
  handleSignals?: boolean;
  logger?: Logger;
  /** This worker's build (default: KEEL_BUILD_ID; empty = none). Executions stay on the build that first ran them. */
  buildId?: string;
  /** Other builds whose executions this worker may run (sent only with a build id). */
  compatibleBuildIds?: string[];
}

export declare class Worker {
  constructor(options?: WorkerOptions);
  readonly name: string;
  readonly maxConcurrent: number;
  readonly workerId: string | null;
  readonly buildId: string | null;
  readonly compatibleBuildIds: string[];
  loadContracts(directory: string): this;
  activity<I = any, O = any>(name: string, handler: ActivityHandler<I, O>, options?: ActivityOptions): this;
  activity<I = any, O = any>(name: string, options: ActivityOptions, handler: ActivityHandler<I, O>): this;
  workflow<I = any, O = any>(name: string, fn: WorkflowFunction<I, O>, options?: { input?: Schema; output?: Schema; description?: string }): this;
  workflow<I = any, O = any>(name: string, options: { input?: Schema; output?: Schema; description?: string }, fn: WorkflowFunction<I, O>): this;
  registration(): object;
  run(): Promise<void>;
  stop(): void;
}

// Client

export interface ActivityResult {
  taskId: string;
  status: 'scheduled' | 'running' | 'completed' | 'failed' | 'timedOut' | 'cancelled';
  attempts: number;
  output?: Json;
  failure?: Failure;
}
export type WorkflowStatus = 'pending' | 'running' | 'suspended' | 'completed' | 'failed' | 'cancelled' | 'parked';
export interface WorkflowResult {
  workflowId: string;
  status: WorkflowStatus;
  output?: Json;
  failure?: Failure;
}

/** One event of an execution's stream (`workflow/follow`). */
export interface StreamEvent {
  offset: number;
  name: string;
  event: Json;
  atMs: number;
  source: 'workflow' | 'activity';
  /** The publish step's seq (source "workflow"). */
  seq?: number;
  /** The publishing attempt (source "activity"). */
  taskId?: string;
  attempt?: number;
}

/** When a schedule starts its action (`schedule/create` `spec`): exactly one of `cron` and `intervalMs`. */
export type ScheduleSpec =
  | { cron: string; /** IANA name, default "UTC". */ timeZone?: string; jitterMs?: number }
  | { /** A whole number of seconds, >= 1000. */ intervalMs: number; /** Phase, default 0. */ offsetMs?: number; jitterMs?: number };
/** The workflow a schedule starts at each slot. */
export interface ScheduleAction extends Scheduling {
  workflow: string;
  input?: Json;
  executionTimeoutMs?: number;
  runTimeoutMs?: number;
}
export type ScheduleOverlap = 'skip' | 'bufferOne' | 'allowAll' | 'cancelOther';
/** `schedule/describe` (and create, pause, unpause). */
export interface ScheduleDescription {
  scheduleId: string;
  spec: ScheduleSpec;
  action: ScheduleAction;
  overlap: ScheduleOverlap;
  catchupWindowMs: number;
  paused: boolean;
  note?: string;
  createdAtMs: number;
  updatedAtMs: number;
  /** Up to 5 epoch ms. */
  nextActionTimesMs: number[];
  /** Up to 10, newest last; `workflowId` is `<scheduleId>-<slot time, UTC ISO 8601>`. */
  recentActions: Array<{ slotMs: number; workflowId: string; startedAtMs: number }>;
  runningWorkflowId?: string;
  bufferedSlotMs?: number;
  started: number;
  skipped: number;
}
export interface ScheduleSummary {
  scheduleId: string;
  workflow: string;
  spec: ScheduleSpec;
  paused: boolean;
  nextActionTimeMs?: number;
}

/** Options of `WorkflowContext.child`: the child's id (default `PARENT/SEQ`), search attributes and memo,
 * named as in `StartOptions`. */
export interface ChildOptions {
  workflowId?: string;
  searchAttributes?: SearchAttributes;
  memo?: { [key: string]: Json };
}
/** Options of `startWorkflow` (and `signalWithStart`). */
export interface StartOptions extends Scheduling {
  workflowId?: string;
  conflictPolicy?: 'useExisting' | 'fail';
  searchAttributes?: SearchAttributes;
  memo?: { [key: string]: Json };
}
export interface StartResult {
  workflowId: string;
  status: WorkflowStatus;
  started: boolean;
}
/** `updateWorkflow`: the workflow's answer, or `pending` when the wait ended first. */
export interface UpdateResult<T = any> {
  workflowId: string;
  updateId: string;
  name: string;
  status: 'completed' | 'rejected' | 'pending';
  /** With `completed`: what the workflow passed to `respond`. */
  result?: T;
  /** With `rejected`: what the workflow passed to `reject`. */
  failure?: { type: string; message: string; details?: Json };
}
/** `signalWithStart`: the start result plus how the signal went. */
export interface SignalWithStartResult extends StartResult {
  signal: { delivered: boolean; duplicate: boolean };
}

export declare class Client {
  constructor(connection: Connection);
  readonly connection: Connection;
  /** Later calls reconnect after a drop: backoff bounds in ms, and how long one call keeps trying
   * (reconnectTimeoutMs, default 30000). */
  static connect(options?: { socket?: string | string[]; tcp?: string | string[]; token?: string; tls?: boolean | TLSOptions; maxFrameBytes?: number; logger?: Logger; reconnectInitialMs?: number; reconnectMaxMs?: number; reconnectTimeoutMs?: number }): Promise<Client>;
  close(): Promise<void>;
  /** `priority`/`fairnessKey` are kept by the execution; its activity steps inherit them.
   * `searchAttributes` are indexed for `listWorkflows({query})`; `memo` (at most 32 KiB) is shown by describe. */
  startWorkflow(
    name: string,
    input?: unknown,
    options?: StartOptions,
  ): Promise<StartResult>;
  /** Starts workflow `name` and buffers signal `signalName` in one transaction, or delivers the signal to the
   * open execution with `workflowId` (`started: false`). `requestId` (default: a fresh random UUID) deduplicates
   * the signal. @throws KeelError 1001 when the id's execution has ended. */
  signalWithStart(name: string, input: unknown, signalName: string, payload?: unknown, options?: StartOptions & { requestId?: string }): Promise<SignalWithStartResult>;
  workflowResult(workflowId: string, options?: { waitTimeoutMs?: number }): Promise<WorkflowResult>;
  /** The latest value the workflow set with `setQueryValue(name, …)` (`workflow/query`, a read).
   * @throws KeelError 1030 queryNotFound (`data: {workflowId, name, known}`), 1001 for an unknown workflow. */
  queryWorkflow<T = any>(workflowId: string, name: string): Promise<T>;
  /** Sends update `name` (`workflow/update`) and waits up to `waitTimeoutMs` (default 60000) for the workflow's
   * answer. Sends `updateId` (default: a fresh random UUID); a repeat of an id delivers nothing and gets the same
   * outcome, so it is re-sent after a reconnect. @throws KeelError 1031 updateUnanswered (`data: {workflowId,
   * updateId, status}`) when the workflow ended without answering, 1001 for an unknown or ended workflow, 3001. */
  updateWorkflow<T = any>(workflowId: string, name: string, input?: unknown, options?: { updateId?: string; waitTimeoutMs?: number }): Promise<UpdateResult<T>>;
  /** Sends `requestId` (default: a fresh random UUID); a repeat of an id is answered `duplicate: true` and not delivered. */
  signalWorkflow(workflowId: string, name: string, payload?: unknown, options?: { requestId?: string }): Promise<{ delivered: boolean; consumed?: boolean; duplicate?: boolean }>;
  cancelWorkflow(workflowId: string, reason?: string): Promise<{ status: WorkflowStatus }>;
  describeWorkflow(workflowId: string): Promise<any>;
  /** `query` searches built-in fields and search attributes, e.g. `customer = "acme" AND amount >= 100`;
   * @throws KeelError 1013 invalidQuery (`data: {query, position, term}`). */
  listWorkflows(filters?: { status?: WorkflowStatus; name?: string; createdAfterMs?: number; createdBeforeMs?: number; query?: string; limit?: number; cursor?: string }): Promise<any>;
  workflowHistory(workflowId: string): Promise<any>;
  resumeWorkflow(workflowId: string): Promise<any>;
  /** Yields each stream event after `afterOffset` once, in order (workflow/follow long polls);
   * ends when the execution has ended and its last events are yielded. */
  follow(workflowId: string, afterOffset?: number, options?: { limit?: number; waitTimeoutMs?: number; signal?: AbortSignal }): AsyncGenerator<StreamEvent, void, undefined>;
  /** `wait: false` answers at once ("scheduled"); `priority`/`fairnessKey` order the task (see Scheduling). */
  callActivity(name: string, input?: unknown, options?: { idempotencyKey?: string; wait?: boolean; waitTimeoutMs?: number; retryPolicy?: RetryPolicy; timeouts?: Timeouts } & Scheduling): Promise<ActivityResult>;
  activityResult(target: string | { taskId?: string; idempotencyKey?: string }, options?: { waitTimeoutMs?: number }): Promise<ActivityResult>;
  cancelActivity(taskId: string): Promise<{ status: string }>;
  workers(): Promise<any[]>;
  ping(): Promise<void>;
  /** `schedule/create`; optional fields are sent only when set. @throws KeelError 1021 scheduleAlreadyExists, -32602. */
  createSchedule(scheduleId: string, options: { spec: ScheduleSpec; action: ScheduleAction; overlap?: ScheduleOverlap; catchupWindowMs?: number; paused?: boolean; note?: string }): Promise<ScheduleDescription>;
  /** @throws KeelError 1020 scheduleNotFound (also for pause, unpause, trigger, delete). */
  describeSchedule(scheduleId: string): Promise<ScheduleDescription>;
  listSchedules(options?: { limit?: number; cursor?: string }): Promise<{ schedules: ScheduleSummary[]; nextCursor?: string }>;
  pauseSchedule(scheduleId: string, options?: { note?: string }): Promise<ScheduleDescription>;
  /** Slots missed while paused are not caught up. */
  unpauseSchedule(scheduleId: string, options?: { note?: string }): Promise<ScheduleDescription>;
  /** Starts the action now (even when paused), under the schedule's overlap policy unless `overlap` is given. */
  triggerSchedule(scheduleId: string, options?: { overlap?: ScheduleOverlap }): Promise<{ scheduleId: string; workflowId: string; started: boolean }>;
  /** Workflows already started keep running. */
  deleteSchedule(scheduleId: string): Promise<{ scheduleId: string; deleted: true }>;
}

export declare const VERSION: string;
export declare const PROTOCOL_VERSION: string;
