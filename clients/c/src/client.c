/* keel_client_t: blocking calls to the orchestrator (workflows, activities). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

/* Slack added to a server-side wait before the local call gives up. */
#define WAIT_SLACK_MS 5000
/* Bound on calls that answer at once (signal, cancel, describe, start). */
#define QUICK_CALL_TIMEOUT_MS 30000
/* Keel's default wait in workflow/result and activity/result when none is given. */
#define SERVER_DEFAULT_WAIT_MS 60000
/* The long poll keel_workflow_follow makes: Keel answers at once when events wait, else within this. */
#define FOLLOW_WAIT_MS 30000

struct keel_client {
    /* Copies of the options' strings: the endpoints are reopened on every reconnect. */
    char *token;
    keel_tls_options_t tls;
    keel__endpoints_t endpoints; /* the ring: guarded by mu */
    size_t max_frame_bytes;
    int reconnect_timeout_ms;
    pthread_mutex_t mu; /* guards conn, endpoints and backoff; held while reconnecting */
    keel__conn_t *conn;
    keel__backoff_t backoff;
};

static int on_request(keel__conn_t *conn, const char *method, json_t *params, keel__reply_t *reply, void *userdata) {
    (void)conn;
    (void)params;
    (void)userdata;
    if (strcmp(method, "ping") == 0) {
        keel__reply_result(reply, json_object());
        return 0;
    }
    return -1;
}

/* Opens the current endpoint and runs initialize; NULL (err set) on failure. */
static keel__conn_t *open_conn(const keel_client_t *c, keel_error_t *err) {
    const keel__endpoint_t *ep = keel__endpoints_current(&c->endpoints);
    int in_fd, out_fd;
    if (keel__open_endpoint(ep, &in_fd, &out_fd, err) != 0) {
        return NULL;
    }
    keel__handlers_t handlers = {.on_request = on_request};
    keel__conn_t *conn = keel__conn_new(in_fd, out_fd, c->max_frame_bytes, &handlers);
    if (conn == NULL || keel__conn_start(conn, err) != 0) {
        keel__conn_release(conn);
        return NULL;
    }
    json_t *result = keel__conn_call(conn, "initialize", keel__initialize_params(ep), KEEL__HANDSHAKE_TIMEOUT_MS, err);
    int ok = result != NULL && keel__check_initialize(conn, result, err) == 0;
    json_decref(result);
    if (!ok) {
        keel__conn_close(conn);
        keel__conn_release(conn);
        return NULL;
    }
    return conn;
}

static keel__conn_t *open_first(keel_client_t *c, keel_error_t *err);

static char *dup_or_null(const char *s) {
    return s != NULL ? strdup(s) : NULL;
}

