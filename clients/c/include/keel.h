/*
 * keel.h - the C client for Keel: serve activities to the orchestrator, and call it as a client.
 *
 * The only public header. Values are jansson `json_t` (https://jansson.readthedocs.io/).
 * Conventions (STYLE §11): every name starts with `keel_`; handles are opaque; the caller owns
 * the `keel_error_t` and passes it last; functions return 0 on success and -1 on error, or a
 * pointer that is NULL on error; `err` may be NULL.
 *
 * Reference ownership follows jansson: "borrowed" arguments stay the caller's; "stolen" ones
 * pass to the library (even on error); a returned `json_t *` is a new reference the caller must
 * `json_decref`.
 *
 * Thread safety:
 * - keel_worker_*: register activities and load contracts before keel_worker_run, from one thread.
 *   keel_worker_stop may be called from any thread and from a signal handler.
 * - keel_activity_* on a context: from the thread running that activity, while its handler runs;
 *   keel_activity_cancelled may be called from any thread until the handler returns.
 * - keel_client_t: every call may be made from several threads at once; calls are matched to
 *   their answers by id. keel_client_close must not race with calls on the same client.
 * - jansson values are not thread-safe: do not share one `json_t` between threads without a lock.
 *
 * Workflows are not supported in C (no closures or coroutines to suspend and replay a workflow
 * function); the client-side workflow operations are.
 */
#ifndef KEEL_H
#define KEEL_H

#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_VERSION "0.1.0"
/** The protocol version this library speaks (docs/protocol.md, "Keel wire protocol (version 1)"). */
#define KEEL_PROTOCOL_VERSION "1"
/** Default maximum frame size: 16 MiB (docs/protocol.md, Framing). */
#define KEEL_DEFAULT_MAX_FRAME_BYTES (16u * 1024u * 1024u)

/* Wire codes (docs/errors.md). */
#define KEEL_PARSE_ERROR (-32700)
#define KEEL_INVALID_REQUEST (-32600)
#define KEEL_METHOD_NOT_FOUND (-32601)
#define KEEL_INVALID_PARAMS (-32602)
#define KEEL_INTERNAL_ERROR (-32603)
#define KEEL_NOT_INITIALIZED (-32000)
#define KEEL_UNSUPPORTED_PROTOCOL_VERSION (-32001)
#define KEEL_MESSAGE_TOO_LARGE (-32002)
/** Refusal of new work while draining. Not yet in docs/protocol.md (the Python client uses it too). */
#define KEEL_SHUTTING_DOWN (-32003)
#define KEEL_UNAUTHORIZED (-32004)
/** Any schedule call: no schedule has that scheduleId. */
#define KEEL_SCHEDULE_NOT_FOUND 1020
/** schedule/create: the scheduleId is in use. */
#define KEEL_SCHEDULE_ALREADY_EXISTS 1021
#define KEEL_CONTRACT_CONFLICT 2005
#define KEEL_ATTEMPT_SUPERSEDED 2006
#define KEEL_INPUT_CONTRACT_VIOLATION 3001
#define KEEL_IDEMPOTENCY_CONFLICT 4002

/* Local codes, 1..99: failures on this side. Never sent on the wire and never wire codes. */
#define KEEL_E_OS 1       /**< a system call failed; the message has strerror */
#define KEEL_E_CLOSED 2   /**< the connection closed before the answer */
#define KEEL_E_TIMEOUT 3  /**< no answer within the local bound */
#define KEEL_E_ARGUMENT 4 /**< a bad argument or option */
#define KEEL_E_PROTOCOL 5 /**< the peer answered something this client cannot use */
#define KEEL_E_CONFIG 6   /**< no transport configured, or a bad contract file */
/** The connection dropped while the call was in flight and the call is not safe to repeat (not a
 * read, no idempotency key): it may or may not have taken effect. Repeat it with an idempotency
 * key, or check Keel's state first (docs/clients.md "Reconnecting"). */
#define KEEL_E_OUTCOME_UNKNOWN 7

/**
 * An error, owned by the caller (usually on the stack) and filled by the function that failed.
 * `code` is a wire code (negative, or 1000..4999, see docs/errors.md) or a local KEEL_E_* code.
 */
