/* Activity attempts: activity/execute, the context a handler sees, heartbeats, cancellation. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

/* Room left for the response envelope when checking an output against the peer's frame limit. */
#define ENVELOPE_BYTES 1024

static json_t *failure(const char *type, const char *message, int retryable, json_t *details) {
    return json_pack("{s:s,s:s,s:b,s:o}", "type", type, "message", message, "retryable", retryable, "details",
                     details ? details : json_null());
}

static const char *string_field(json_t *params, const char *key) {
    return json_string_value(json_object_get(params, key));
}

static long long ms_field(json_t *params, const char *key) {
    json_t *value = json_object_get(params, key);
    return json_is_number(value) ? (long long)json_number_value(value) : -1;
}

static activity_def_t *find(keel_worker_t *w, const char *name) {
    for (size_t i = 0; name != NULL && i < w->n_activities; i++) {
        if (strcmp(w->activities[i].name, name) == 0) {
            return &w->activities[i];
        }
    }
    return NULL;
}

void keel__execute(keel_worker_t *w, keel__conn_t *conn, json_t *params, keel__reply_t *reply) {
    pthread_mutex_lock(&w->mu);
    int refusing = w->stop_requested || w->draining;
    pthread_mutex_unlock(&w->mu);
    if (refusing) {
        keel__reply_error(reply, KEEL_SHUTTING_DOWN, "worker is shutting down; dispatch the attempt elsewhere", NULL);
        return;
    }
    const char *name = string_field(params, "name");
    activity_def_t *def = find(w, name);
    if (def == NULL) {
        char message[300];
        snprintf(message, sizeof message, "this worker does not serve activity %.200s", name ? name : "(none)");
        keel__reply_result(reply, json_pack("{s:o}", "failure", failure("ActivityNotRegistered", message, 1, NULL)));
        return;
    }
    keel_activity_ctx_t *ctx = calloc(1, sizeof *ctx);
    ctx->worker = w;
    ctx->def = def;
    ctx->reply = reply;
    keel__conn_retain(conn);
    ctx->conn = conn;
    ctx->params = json_incref(params);
    ctx->input = json_object_get(params, "input");
    if (ctx->input == NULL) {
        ctx->input = json_null();
    }
    ctx->heartbeat_details = json_object_get(params, "heartbeatDetails");
    if (ctx->heartbeat_details == NULL) {
        ctx->heartbeat_details = json_null();
    }
    ctx->task_id = string_field(params, "taskId") ? string_field(params, "taskId") : "";
    ctx->name = def->name;
    ctx->idempotency_key = string_field(params, "idempotencyKey");
    ctx->workflow_id = string_field(params, "workflowId");
    json_t *attempt = json_object_get(params, "attempt");
    ctx->attempt = json_is_integer(attempt) ? (int)json_integer_value(attempt) : 1;
    ctx->deadline_ms = ms_field(params, "deadlineMs");
    ctx->heartbeat_timeout_ms = ms_field(params, "heartbeatTimeoutMs");

    pthread_mutex_lock(&w->mu);
    w->active++;
    ctx->next_running = w->running;
    w->running = ctx;
    if (w->queue_tail != NULL) {
        w->queue_tail->next_queued = ctx;
    } else {
        w->queue_head = ctx;
    }
    w->queue_tail = ctx;
    w->queued++;
    /* A small fixed pool: a new thread only when queued work outnumbers idle threads. */
    if (w->queued > w->idle_threads && w->threads < w->max_concurrent) {
        if (pthread_create(&w->thread_ids[w->threads], NULL, keel__pool_thread, w) == 0) {
            w->threads++;
        } else if (w->threads == 0) {
            keel__log("cannot start a pool thread: %s", strerror(errno));
        }
    }
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
}

void keel__cancel_locked(keel_activity_ctx_t *ctx, const char *reason) {
    if (ctx->cancelled) {
        return;
    }
    ctx->cancelled = 1;
    snprintf(ctx->cancel_reason, sizeof ctx->cancel_reason, "%s", reason);
    pthread_cond_broadcast(&ctx->worker->cancelled);
}