static void free_client(keel_client_t *c) {
    keel__endpoints_free(&c->endpoints);
    free(c->token);
    keel__tls_free(&c->tls);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

keel_client_t *keel_client_connect(const keel_client_options_t *opts, keel_error_t *err) {
    keel_client_options_t defaults = {0};
    if (opts == NULL) {
        opts = &defaults;
    }
    json_object_seed(0); /* before the reader thread exists (jansson: doc/threadsafety.rst) */
    keel_client_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        keel__set_error(err, KEEL_E_OS, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->token = dup_or_null(opts->token);
    keel__tls_copy(&c->tls, &opts->tls);
    c->max_frame_bytes = opts->max_frame_bytes;
    c->reconnect_timeout_ms = opts->reconnect_timeout_ms > 0 ? opts->reconnect_timeout_ms : KEEL__RECONNECT_TIMEOUT_MS;
    keel__backoff_init(&c->backoff, opts->reconnect_initial_ms, opts->reconnect_max_ms);
    keel__addresses_t addresses = {opts->socket_path, opts->socket_paths, opts->tcp, opts->tcp_addresses, c->token, &c->tls};
    if (keel__resolve_endpoints(&c->endpoints, &addresses, 0, err) != 0) {
        free_client(c);
        return NULL;
    }
    c->conn = open_first(c, err);
    if (c->conn == NULL) {
        free_client(c);
        return NULL;
    }
    return c;
}

/* Opens the first reachable endpoint in order; with several all down, err names each one. */
static keel__conn_t *open_first(keel_client_t *c, keel_error_t *err) {
    char failures[sizeof err->message] = "";
    size_t used = 0;
    for (size_t i = 0; i < c->endpoints.count; i++) {
        keel_error_t local = {0};
        keel__conn_t *conn = open_conn(c, &local);
        if (conn != NULL) {
            keel__endpoints_succeeded(&c->endpoints);
            return conn;
        }
        if (c->endpoints.count == 1 || local.code == KEEL_UNAUTHORIZED || local.code == KEEL_UNSUPPORTED_PROTOCOL_VERSION) {
            if (err != NULL) {
                *err = local;
            }
            return NULL;
        }
        int n = snprintf(failures + used, sizeof failures - used, "%s%s", used > 0 ? "; " : "", local.message);
        used = n > 0 && (size_t)n < sizeof failures - used ? used + (size_t)n : sizeof failures - 1;
        keel__endpoints_failed(&c->endpoints);
    }
    keel__set_error(err, KEEL_E_OS, "no Keel endpoint is reachable: %s", failures);
    return NULL;
}

void keel_client_close(keel_client_t *c) {
    if (c == NULL) {
        return;
    }
    keel__conn_close(c->conn);
    keel__conn_release(c->conn);
    free_client(c);
}

/* The live connection (retained: release it), reconnecting with backoff for up to
 * reconnect_timeout_ms; NULL (err set) when Keel stayed unreachable or refused us for good. */
static keel__conn_t *connected(keel_client_t *c, keel_error_t *err) {
    pthread_mutex_lock(&c->mu);
    long long deadline = keel__now_ms() + c->reconnect_timeout_ms;
    if (keel__conn_closed(c->conn)) {
        keel__endpoints_failed(&c->endpoints); /* the connected endpoint dropped: start with the next one */
    }
    while (keel__conn_closed(c->conn)) {
        keel_error_t local = {0};
        keel__conn_t *fresh = open_conn(c, &local);
        if (fresh != NULL) {
            keel__conn_close(c->conn);
            keel__conn_release(c->conn);
            c->conn = fresh;
            keel__backoff_reset(&c->backoff);
            keel__endpoints_succeeded(&c->endpoints);
            break;
        }
        int fatal = local.code == KEEL_UNAUTHORIZED || local.code == KEEL_UNSUPPORTED_PROTOCOL_VERSION;
        if (!fatal && !keel__endpoints_failed(&c->endpoints)) {
            continue; /* try the next endpoint at once; wait only after a whole round */
        }
        int pause = keel__backoff_next(&c->backoff);
        if (fatal || keel__now_ms() + pause > deadline) {
            pthread_mutex_unlock(&c->mu);
            if (err != NULL) {
                *err = local;
            }
            return NULL;
        }
        struct timespec ts = {pause / 1000, (long)(pause % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    keel__conn_t *conn = c->conn;
    keel__conn_retain(conn);
    pthread_mutex_unlock(&c->mu);
    return conn;
}

/* One call (params stolen), reconnecting first if the connection dropped; repeated after a drop
 * only when keel__safe_to_repeat allows, else KEEL_E_OUTCOME_UNKNOWN. */
static json_t *call(keel_client_t *c, const char *method, json_t *params, long long timeout_ms, keel_error_t *err) {
    if (params == NULL) {
        params = json_object();
    }
    for (;;) {
        keel__conn_t *conn = connected(c, err);
        if (conn == NULL) {
            json_decref(params);
            return NULL;
        }
        keel_error_t local = {0};
        json_t *result = keel__conn_call(conn, method, json_incref(params), timeout_ms, &local);
        keel__conn_release(conn);
        if (result != NULL || local.code != KEEL_E_CLOSED) {
            json_decref(params);
            if (result == NULL && err != NULL) {
                *err = local;
            }
            return result;
        }
        if (!keel__safe_to_repeat(method, params)) {
            json_decref(params);
            keel__set_error(err, KEEL_E_OUTCOME_UNKNOWN, "connection to Keel lost during %s; outcome unknown", method);
            return NULL;
        }
    }
}

json_t *keel_client_call(keel_client_t *c, const char *method, json_t *params, long long timeout_ms,
                         keel_error_t *err) {
    return call(c, method, params, timeout_ms, err);
}

static long long wait_bound(long long wait_timeout_ms) {
    return (wait_timeout_ms >= 0 ? wait_timeout_ms : SERVER_DEFAULT_WAIT_MS) + WAIT_SLACK_MS;
}

/* Adds `priority` and `fairnessKey` to params, each only when the caller set it. */
static void set_priority(json_t *params, int has_priority, int priority, const char *fairness_key) {
    if (has_priority) {
        json_object_set_new(params, "priority", json_integer(priority));
    }
    if (fairness_key != NULL) {
        json_object_set_new(params, "fairnessKey", json_string(fairness_key));
    }
}

json_t *keel_workflow_start_with_options(keel_client_t *c, const char *name, json_t *input,
                                         const keel_workflow_start_options_t *opts, keel_error_t *err) {
    keel_workflow_start_options_t none = {0};
    if (opts == NULL) {
        opts = &none;
    }
    json_t *params = json_pack("{s:s,s:O}", "name", name, "input", input ? input : json_null());
    if (opts->workflow_id != NULL) {
        json_object_set_new(params, "workflowId", json_string(opts->workflow_id));
    }
    set_priority(params, opts->has_priority, opts->priority, opts->fairness_key);
    return call(c, "workflow/start", params, QUICK_CALL_TIMEOUT_MS, err);
}

json_t *keel_workflow_start(keel_client_t *c, const char *name, json_t *input, const char *workflow_id,
                            keel_error_t *err) {
    keel_workflow_start_options_t opts = {.workflow_id = workflow_id};
    return keel_workflow_start_with_options(c, name, input, &opts, err);
}

json_t *keel_workflow_result(keel_client_t *c, const char *workflow_id, long long wait_timeout_ms,
                             keel_error_t *err) {
    json_t *params = json_pack("{s:s}", "workflowId", workflow_id);
    if (wait_timeout_ms >= 0) {
        json_object_set_new(params, "waitTimeoutMs", json_integer(wait_timeout_ms));
    }
    return call(c, "workflow/result", params, wait_bound(wait_timeout_ms), err);
}

static int call_ok(keel_client_t *c, const char *method, json_t *params, keel_error_t *err) {
    json_t *result = call(c, method, params, QUICK_CALL_TIMEOUT_MS, err);
    json_decref(result);
    return result != NULL ? 0 : -1;
}

/* A fresh random UUID, version 4, lowercase, into out (37 bytes with the NUL); 0, or -1. */
static int new_uuid(char out[37]) {
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        return -1;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

int keel_workflow_signal_with_id(keel_client_t *c, const char *workflow_id, const char *name, json_t *payload,
                                 const char *request_id, int *duplicate, keel_error_t *err) {
    char fresh[37];
    if (request_id == NULL) {
        if (new_uuid(fresh) != 0) {
            keel__set_error(err, KEEL_E_OS, "cannot make a request id: getrandom failed");
            return -1;
        }
        request_id = fresh;
    }
    json_t *params = json_pack("{s:s,s:s,s:s}", "workflowId", workflow_id, "name", name, "requestId", request_id);
    if (payload != NULL) {
        json_object_set(params, "payload", payload);
    }
    json_t *result = call(c, "workflow/signal", params, QUICK_CALL_TIMEOUT_MS, err);
    if (result == NULL) {
        return -1;
    }
    if (duplicate != NULL) {
        *duplicate = json_is_true(json_object_get(result, "duplicate"));
    }
    json_decref(result);
    return 0;
}

int keel_workflow_signal(keel_client_t *c, const char *workflow_id, const char *name, json_t *payload,
                         keel_error_t *err) {
    return keel_workflow_signal_with_id(c, workflow_id, name, payload, NULL, NULL, err);
}

int keel_workflow_cancel(keel_client_t *c, const char *workflow_id, const char *reason, keel_error_t *err) {
    json_t *params = json_pack("{s:s}", "workflowId", workflow_id);
    if (reason != NULL) {
        json_object_set_new(params, "reason", json_string(reason));
    }
    return call_ok(c, "workflow/cancel", params, err);
}

json_t *keel_workflow_describe(keel_client_t *c, const char *workflow_id, keel_error_t *err) {
    return call(c, "workflow/describe", json_pack("{s:s}", "workflowId", workflow_id),
                           QUICK_CALL_TIMEOUT_MS, err);
}

json_t *keel_activity_call(keel_client_t *c, const char *name, json_t *input, const keel_call_options_t *opts,
                           keel_error_t *err) {
    keel_call_options_t none = {0};
    if (opts == NULL) {
        opts = &none;
    }
    json_t *params = json_pack("{s:s,s:O,s:b}", "name", name, "input", input ? input : json_null(), "wait",
                               !opts->no_wait);
    if (opts->idempotency_key != NULL) {
        json_object_set_new(params, "idempotencyKey", json_string(opts->idempotency_key));
    }
    if (opts->wait_timeout_ms > 0) {
        json_object_set_new(params, "waitTimeoutMs", json_integer(opts->wait_timeout_ms));
    }
    if (opts->retry_policy != NULL) {
        json_object_set(params, "retryPolicy", opts->retry_policy);
    }
    set_priority(params, opts->has_priority, opts->priority, opts->fairness_key);
    json_t *timeouts = json_object();
    if (opts->start_to_close_ms > 0) {
        json_object_set_new(timeouts, "startToCloseMs", json_integer(opts->start_to_close_ms));
    }
    if (opts->schedule_to_start_ms > 0) {
        json_object_set_new(timeouts, "scheduleToStartMs", json_integer(opts->schedule_to_start_ms));
    }
    if (opts->schedule_to_close_ms > 0) {
        json_object_set_new(timeouts, "scheduleToCloseMs", json_integer(opts->schedule_to_close_ms));
    }
    if (json_object_size(timeouts) > 0) {
        json_object_set(params, "timeouts", timeouts);
    }
    json_decref(timeouts);
    /* Without waitTimeoutMs Keel waits as long as the task runs, so no local bound either. */
    long long bound = opts->no_wait ? QUICK_CALL_TIMEOUT_MS
                      : opts->wait_timeout_ms > 0 ? opts->wait_timeout_ms + WAIT_SLACK_MS
                                                  : -1;
    return call(c, "activity/call", params, bound, err);
}

json_t *keel_activity_result(keel_client_t *c, const char *task_id, long long wait_timeout_ms, keel_error_t *err) {
    json_t *params = json_pack("{s:s}", "taskId", task_id);
    if (wait_timeout_ms >= 0) {
        json_object_set_new(params, "waitTimeoutMs", json_integer(wait_timeout_ms));
    }
    return call(c, "activity/result", params, wait_bound(wait_timeout_ms), err);
}

int keel_activity_cancel(keel_client_t *c, const char *task_id, keel_error_t *err) {
    return call_ok(c, "activity/cancel", json_pack("{s:s}", "taskId", task_id), err);
}

json_t *keel_workflow_follow_page(keel_client_t *c, const char *workflow_id, long long after_offset, int limit,
                                  long long wait_timeout_ms, keel_error_t *err) {
    json_t *params = json_pack("{s:s,s:I}", "workflowId", workflow_id, "afterOffset",
                               (json_int_t)(after_offset > 0 ? after_offset : 0));
    if (limit > 0) {
        json_object_set_new(params, "limit", json_integer(limit));
    }
    if (wait_timeout_ms > 0) {
        json_object_set_new(params, "waitTimeoutMs", json_integer(wait_timeout_ms));
    }
    /* A read: after a reconnect call() sends it again with the same afterOffset. */
    return call(c, "workflow/follow", params, (wait_timeout_ms > 0 ? wait_timeout_ms : 0) + WAIT_SLACK_MS, err);
}

int keel_workflow_follow(keel_client_t *c, const char *workflow_id, long long after_offset, keel_follow_fn fn,
                         void *userdata, keel_error_t *err) {
    long long after = after_offset > 0 ? after_offset : 0;
    for (;;) {
        json_t *page = keel_workflow_follow_page(c, workflow_id, after, 0, FOLLOW_WAIT_MS, err);
        if (page == NULL) {
            return -1;
        }
        json_t *events = json_object_get(page, "events");
        json_t *next = json_object_get(page, "nextOffset");
        if (!json_is_array(events) || !json_is_integer(next)) {
            json_decref(page);
            keel__set_error(err, KEEL_E_PROTOCOL, "workflow/follow answered without events or nextOffset");
            return -1;
        }
        size_t i;
        json_t *event;
        json_array_foreach(events, i, event) {
            json_t *offset = json_object_get(event, "offset");
            if (json_is_integer(offset) && json_integer_value(offset) <= after) {
                continue; /* seen already: each event is handed over once */
            }
            if (json_is_integer(offset)) {
                after = json_integer_value(offset);
            }
            if (fn(event, userdata) != 0) {
                json_decref(page);
                return 1;
            }
        }
        if (json_integer_value(next) > after) {
            after = json_integer_value(next);
        }
        int done = json_is_true(json_object_get(page, "done"));
        json_decref(page);
        if (done) {
            return 0;
        }
    }
}