typedef struct keel_error {
    int code;
    char message[512];
    /** The wire `error.data` as compact JSON text (truncated to fit), or "" when absent. */
    char data[512];
} keel_error_t;

/* ------------------------------------------------------------------------------------------ */
/* Worker                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct keel_worker keel_worker_t;
typedef struct keel_activity_ctx keel_activity_ctx_t;

/**
 * An activity handler. Runs on a worker pool thread.
 * - Parameters: ctx (valid until the handler returns), input (borrowed), userdata (as registered).
 * - Returns: the output, a new reference the library takes; or NULL after keel_activity_fail or
 *   keel_activity_raise. NULL without either is reported as a retryable failure of type
 *   "NullOutput", or "Cancelled" when the attempt was cancelled.
 */
typedef json_t *(*keel_activity_fn)(keel_activity_ctx_t *ctx, json_t *input, void *userdata);

/**
 * TLS over TCP, for `keel serve --tls-cert ...` (docs/clients.md "TLS"). Files are PEM. Also read
 * from KEEL_TLS=1, KEEL_TLS_CA, KEEL_TLS_CERT, KEEL_TLS_KEY, KEEL_TLS_SERVER_NAME when unset.
 */
typedef struct keel_tls_options {
    int enabled;             /**< nonzero: speak TLS over tcp (implied by ca_file) */
    const char *ca_file;     /**< CA certificates to trust; NULL: the system trust store */
    const char *cert_file;   /**< client certificate, for `keel serve --tls-client-ca` */
    const char *key_file;    /**< its private key */
    const char *server_name; /**< name the server's certificate must carry; default: the tcp host */
} keel_tls_options_t;

/** Worker options; zero means default. Use designated initializers so new fields stay zero. */
typedef struct keel_worker_options {
    const char *name;        /**< shown by worker/list; default "c-worker" */
    int max_concurrent;      /**< activity/execute run at once (1..10000); default 16 */
    const char *socket_path; /**< Unix socket; default $KEEL_SOCKET */
    const char *tcp;         /**< "host:port"; default $KEEL_TCP */
    const char *token;       /**< TCP token; default $KEEL_TOKEN */
    size_t max_frame_bytes;  /**< incoming frame limit; default 16 MiB */
    int no_reconnect;        /**< nonzero: return when a socket/TCP connection drops */
    int drain_timeout_ms;    /**< graceful stop waits this long, then cancels; default 30000 */
    int no_signal_handlers;  /**< nonzero: do not install SIGTERM/SIGINT handlers in run */
    int reconnect_initial_ms; /**< reconnect backoff's first bound; default 100 (full jitter) */
    int reconnect_max_ms;     /**< reconnect backoff's cap; default 2000 */
    keel_tls_options_t tls;   /**< TLS over tcp; zero: clear text unless KEEL_TLS* say otherwise */
    /** Several endpoints (docs/clients.md "Several endpoints"): NULL-terminated lists tried in
     *  order after socket_path / tcp, each entry used as is. When the connected node dies the worker
     *  moves to the next one and registers again. $KEEL_SOCKET / $KEEL_TCP may be comma-separated. */
    const char *const *socket_paths;
    const char *const *tcp_addresses;
} keel_worker_options_t;

/**
 * An activity's contract and options; zero/NULL fields are omitted from registration, then
 * filled from a loaded contract file of the same name (keel_worker_load_contracts).
 */
typedef struct keel_activity_options {
    const char *description;
    json_t *input;        /**< JSON Schema of the input (borrowed); NULL = omitted (= true) */
    json_t *output;       /**< JSON Schema of the output (borrowed) */
    json_t *retry_policy; /**< wire retryPolicy object (borrowed), e.g. {"maximumAttempts":3} */
    long long start_to_close_ms;
    long long schedule_to_start_ms;
    long long schedule_to_close_ms;
    long long heartbeat_ms;
} keel_activity_options_t;

/**
 * Creates a worker. Nothing connects until keel_worker_run.
 * - Parameters: opts may be NULL (all defaults).
 * - Returns: the worker, or NULL (err: KEEL_E_ARGUMENT).
 */
