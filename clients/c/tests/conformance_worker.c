#define _POSIX_C_SOURCE 200809L
/* The C client under test for clients/conformance/: the fixed activities every language's
 * conformance worker registers, mirroring clients/python/tests/conformance_worker.py.
 * Talks stdio: python3 clients/conformance/run.py --cmd clients/c/build/conformance_worker */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel.h>

/* Bound on waits inside the test activities, so a broken client never hangs the runner for long. */
#define WAIT_BOUND_MS 30000

static json_t *echo(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)ctx, (void)data;
    printf("a stray print from echo: must reach stderr, never the wire\n");
    fflush(stdout);
    return json_incref(input);
}

static json_t *upper_sync(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)data;
    const char *text = json_string_value(json_object_get(input, "text"));
    if (text == NULL) {
        keel_activity_raise(ctx, "KeyError", "text");
        return NULL;
    }
    char *upper = strdup(text);
    for (char *p = upper; *p; p++) {
        *p = (char)toupper((unsigned char)*p);
    }
    json_t *output = json_pack("{s:s}", "text", upper);
    free(upper);
    return output;
}

static json_t *fail(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)data;
    keel_activity_fail(ctx, "BadInput", "fail was called", 0, -1, json_pack("{s:O}", "input", input));
    return NULL;
}

static json_t *retry(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)input, (void)data;
    keel_activity_fail(ctx, "RateLimited", "429 from the API", 1, 2000, json_pack("{s:i}", "status", 429));
    return NULL;
}

static json_t *crash(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)input, (void)data;
    keel_activity_raise(ctx, "CrashError", "boom");
    return NULL;
}

static json_t *hb(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)input, (void)data;
    json_t *details = json_pack("{s:i}", "page", 1);
    keel_heartbeat(ctx, details, NULL);
    json_object_set_new(details, "page", json_integer(2));
    keel_heartbeat(ctx, details, NULL);
    json_decref(details);
    const char *key = keel_activity_idempotency_key(ctx);
    return json_pack("{s:s,s:i,s:o,s:O}", "taskId", keel_activity_task_id(ctx), "attempt", keel_activity_attempt(ctx),
                     "idempotencyKey", key ? json_string(key) : json_null(), "previous",
                     keel_activity_heartbeat_details(ctx));
}

static json_t *slow(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)input, (void)data;
    json_t *details = json_pack("{s:b}", "started", 1);
    keel_heartbeat(ctx, details, NULL);
    json_decref(details);
    if (keel_activity_sleep(ctx, WAIT_BOUND_MS)) {
        return NULL; /* cancelled: reported as a Cancelled failure */
    }
    return json_pack("{s:b}", "cancelled", 0);
}

static struct {
    pthread_mutex_t mu;
    pthread_cond_t released;
    int waiting;
} barrier_state = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static json_t *barrier(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)data;
    int count = (int)json_integer_value(json_object_get(input, "count"));
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_BOUND_MS / 1000;
    pthread_mutex_lock(&barrier_state.mu);
    if (++barrier_state.waiting >= count) {
        pthread_cond_broadcast(&barrier_state.released);
    }
    int timed_out = 0;
    while (barrier_state.waiting < count && !timed_out) {
        timed_out = pthread_cond_timedwait(&barrier_state.released, &barrier_state.mu, &until) != 0;
    }
    pthread_mutex_unlock(&barrier_state.mu);
    if (timed_out) {
        keel_activity_raise(ctx, "TimeoutError", "barrier not released");
        return NULL;
    }
    return json_pack("{s:b}", "released", 1);
}

static json_t *sleep_activity(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)data;
    json_int_t ms = json_integer_value(json_object_get(input, "ms"));
    if (keel_activity_sleep(ctx, ms)) {
        return NULL;
    }
    return json_pack("{s:I}", "slept", ms);
}

/* Publishes {"step": i} named "progress" for i = 1..steps, each awaited; a refused publish fails. */
static json_t *progress(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)data;
    json_int_t steps = json_integer_value(json_object_get(input, "steps"));
    for (json_int_t i = 1; i <= steps; i++) {
        json_t *event = json_pack("{s:I}", "step", i);
        keel_error_t err;
        int rc = keel_activity_publish(ctx, "progress", event, &err);
        json_decref(event);
        if (rc != 0) {
            keel_activity_raise(ctx, "KeelError", "publish failed: %d %s", err.code, err.message);
            return NULL;
        }
    }
    return json_pack("{s:I}", "published", steps);
}

int main(void) {
    keel_error_t err;
    keel_worker_t *w = keel_worker_new(&(keel_worker_options_t){.name = "conformance-worker", .max_concurrent = 4}, &err);
    if (w == NULL) {
        fprintf(stderr, "conformance_worker: %s\n", err.message);
        return 1;
    }
    json_t *object = json_pack("{s:s}", "type", "object");
    json_t *policy = json_pack("{s:i,s:[s]}", "maximumAttempts", 3, "nonRetryableErrorTypes", "BadInput");
    struct {
        const char *name;
        keel_activity_fn fn;
        keel_activity_options_t opts;
    } activities[] = {
        {"echo", echo, {.description = "Returns its input.", .input = object, .output = object}},
        {"upper_sync", upper_sync, {0}},
        {"fail", fail, {0}},
        {"retry", retry, {.retry_policy = policy, .start_to_close_ms = 5000}},
        {"crash", crash, {0}},
        {"hb", hb, {0}},
        {"slow", slow, {0}},
        {"barrier", barrier, {0}},
        {"sleep", sleep_activity, {0}},
        {"progress", progress, {0}},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof activities / sizeof activities[0] && rc == 0; i++) {
        rc = keel_worker_register_activity(w, activities[i].name, activities[i].fn, NULL, &activities[i].opts, &err);
    }
    json_decref(object);
    json_decref(policy);
    if (rc == 0) {
        rc = keel_worker_run(w, &err);
    }
    if (rc != 0) {
        fprintf(stderr, "conformance_worker: %s\n", err.message);
    }
    keel_worker_free(w);
    return rc == 0 ? 0 : 1;
}
