/* Live schedules: the real `keel` binary (KEEL_BIN, default <repo>/.build/debug/keel) on a per-test
 * socket and this library's client. No worker: the workflows a schedule starts stay pending, which
 * is all these checks need. Skipped without the binary, or when it has no schedule/... methods. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "keel.h"
#include "live_server.h"

/* Bound on waiting for an interval-1000 schedule to start its second workflow (about 2 s). */
#define SCHED_STARTS_WAIT_MS 20000
#define SCHED_ID "c-sched"

/* Writes a failure into why; returns -1 (for `return fail(...)`). */
static int fail(char *why, size_t size, const char *format, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t size, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(why, size, format, args);
    va_end(args);
    return -1;
}

static int starts_with_id(const char *workflow_id) {
    return workflow_id != NULL && strncmp(workflow_id, SCHED_ID "-", strlen(SCHED_ID "-")) == 0;
}

/* Polls describe until `started` >= 2, then checks recentActions' workflow ids. */
static int check_started_twice(keel_client_t *c, char *why, size_t size) {
    json_t *described = NULL;
    keel_error_t err = {0};
    for (int waited = 0; waited <= SCHED_STARTS_WAIT_MS; waited += 200) {
        json_decref(described);
        described = keel_schedule_describe(c, SCHED_ID, &err);
        if (described == NULL) {
            return fail(why, size, "describe: %d %s", err.code, err.message);
        }
        if (json_integer_value(json_object_get(described, "started")) >= 2) {
            break;
        }
        pause_ms(200);
    }
    long long started = json_integer_value(json_object_get(described, "started"));
    json_t *actions = json_object_get(described, "recentActions");
    int ids_ok = json_array_size(actions) >= 2;
    for (size_t i = 0; ids_ok && i < json_array_size(actions); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(actions, i), "workflowId"));
        ids_ok = starts_with_id(id);
        for (size_t j = 0; ids_ok && j < i; j++) {
            const char *other = json_string_value(json_object_get(json_array_get(actions, j), "workflowId"));
            ids_ok = strcmp(id, other) != 0;
        }
    }
    char *text = json_dumps(actions, JSON_COMPACT);
    int rc = started < 2 ? fail(why, size, "started %lld after %d ms", started, SCHED_STARTS_WAIT_MS)
             : !ids_ok   ? fail(why, size, "recentActions' ids not distinct or not <id>-...: %s", text)
                         : 0;
    free(text);
    json_decref(described);
    return rc;
}

static int list_has_it(keel_client_t *c) {
    json_t *page = keel_schedule_list(c, 0, NULL, NULL);
    int found = 0;
    size_t i;
    json_t *schedule;
    json_array_foreach(json_object_get(page, "schedules"), i, schedule) {
        const char *id = json_string_value(json_object_get(schedule, "scheduleId"));
        found |= id != NULL && strcmp(id, SCHED_ID) == 0;
    }
    json_decref(page);
    return found;
}

/* The scenario after a successful create; 0, or -1 with why filled. */
static int check_lifecycle(keel_client_t *c, json_t *spec, json_t *action, char *why, size_t size) {
    if (check_started_twice(c, why, size) != 0) {
        return -1;
    }
    keel_error_t err = {0};
    json_t *again = keel_schedule_create(c, SCHED_ID, spec, action, NULL, &err);
    json_decref(again);
    if (again != NULL || err.code != KEEL_SCHEDULE_ALREADY_EXISTS) {
        return fail(why, size, "create again: want 1021, got %d %s", err.code, err.message);
    }
    err = (keel_error_t){0};
    json_t *paused = keel_schedule_pause(c, SCHED_ID, "paused by the C live test", &err);
    int paused_ok = json_is_true(json_object_get(paused, "paused"));
    json_decref(paused);
    json_t *described = keel_schedule_describe(c, SCHED_ID, &err);
    paused_ok &= json_is_true(json_object_get(described, "paused"));
    json_decref(described);
    if (!paused_ok) {
        return fail(why, size, "pause: not paused (%d %s)", err.code, err.message);
    }
    err = (keel_error_t){0};
    json_t *triggered = keel_schedule_trigger(c, SCHED_ID, "allowAll", &err);
    int triggered_ok = json_is_true(json_object_get(triggered, "started")) &&
                       starts_with_id(json_string_value(json_object_get(triggered, "workflowId")));
    char *answer = triggered != NULL ? json_dumps(triggered, JSON_COMPACT) : NULL;
    json_decref(triggered);
    if (!triggered_ok) {
        fail(why, size, "trigger while paused: not started: %s (%d %s)", answer ? answer : "no answer", err.code,
             err.message);
    }
    free(answer);
    if (!triggered_ok) {
        return -1;
    }
    err = (keel_error_t){0};
    if (!list_has_it(c)) {
        return fail(why, size, "schedule/list does not show " SCHED_ID);
    }
    if (keel_schedule_delete(c, SCHED_ID, &err) != 0) {
        return fail(why, size, "delete: %d %s", err.code, err.message);
    }
    json_t *gone = keel_schedule_describe(c, SCHED_ID, &err);
    json_decref(gone);
    if (gone != NULL || err.code != KEEL_SCHEDULE_NOT_FOUND) {
        return fail(why, size, "describe after delete: want 1020, got %d %s", err.code, err.message);
    }
    return 0;
}

TEST(live_schedule_starts_each_interval_and_pauses_triggers_lists_and_deletes) {
    if (skip_without_binary()) {
        return;
    }
    server_t s = {0};
    CHECK(server_start(&s) == 0);
    keel_error_t err = {0};
    keel_client_t *c = connect_client(&s, &err);
    json_t *spec = json_pack("{s:i}", "intervalMs", 1000);
    json_t *action = json_pack("{s:s}", "workflow", "sched.noop");
    /* allowAll: the started workflows stay pending (no worker), and under the default "skip" a
     * running one would skip every later slot. */
    keel_schedule_options_t opts = {.overlap = "allowAll"};
    json_t *created = c != NULL ? keel_schedule_create(c, SCHED_ID, spec, action, &opts, &err) : NULL;
    char why[600] = "";
    int rc = created != NULL ? check_lifecycle(c, spec, action, why, sizeof why) : -1;
    const char *overlap = json_string_value(json_object_get(created, "overlap"));
    json_t *interval = json_object_get(json_object_get(created, "spec"), "intervalMs");
    int created_ok = overlap != NULL && strcmp(overlap, "allowAll") == 0 && json_integer_value(interval) == 1000;
    int got_created = created != NULL;
    json_decref(created);
    json_decref(spec);
    json_decref(action);
    keel_client_close(c);
    server_stop(&s, 0);
    if (!got_created && err.code == KEEL_METHOD_NOT_FOUND) {
        harness_skip("the keel binary answers -32601 for schedule/create (no schedules yet)");
        return;
    }
    CHECK_MSG(got_created, "create: %d %s", err.code, err.message);
    CHECK_MSG(created_ok, "create did not answer the schedule as described (overlap allowAll, intervalMs 1000)");
    CHECK_MSG(rc == 0, "%s", why);
}