keel_worker_t *keel_worker_new(const keel_worker_options_t *opts, keel_error_t *err);

/**
 * Reads every `*.json` file in `dir` as a contract `{name, version, input, output, description?,
 * retryPolicy?, timeouts?}`. A later keel_worker_register_activity with the same name takes the
 * contract's fields for those its options leave unset.
 * - Returns: 0, or -1 (err: KEEL_E_CONFIG naming the file, or KEEL_E_OS).
 */
int keel_worker_load_contracts(keel_worker_t *w, const char *dir, keel_error_t *err);

/**
 * Registers an activity. Call before keel_worker_run; activities are sent in this order.
 * - Parameters: name matches ^[A-Za-z_][A-Za-z0-9_.\-]*$; opts may be NULL.
 * - Returns: 0, or -1 (err: KEEL_E_ARGUMENT for a bad or duplicate name).
 */
int keel_worker_register_activity(keel_worker_t *w, const char *name, keel_activity_fn fn, void *userdata,
                                  const keel_activity_options_t *opts, keel_error_t *err);

/**
 * The `worker/register` params this worker sends (a new reference).
 */
json_t *keel_worker_registration(const keel_worker_t *w);

/**
 * Connects, initializes, registers and serves until stopped: keel_worker_stop, SIGTERM/SIGINT (a
 * second one cancels running activities), a `shutdown` request, or over stdio the end of stdin.
 * Stopping drains: new work is refused with -32003, running activities finish (up to
 * drain_timeout_ms, then they are cancelled) and their results are sent.
 * Transport: stdio when KEEL_TRANSPORT=stdio, else the socket/tcp options, else KEEL_SOCKET,
 * else KEEL_TCP + KEEL_TOKEN. A dropped socket/TCP connection is re-opened with exponential
 * backoff (full jitter, 0.1 s doubling to a 2 s cap, reset after each initialize), initializing and registering again;
 * with several endpoints it moves to the next one at once and waits the backoff only after every
 * endpoint failed in a row; activities
 * still running on the old connection are cancelled and their results dropped.
 * Over stdio, file descriptor 1 is pointed at stderr, so printf cannot corrupt the wire.
 * SIGPIPE is ignored while it runs. Returns once every activity handler has returned.
 * - Returns: 0 after a stop; -1 when Keel refused the worker for good (err: -32004 unauthorized,
 *   -32001 protocol version, 2005 contract conflict), no transport is configured
 *   (KEEL_E_CONFIG), or the connection failed with reconnecting off.
 */
int keel_worker_run(keel_worker_t *w, keel_error_t *err);

/** Starts a graceful stop of keel_worker_run. Any thread; async-signal-safe. */
void keel_worker_stop(keel_worker_t *w);

/** Frees the worker. Not while keel_worker_run runs. NULL is ignored. */
void keel_worker_free(keel_worker_t *w);

/* Activity context: what a handler knows about its attempt. Strings live as long as ctx. */
const char *keel_activity_task_id(const keel_activity_ctx_t *ctx);
const char *keel_activity_name(const keel_activity_ctx_t *ctx);
int keel_activity_attempt(const keel_activity_ctx_t *ctx);
/** NULL when absent. */
const char *keel_activity_idempotency_key(const keel_activity_ctx_t *ctx);
/** NULL when absent. */
const char *keel_activity_workflow_id(const keel_activity_ctx_t *ctx);
/** Epoch milliseconds; -1 when absent. */
long long keel_activity_deadline_ms(const keel_activity_ctx_t *ctx);
/** -1 when absent. */
long long keel_activity_heartbeat_timeout_ms(const keel_activity_ctx_t *ctx);
/** The last details the previous attempt sent (borrowed; JSON null when none). */
json_t *keel_activity_heartbeat_details(const keel_activity_ctx_t *ctx);

/**
 * 1 once this attempt is cancelled (an `activity/cancel` notification, a heartbeat answered
 * cancelled or 2006 attemptSuperseded, a lost connection, or a forced stop); else 0. Any thread.
 * A cancelled handler should stop and return (anything: the answer is ignored).
 */