void keel__cancel(keel_worker_t *w, json_t *params) {
    const char *task_id = string_field(params, "taskId");
    json_t *attempt = json_object_get(params, "attempt");
    const char *reason = string_field(params, "reason");
    if (task_id == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    for (keel_activity_ctx_t *ctx = w->running; ctx != NULL; ctx = ctx->next_running) {
        if (strcmp(ctx->task_id, task_id) == 0 &&
            (!json_is_integer(attempt) || json_integer_value(attempt) == ctx->attempt)) {
            keel__cancel_locked(ctx, reason ? reason : "cancelled");
        }
    }
    /* A cancel for a task that does not run here is ignored. */
    pthread_mutex_unlock(&w->mu);
}

/* The output to send, or a failure when it cannot be sent (not retryable: the same code would
 * produce the same output). */
static json_t *checked_output(keel_activity_ctx_t *ctx, json_t *output) {
    size_t len = 0;
    char *text = keel__encode(output, &len);
    if (text == NULL) {
        json_decref(output);
        return json_pack("{s:o}", "failure",
                         failure("OutputNotSerializable", "activity output cannot be encoded as JSON", 0, NULL));
    }
    free(text);
    size_t limit = keel__conn_peer_limit(ctx->conn);
    if (limit > ENVELOPE_BYTES && len - 1 > limit - ENVELOPE_BYTES) {
        json_decref(output);
        char message[160];
        snprintf(message, sizeof message, "a %zu-byte output exceeds the %zu-byte frame limit", len - 1, limit);
        return json_pack("{s:o}", "failure",
                         failure("OutputTooLarge", message, 0, json_pack("{s:I,s:I}", "bytes", (json_int_t)(len - 1),
                                                                           "limit", (json_int_t)limit)));
    }
    return json_pack("{s:o}", "output", output);
}

void keel__run_attempt(keel_activity_ctx_t *ctx) {
    json_t *output = ctx->def->fn(ctx, ctx->input, ctx->def->userdata);
    json_t *answer;
    if (ctx->failure != NULL) {
        json_decref(output);
        answer = json_pack("{s:O}", "failure", ctx->failure);
    } else if (output != NULL) {
        answer = checked_output(ctx, output);
    } else if (keel_activity_cancelled(ctx)) {
        /* "The handler should stop; its answer to activity/execute is then ignored." */
        pthread_mutex_lock(&ctx->worker->mu);
        answer = json_pack("{s:o}", "failure", failure("Cancelled", ctx->cancel_reason, 0, NULL));
        pthread_mutex_unlock(&ctx->worker->mu);
    } else {
        answer = json_pack("{s:o}", "failure",
                           failure("NullOutput", "the activity returned NULL without a failure", 1, NULL));
    }
    keel__reply_result(ctx->reply, answer);
    ctx->reply = NULL;
}

void keel__ctx_free(keel_activity_ctx_t *ctx) {
    json_decref(ctx->failure);
    json_decref(ctx->params);
    keel__conn_release(ctx->conn);
    free(ctx);
}

/* ---- the public context API ---- */

const char *keel_activity_task_id(const keel_activity_ctx_t *ctx) { return ctx->task_id; }
const char *keel_activity_name(const keel_activity_ctx_t *ctx) { return ctx->name; }
int keel_activity_attempt(const keel_activity_ctx_t *ctx) { return ctx->attempt; }
const char *keel_activity_idempotency_key(const keel_activity_ctx_t *ctx) { return ctx->idempotency_key; }
const char *keel_activity_workflow_id(const keel_activity_ctx_t *ctx) { return ctx->workflow_id; }
long long keel_activity_deadline_ms(const keel_activity_ctx_t *ctx) { return ctx->deadline_ms; }
long long keel_activity_heartbeat_timeout_ms(const keel_activity_ctx_t *ctx) { return ctx->heartbeat_timeout_ms; }
json_t *keel_activity_heartbeat_details(const keel_activity_ctx_t *ctx) { return ctx->heartbeat_details; }

int keel_activity_cancelled(const keel_activity_ctx_t *ctx) {
    pthread_mutex_lock(&ctx->worker->mu);
    int cancelled = ctx->cancelled;
    pthread_mutex_unlock(&ctx->worker->mu);
    return cancelled;
}

static int cancel(keel_activity_ctx_t *ctx, const char *reason) {
    pthread_mutex_lock(&ctx->worker->mu);
    keel__cancel_locked(ctx, reason);
    pthread_mutex_unlock(&ctx->worker->mu);
    return 1;
}

int keel_heartbeat(keel_activity_ctx_t *ctx, json_t *details, keel_error_t *err) {
    if (keel_activity_cancelled(ctx)) {
        return 1;
    }
    json_t *params = json_pack("{s:s,s:i,s:O}", "taskId", ctx->task_id, "attempt", ctx->attempt, "details",
                               details ? details : json_null());
    keel_error_t local;
    json_t *result = keel__conn_call(ctx->conn, "activity/heartbeat", params, KEEL__HEARTBEAT_TIMEOUT_MS, &local);
    if (result == NULL) {
        if (err != NULL) {
            *err = local;
        }
        /* "A heartbeat for an attempt that is no longer current gets 2006 attemptSuperseded." */
        if (local.code == KEEL_ATTEMPT_SUPERSEDED) {
            return cancel(ctx, "attempt superseded");
        }
        if (local.code == KEEL_E_CLOSED) {
            return cancel(ctx, "connection to Keel lost");
        }
        keel__log("heartbeat for %s failed: %s", ctx->task_id, local.message);
        return -1;
    }
    /* "`cancelled: true` means the task was cancelled: stop and return (anything)." */
    int cancelled = json_is_true(json_object_get(result, "cancelled"));
    json_decref(result);
    return cancelled ? cancel(ctx, "cancelled (heartbeat answer)") : 0;
}

int keel_activity_publish(keel_activity_ctx_t *ctx, const char *name, json_t *event, keel_error_t *err) {
    json_t *params = json_pack("{s:s,s:i,s:s,s:O}", "taskId", ctx->task_id, "attempt", ctx->attempt, "name",
                               name ? name : "event", "event", event ? event : json_null());
    json_t *token = json_object_get(ctx->params, "attemptToken");
    if (token != NULL) {
        json_object_set(params, "attemptToken", token);
    }
    keel_error_t local = {0};
    json_t *result = keel__conn_call(ctx->conn, "activity/publish", params, KEEL__HEARTBEAT_TIMEOUT_MS, &local);
    if (result == NULL) {
        if (err != NULL) {
            *err = local;
        }
        /* Keel did not publish the event: the attempt ended (2006) or the connection dropped. */
        if (local.code == KEEL_ATTEMPT_SUPERSEDED) {
            cancel(ctx, "attempt superseded");
        } else if (local.code == KEEL_E_CLOSED) {
            cancel(ctx, "connection to Keel lost");
        }
        return -1;
    }
    json_decref(result);
    return 0;
}

int keel_activity_sleep(keel_activity_ctx_t *ctx, long long ms) {
    keel_worker_t *w = ctx->worker;
    struct timespec until = keel__deadline(ms);
    pthread_mutex_lock(&w->mu);
    while (!ctx->cancelled) {
        if (pthread_cond_timedwait(&w->cancelled, &w->mu, &until) == ETIMEDOUT) {
            break;
        }
    }
    int cancelled = ctx->cancelled;
    pthread_mutex_unlock(&w->mu);
    return cancelled;
}

void keel_activity_fail(keel_activity_ctx_t *ctx, const char *type, const char *message, int retryable,
                        long long retry_after_ms, json_t *details) {
    json_decref(ctx->failure);
    ctx->failure = json_pack("{s:s,s:s,s:b}", "type", type ? type : "ActivityError", "message",
                             message ? message : "", "retryable", retryable);
    if (retry_after_ms >= 0) {
        json_object_set_new(ctx->failure, "retryAfterMs", json_integer(retry_after_ms));
    }
    json_object_set_new(ctx->failure, "details", details ? details : json_null());
}

void keel_activity_raise(keel_activity_ctx_t *ctx, const char *type, const char *format, ...) {
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    keel__log("activity %s (task %s, attempt %d) failed: %s: %s", ctx->name, ctx->task_id, ctx->attempt, type,
              message);
    keel_activity_fail(ctx, type, message, 1, -1, NULL);
}
