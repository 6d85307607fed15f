/* Reconnect rules shared by keel_client_t and keel_worker_t (docs/clients.md "Reconnecting"). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

void keel__backoff_init(keel__backoff_t *b, int initial_ms, int max_ms) {
    b->initial_ms = initial_ms > 0 ? initial_ms : KEEL__RECONNECT_INITIAL_MS;
    b->max_ms = max_ms > 0 ? max_ms : KEEL__RECONNECT_MAX_MS;
    if (b->max_ms < b->initial_ms) {
        b->max_ms = b->initial_ms;
    }
    b->failures = 0;
    b->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(size_t)b;
}

void keel__backoff_reset(keel__backoff_t *b) {
    b->failures = 0;
}

int keel__backoff_next(keel__backoff_t *b) {
    long long bound = b->max_ms;
    if (b->failures < 30 && ((long long)b->initial_ms << b->failures) < bound) {
        bound = (long long)b->initial_ms << b->failures;
    }
    b->failures++;
    return (int)(rand_r(&b->seed) % (bound + 1)); /* full jitter: uniform in [0, bound] */
}

const keel__endpoint_t *keel__endpoints_current(const keel__endpoints_t *eps) {
    return &eps->items[eps->index];
}

void keel__endpoints_succeeded(keel__endpoints_t *eps) {
    eps->failures = 0;
}

int keel__endpoints_failed(keel__endpoints_t *eps) {
    eps->index = (eps->index + 1) % eps->count;
    if (++eps->failures < eps->count) {
        return 0;
    }
    eps->failures = 0;
    return 1;
}

/* Reads: repeating them changes nothing in Keel. */
static const char *const reads[] = {"ping",          "activity/result",  "workflow/result", "workflow/describe",
                                    "workflow/history", "workflow/list", "worker/list",
                                    "workflow/follow", "schedule/describe", "schedule/list"};

int keel__safe_to_repeat(const char *method, json_t *params) {
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        if (strcmp(method, reads[i]) == 0) {
            return 1;
        }
    }
    if (strcmp(method, "activity/call") == 0) {
        return json_string_value(json_object_get(params, "idempotencyKey")) != NULL;
    }
    if (strcmp(method, "workflow/signal") == 0) {
        return json_string_value(json_object_get(params, "requestId")) != NULL;
    }
    if (strcmp(method, "workflow/start") == 0) {
        const char *policy = json_string_value(json_object_get(params, "conflictPolicy"));
        return json_string_value(json_object_get(params, "workflowId")) != NULL &&
               (policy == NULL || strcmp(policy, "fail") != 0);
    }
    return 0;
}