int keel_activity_cancelled(const keel_activity_ctx_t *ctx);

/**
 * Sends `activity/heartbeat {taskId, attempt, details}` and waits (at most 10 s) for the answer.
 * - Parameters: details (borrowed; NULL sends null) go to the next attempt if this one fails.
 * - Returns: 1 when the activity should stop (see keel_activity_cancelled); 0 to go on; -1 when
 *   the heartbeat was not acknowledged (err says why; the activity may go on).
 */
int keel_heartbeat(keel_activity_ctx_t *ctx, json_t *details, keel_error_t *err);

/**
 * Publishes an event to the stream of the workflow execution that called this activity
 * (docs/protocol.md "Streams"): sends `activity/publish {taskId, attempt, name, event}` (with
 * `attemptToken` when activity/execute gave one) and waits (at most 10 s) for Keel's answer, so
 * events are published in call order. Followers see it with source "activity".
 * - Parameters: name NULL means "event"; event borrowed (NULL publishes null).
 * - Returns: 0 once published; -1 when it was not (err: the wire error, e.g. 2006
 *   attemptSuperseded, which also cancels the attempt, or -32602 for an activity run by
 *   activity/call, which has no stream; or KEEL_E_CLOSED / KEEL_E_TIMEOUT). The handler should
 *   then fail (keel_activity_raise) as other clients raise.
 */
int keel_activity_publish(keel_activity_ctx_t *ctx, const char *name, json_t *event, keel_error_t *err);

/**
 * Sleeps up to `ms` milliseconds, waking early on cancellation.
 * - Returns: 1 when cancelled, 0 when the time passed.
 */
int keel_activity_sleep(keel_activity_ctx_t *ctx, long long ms);

/**
 * Sets the failure this attempt reports: `{"failure": {type, message, retryable, retryAfterMs?,
 * details}}` (a failure is data, not a JSON-RPC error). Then return NULL from the handler.
 * - Parameters: retryable 0 ends the task as failed; retry_after_ms < 0 omits it; details is
 *   stolen (NULL sends null).
 */
void keel_activity_fail(keel_activity_ctx_t *ctx, const char *type, const char *message, int retryable,
                        long long retry_after_ms, json_t *details);

/**
 * The C form of an uncaught exception: a retryable failure whose type names the error kind
 * ("Client libraries report an uncaught exception as retryable with type = its class name").
 * The message is printf-formatted. Then return NULL from the handler.
 */
