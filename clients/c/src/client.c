/* keel_client_t: blocking calls to the orchestrator (workflows, activities). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Slack added to a server-side wait before the local call gives up. */
#define WAIT_SLACK_MS 5000
/* Bound on calls that answer at once (signal, cancel, describe, start). */
#define QUICK_CALL_TIMEOUT_MS 30000
/* Keel's default wait in workflow/result and activity/result when none is given. */
#define SERVER_DEFAULT_WAIT_MS 60000

struct keel_client {
    keel__conn_t *conn;
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

keel_client_t *keel_client_connect(const keel_client_options_t *opts, keel_error_t *err) {
    keel_client_options_t defaults = {0};
    if (opts == NULL) {
        opts = &defaults;
    }
    json_object_seed(0); /* before the reader thread exists (jansson: doc/threadsafety.rst) */
    keel__endpoint_t ep;
    int in_fd, out_fd;
    if (keel__resolve_endpoint(&ep, opts->socket_path, opts->tcp, opts->token, 0, err) != 0 ||
        keel__open_endpoint(&ep, &in_fd, &out_fd, err) != 0) {
        return NULL;
    }
    keel__handlers_t handlers = {.on_request = on_request};
    keel__conn_t *conn = keel__conn_new(in_fd, out_fd, opts->max_frame_bytes, &handlers);
    if (conn == NULL || keel__conn_start(conn, err) != 0) {
        keel__conn_release(conn);
        return NULL;
    }
    json_t *result = keel__conn_call(conn, "initialize", keel__initialize_params(&ep), KEEL__HANDSHAKE_TIMEOUT_MS, err);
    int ok = result != NULL && keel__check_initialize(conn, result, err) == 0;
    json_decref(result);
    keel_client_t *c = ok ? calloc(1, sizeof *c) : NULL;
    if (c == NULL) {
        keel__conn_close(conn);
        keel__conn_release(conn);
        return NULL;
    }
    c->conn = conn;
    return c;
}

void keel_client_close(keel_client_t *c) {
    if (c == NULL) {
        return;
    }
    keel__conn_close(c->conn);
    keel__conn_release(c->conn);
    free(c);
}

json_t *keel_client_call(keel_client_t *c, const char *method, json_t *params, long long timeout_ms,
                         keel_error_t *err) {
    return keel__conn_call(c->conn, method, params, timeout_ms, err);
}

static long long wait_bound(long long wait_timeout_ms) {
    return (wait_timeout_ms >= 0 ? wait_timeout_ms : SERVER_DEFAULT_WAIT_MS) + WAIT_SLACK_MS;
}

json_t *keel_workflow_start(keel_client_t *c, const char *name, json_t *input, const char *workflow_id,
                            keel_error_t *err) {
    json_t *params = json_pack("{s:s,s:O}", "name", name, "input", input ? input : json_null());
    if (workflow_id != NULL) {
        json_object_set_new(params, "workflowId", json_string(workflow_id));
    }
    return keel__conn_call(c->conn, "workflow/start", params, QUICK_CALL_TIMEOUT_MS, err);
}

json_t *keel_workflow_result(keel_client_t *c, const char *workflow_id, long long wait_timeout_ms,
                             keel_error_t *err) {
    json_t *params = json_pack("{s:s}", "workflowId", workflow_id);
    if (wait_timeout_ms >= 0) {
        json_object_set_new(params, "waitTimeoutMs", json_integer(wait_timeout_ms));
    }
    return keel__conn_call(c->conn, "workflow/result", params, wait_bound(wait_timeout_ms), err);
}

static int call_ok(keel_client_t *c, const char *method, json_t *params, keel_error_t *err) {
    json_t *result = keel__conn_call(c->conn, method, params, QUICK_CALL_TIMEOUT_MS, err);
    json_decref(result);
    return result != NULL ? 0 : -1;
}

int keel_workflow_signal(keel_client_t *c, const char *workflow_id, const char *name, json_t *payload,
                         keel_error_t *err) {
    json_t *params = json_pack("{s:s,s:s}", "workflowId", workflow_id, "name", name);
    if (payload != NULL) {
        json_object_set(params, "payload", payload);
    }
    return call_ok(c, "workflow/signal", params, err);
}

int keel_workflow_cancel(keel_client_t *c, const char *workflow_id, const char *reason, keel_error_t *err) {
    json_t *params = json_pack("{s:s}", "workflowId", workflow_id);
    if (reason != NULL) {
        json_object_set_new(params, "reason", json_string(reason));
    }
    return call_ok(c, "workflow/cancel", params, err);
}

json_t *keel_workflow_describe(keel_client_t *c, const char *workflow_id, keel_error_t *err) {
    return keel__conn_call(c->conn, "workflow/describe", json_pack("{s:s}", "workflowId", workflow_id),
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
    return keel__conn_call(c->conn, "activity/call", params, bound, err);
}

json_t *keel_activity_result(keel_client_t *c, const char *task_id, long long wait_timeout_ms, keel_error_t *err) {
    json_t *params = json_pack("{s:s}", "taskId", task_id);
    if (wait_timeout_ms >= 0) {
        json_object_set_new(params, "waitTimeoutMs", json_integer(wait_timeout_ms));
    }
    return keel__conn_call(c->conn, "activity/result", params, wait_bound(wait_timeout_ms), err);
}

int keel_activity_cancel(keel_client_t *c, const char *task_id, keel_error_t *err) {
    return call_ok(c, "activity/cancel", json_pack("{s:s}", "taskId", task_id), err);
}