void keel_activity_raise(keel_activity_ctx_t *ctx, const char *type, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------------------------ */
/* Client: blocking calls to the orchestrator over a Unix socket or TCP                        */
/* ------------------------------------------------------------------------------------------ */

typedef struct keel_client keel_client_t;

/** Client options; zero means default (KEEL_SOCKET, else KEEL_TCP + KEEL_TOKEN). */
typedef struct keel_client_options {
    const char *socket_path;
    const char *tcp;
    const char *token;
    size_t max_frame_bytes;
    int reconnect_initial_ms; /**< reconnect backoff's first bound; default 100 (full jitter) */
    int reconnect_max_ms;     /**< reconnect backoff's cap; default 2000 */
    int reconnect_timeout_ms; /**< how long one call keeps reconnecting; default 30000 */
    keel_tls_options_t tls;   /**< TLS over tcp; zero: clear text unless KEEL_TLS* say otherwise */
    /** Several endpoints, NULL-terminated, tried in order after socket_path / tcp: connect uses the
     *  first reachable one, a reconnect goes on from the next (docs/clients.md "Several endpoints"). */
    const char *const *socket_paths;
    const char *const *tcp_addresses;
} keel_client_options_t;

/**
 * Connects to the first reachable endpoint in order and initializes (bounded by 10 s each; with
 * several endpoints all down, err names each one). When Keel restarts, the next call reconnects; a call
 * in flight at the drop is sent again when that is safe (a read, or keyed), else it fails with
 * KEEL_E_OUTCOME_UNKNOWN (docs/clients.md "Reconnecting").
 * - Returns: the client, or NULL (err: KEEL_E_CONFIG, KEEL_E_OS, or the initialize error).
 */
keel_client_t *keel_client_connect(const keel_client_options_t *opts, keel_error_t *err);

/** Closes the connection and frees the client; pending calls fail with KEEL_E_CLOSED. */
void keel_client_close(keel_client_t *c);

/**
 * Sends any request and waits for its result.
 * - Parameters: params stolen (NULL sends {}); timeout_ms < 0 waits without a local bound.
 * - Returns: the result (new reference), or NULL (err: the wire error, KEEL_E_CLOSED, KEEL_E_TIMEOUT).
 */
json_t *keel_client_call(keel_client_t *c, const char *method, json_t *params, long long timeout_ms,
                         keel_error_t *err);

/**
 * `workflow/start`. input borrowed; workflow_id may be NULL (generated by Keel).
 * - Returns: `{workflowId, status, started}`, or NULL.
 */
json_t *keel_workflow_start(keel_client_t *c, const char *name, json_t *input, const char *workflow_id,
                            keel_error_t *err);

/**
 * Options of keel_workflow_start_with_options; zero/NULL means unset. Use designated initializers
 * so new fields stay zero. Unset fields are not sent, and Keel applies its defaults.
 * Priorities and fairness keys: docs/protocol.md "Priorities and fairness".
 */
typedef struct keel_workflow_start_options {
    const char *workflow_id;  /**< NULL: generated by Keel */
    int has_priority;         /**< nonzero: send `priority` (0 is a valid priority, so it needs this flag) */
    int priority;             /**< -1000..1000, higher runs first; Keel's default 0 */
    const char *fairness_key; /**< 1..256 chars; NULL: none */
    /* The execution keeps both; its activity steps (and its children's) inherit them unless a
     * step sets its own; keel_workflow_describe shows them. */
} keel_workflow_start_options_t;

/**
 * `workflow/start` with options: `workflowId`, `priority` and `fairnessKey` are sent only when
 * set. input borrowed; opts may be NULL (then it is keel_workflow_start with no workflow id).
 * Keel checks the values (-32602 for a priority out of range or an empty or too long key).
 * - Returns: `{workflowId, status, started}`, or NULL.
 */
json_t *keel_workflow_start_with_options(keel_client_t *c, const char *name, json_t *input,
                                         const keel_workflow_start_options_t *opts, keel_error_t *err);

/**
 * `workflow/result`: waits up to wait_timeout_ms (< 0: Keel's default, 60 s) for the end.
 * - Returns: `{workflowId, status, output?, failure?}` (the current status past the timeout), or NULL.
 */
json_t *keel_workflow_result(keel_client_t *c, const char *workflow_id, long long wait_timeout_ms,
                             keel_error_t *err);

/**
 * `workflow/signal`: payload borrowed (NULL omits it), with a fresh random `requestId`, so that a
 * signal in flight when the connection drops is sent again after the reconnect and delivered once.
 * Returns 0 once recorded, or -1.
 */
int keel_workflow_signal(keel_client_t *c, const char *workflow_id, const char *name, json_t *payload,
                         keel_error_t *err);

/**
 * `workflow/signal` with the caller's `request_id` (NULL: a fresh one): a later signal with the same
 * id for the workflow is not delivered again; `*duplicate` (if not NULL) says whether this one was
 * such a repeat. Returns 0, or -1.
 */
int keel_workflow_signal_with_id(keel_client_t *c, const char *workflow_id, const char *name, json_t *payload,
                                 const char *request_id, int *duplicate, keel_error_t *err);

/** `workflow/cancel`: reason may be NULL. Returns 0, or -1. */
int keel_workflow_cancel(keel_client_t *c, const char *workflow_id, const char *reason, keel_error_t *err);

/** `workflow/describe`. Returns the description (new reference), or NULL. */
json_t *keel_workflow_describe(keel_client_t *c, const char *workflow_id, keel_error_t *err);

/**
 * One `workflow/follow` page of a workflow execution's stream (docs/protocol.md "Streams"): events
 * after `after_offset`, at most `limit` (<= 0: Keel's default, 100), waiting up to
 * `wait_timeout_ms` (<= 0: none) for one when there are none yet.
 * - Returns: `{workflowId, events: [{offset, name, event, atMs, source, seq? | taskId?, attempt?}],
 *   nextOffset, status, done}` (new reference), or NULL (err e.g. -32602, or an unknown workflow).
 */
json_t *keel_workflow_follow_page(keel_client_t *c, const char *workflow_id, long long after_offset, int limit,
                                  long long wait_timeout_ms, keel_error_t *err);

/**
 * Called by keel_workflow_follow once per event, in offset order.
 * - Parameters: event `{offset, name, event, atMs, source: "workflow"|"activity", seq? | taskId?,
 *   attempt?}`, borrowed (valid during the call; json_incref to keep it); userdata as given.
 * - Returns: 0 to go on; nonzero to stop following.
 */
typedef int (*keel_follow_fn)(json_t *event, void *userdata);

/**
 * Follows a workflow execution's stream: calls `fn` once per event after `after_offset` (0: from
 * the start), in order, by long polls (`workflow/follow` with waitTimeoutMs 30000, each next one
 * from the previous page's nextOffset), until a page says `done` (the execution ended and its
 * last events were handed over). Blocks the calling thread; stop it by returning nonzero from
 * `fn` (checked per event; a poll with no event waits at most 30 s, then polls again). Do not
 * close the client while a follow runs on it. A poll in flight when the connection drops
 * is sent again after the reconnect from the same offset, so no event is lost or repeated.
 * - Returns: 0 after the last event of an ended execution; 1 when `fn` stopped it; -1 on error
 *   (err: the wire error, e.g. an unknown workflow, or KEEL_E_CLOSED / KEEL_E_TIMEOUT when Keel
 *   stayed unreachable).
 */
int keel_workflow_follow(keel_client_t *c, const char *workflow_id, long long after_offset, keel_follow_fn fn,
                         void *userdata, keel_error_t *err);

/** Options of keel_activity_call; zero/NULL means unset (use designated initializers). */
typedef struct keel_call_options {
    const char *idempotency_key;
    int no_wait;              /**< nonzero: return at once with status "scheduled" */
    long long wait_timeout_ms; /**< 0: Keel's default */
    json_t *retry_policy;     /**< borrowed */
    long long start_to_close_ms;
    long long schedule_to_start_ms;
    long long schedule_to_close_ms;
    /** Priorities and fairness keys (docs/protocol.md "Priorities and fairness"): among the ready
     *  tasks of one activity, the highest priority goes first; within one priority, tasks are
     *  handed out round-robin over fairness keys; within a key, first in first out. */
    int has_priority;         /**< nonzero: send `priority` (0 is a valid priority, so it needs this flag) */
    int priority;             /**< -1000..1000, higher runs first; Keel's default 0 */
    const char *fairness_key; /**< 1..256 chars; NULL: none (the tasks without a key share one) */
} keel_call_options_t;

/**
 * `activity/call`: one durable activity call. input borrowed; opts may be NULL.
 * - Returns: `{taskId, status, attempts, output?, failure?}`, or NULL (err e.g. 3001, 4002).
 */
json_t *keel_activity_call(keel_client_t *c, const char *name, json_t *input, const keel_call_options_t *opts,
                           keel_error_t *err);

/** `activity/result` by task id, waiting up to wait_timeout_ms (< 0: Keel's default). */
json_t *keel_activity_result(keel_client_t *c, const char *task_id, long long wait_timeout_ms, keel_error_t *err);

/** `activity/cancel` (the request). Returns 0, or -1. */
int keel_activity_cancel(keel_client_t *c, const char *task_id, keel_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* Schedules: start a workflow on a cron or interval spec (the schedule/... methods)           */
/* ------------------------------------------------------------------------------------------ */

/**
 * Options of keel_schedule_create; zero/NULL means unset (use designated initializers so new
 * fields stay zero). Unset fields are not sent, and Keel applies its defaults.
 */
typedef struct keel_schedule_options {
    /** What a slot does while the previous run still runs: "skip" (Keel's default), "bufferOne",
     *  "allowAll", "cancelOther"; NULL: unset. */
    const char *overlap;
    int has_catchup_window_ms;   /**< nonzero: send `catchupWindowMs` */
    long long catchup_window_ms; /**< how late a missed slot may still start; >= 10000; Keel's default 1 year */
    int paused;                  /**< nonzero: create it paused (sends `"paused": true`) */
    const char *note;            /**< free text kept with the schedule; NULL: none */
} keel_schedule_options_t;

/**
 * `schedule/create`: a schedule that starts `action` at each time of `spec`. Each slot's workflow
 * id is `<schedule_id>-<slot time, UTC ISO 8601 to the second>`; a slot starts at most once.
 * - Parameters: spec (borrowed) as on the wire, `{"cron": "0 9 * * MON-FRI", "timeZone"?}` or
 *   `{"intervalMs": 3600000, "offsetMs"?}`, either with `"jitterMs"?`; action (borrowed) as on the
 *   wire, `{"workflow": "reports.daily", "input"?, "priority"?, "fairnessKey"?,
 *   "executionTimeoutMs"?, "runTimeoutMs"?}`; opts may be NULL.
 * - Returns: the schedule as keel_schedule_describe answers it (new reference), or NULL (err:
 *   KEEL_SCHEDULE_ALREADY_EXISTS, -32602 for a bad spec such as a bad cron or both/neither of
 *   cron and intervalMs, KEEL_E_ARGUMENT for a NULL id or a spec/action that is not an object).
 */
json_t *keel_schedule_create(keel_client_t *c, const char *schedule_id, json_t *spec, json_t *action,
                             const keel_schedule_options_t *opts, keel_error_t *err);

/**
 * `schedule/describe`.
 * - Returns: `{scheduleId, spec, action, overlap, catchupWindowMs, paused, note?, createdAtMs,
 *   updatedAtMs, nextActionTimesMs, recentActions: [{slotMs, workflowId, startedAtMs}] (newest
 *   last), runningWorkflowId?, bufferedSlotMs?, started, skipped}` (new reference), or NULL (err:
 *   KEEL_SCHEDULE_NOT_FOUND).
 */
json_t *keel_schedule_describe(keel_client_t *c, const char *schedule_id, keel_error_t *err);

/**
 * `schedule/list`: one page, by scheduleId.
 * - Parameters: limit 1..1000 (<= 0: Keel's default, 100); cursor NULL for the first page, else a
 *   previous page's `nextCursor`.
 * - Returns: `{schedules: [{scheduleId, workflow, spec, paused, nextActionTimeMs?}], nextCursor?}`
 *   (new reference; `nextCursor` absent on the last page), or NULL.
 */
json_t *keel_schedule_list(keel_client_t *c, int limit, const char *cursor, keel_error_t *err);

/**
 * `schedule/pause`: no slot starts while paused (keel_schedule_trigger still does). note may be NULL.
 * - Returns: the schedule as keel_schedule_describe answers it (new reference), or NULL (err:
 *   KEEL_SCHEDULE_NOT_FOUND).
 */
json_t *keel_schedule_pause(keel_client_t *c, const char *schedule_id, const char *note, keel_error_t *err);

/**
 * `schedule/unpause`: slots start again from the next one; those missed while paused are not
 * caught up. note may be NULL.
 * - Returns: the schedule as keel_schedule_describe answers it (new reference), or NULL.
 */
json_t *keel_schedule_unpause(keel_client_t *c, const char *schedule_id, const char *note, keel_error_t *err);

/**
 * `schedule/trigger`: starts the action now, even when paused, under the schedule's overlap
 * policy, or under `overlap` when not NULL ("skip", "bufferOne", "allowAll", "cancelOther").
 * - Returns: `{scheduleId, workflowId, started}` (new reference; `started` false when the overlap
 *   policy skipped it), or NULL (err: KEEL_SCHEDULE_NOT_FOUND).
 */
json_t *keel_schedule_trigger(keel_client_t *c, const char *schedule_id, const char *overlap, keel_error_t *err);

/**
 * `schedule/delete`. Workflows it already started keep running.
 * - Returns: 0, or -1 (err: KEEL_SCHEDULE_NOT_FOUND).
 */
int keel_schedule_delete(keel_client_t *c, const char *schedule_id, keel_error_t *err);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_H */
