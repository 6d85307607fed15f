/* Schedules: each keel_schedule_* call sends the documented schedule/... params (optional ones only
 * when set) and hands back the result or the wire error, checked against a scripted peer over a
 * real Unix socket. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h"
#include "peer.h"

typedef struct schedule_script {
    peer_t peer;
    json_t *requests; /* every request after initialize, in order */
    pthread_t thread;
} schedule_script_t;

static const char *const DESCRIBED =
    "{\"scheduleId\":\"nightly\",\"spec\":{\"intervalMs\":60000},\"action\":{\"workflow\":\"reports.daily\"},"
    "\"overlap\":\"skip\",\"catchupWindowMs\":31536000000,\"paused\":false,\"createdAtMs\":1,\"updatedAtMs\":1,"
    "\"nextActionTimesMs\":[60000],\"recentActions\":[],\"started\":0,\"skipped\":0}";

/* The wire error for a request naming scheduleId "missing" (1020), or creating "taken" (1021). */
static json_t *schedule_error(const char *method, json_t *params) {
    const char *id = json_string_value(json_object_get(params, "scheduleId"));
    if (id != NULL && strcmp(id, "missing") == 0) {
        return json_pack("{s:i,s:s,s:{s:s}}", "code", KEEL_SCHEDULE_NOT_FOUND, "message", "schedule not found", "data",
                         "scheduleId", id);
    }
    if (id != NULL && strcmp(id, "taken") == 0 && strcmp(method, "schedule/create") == 0) {
        return json_pack("{s:i,s:s,s:{s:s}}", "code", KEEL_SCHEDULE_ALREADY_EXISTS, "message",
                         "schedule already exists", "data", "scheduleId", id);
    }
    return NULL;
}

static json_t *schedule_result(const char *method) {
    if (strcmp(method, "schedule/list") == 0) {
        return json_loads("{\"schedules\":[{\"scheduleId\":\"nightly\",\"workflow\":\"reports.daily\","
                          "\"spec\":{\"intervalMs\":60000},\"paused\":false}],\"nextCursor\":\"nightly\"}",
                          0, NULL);
    }
    if (strcmp(method, "schedule/trigger") == 0) {
        return json_loads("{\"scheduleId\":\"nightly\",\"workflowId\":\"nightly-2026-12-05T08:00:00Z\",\"started\":true}",
                          0, NULL);
    }
    if (strcmp(method, "schedule/delete") == 0) {
        return json_loads("{\"scheduleId\":\"nightly\",\"deleted\":true}", 0, NULL);
    }
    return json_loads(DESCRIBED, 0, NULL); /* create, describe, pause, unpause */
}

static void *serve_schedules(void *arg) {
    schedule_script_t *s = arg;
    if (peer_accept(&s->peer) != 0) {
        return NULL;
    }
    json_t *request;
    while ((request = peer_read(&s->peer)) != NULL) {
        const char *method = json_string_value(json_object_get(request, "method"));
        json_t *params = json_object_get(request, "params");
        if (method != NULL && strcmp(method, "initialize") == 0) {
            peer_answer(&s->peer, request,
                        json_pack("{s:s,s:{s:s,s:s},s:{s:b,s:i}}", "protocolVersion", "1", "serverInfo", "name", "keel",
                                  "version", "0.1.0", "capabilities", "batches", 1, "maxMessageBytes", 16777216));
        } else {
            json_array_append(s->requests, request);
            json_t *error = schedule_error(method ? method : "", params);
            if (error != NULL) {
                peer_send(&s->peer, json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", json_object_get(request, "id"),
                                              "error", error));
            } else {
                peer_answer(&s->peer, request, schedule_result(method ? method : ""));
            }
        }
        json_decref(request);
    }
    return NULL;
}

static keel_client_t *schedule_start(schedule_script_t *s) {
    char path[256];
    snprintf(path, sizeof path, "%s/s.sock", harness_tmpdir());
    s->requests = json_array();
    if (peer_listen_unix(&s->peer, path) != 0) {
        return NULL;
    }
    pthread_create(&s->thread, NULL, serve_schedules, s);
    return keel_client_connect(&(keel_client_options_t){.socket_path = path}, NULL);
}

/* Closes the client, stops the peer and returns the requests it saw as compact JSON
 * `[[method, params], ...]` (free it). */
static char *schedule_finish(schedule_script_t *s, keel_client_t *c) {
    keel_client_close(c);
    pthread_join(s->thread, NULL);
    peer_free(&s->peer);
    json_t *seen = json_array();
    size_t i;
    json_t *request;
    json_array_foreach(s->requests, i, request) {
        json_array_append_new(seen, json_pack("[O,O]", json_object_get(request, "method"),
                                              json_object_get(request, "params")));
    }
    char *text = json_dumps(seen, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(seen);
    json_decref(s->requests);
    return text;
}

/* expected, reloaded and dumped the same way as schedule_finish's text. */
static int same_requests(const char *got, const char *expected) {
    json_t *want = json_loads(expected, 0, NULL);
    char *text = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
    int same = text != NULL && got != NULL && strcmp(got, text) == 0;
    free(text);
    json_decref(want);
    return same;
}

TEST(schedule_calls_send_the_documented_params_and_return_the_results) {
    schedule_script_t s;
    keel_client_t *c = schedule_start(&s);
    CHECK(c != NULL);
    keel_error_t err = {0};
    json_t *spec = json_pack("{s:s,s:s}", "cron", "0 9 * * MON-FRI", "timeZone", "Europe/Paris");
    json_t *action = json_pack("{s:s,s:{s:i}}", "workflow", "reports.daily", "input", "n", 1);
    json_t *results[6];
    results[0] = keel_schedule_create(c, "nightly", spec, action, NULL, &err);
    results[1] = keel_schedule_describe(c, "nightly", &err);
    results[2] = keel_schedule_list(c, 50, "abc", &err);
    results[3] = keel_schedule_pause(c, "nightly", "maintenance", &err);
    results[4] = keel_schedule_unpause(c, "nightly", NULL, &err);
    results[5] = keel_schedule_trigger(c, "nightly", "allowAll", &err);
    int deleted = keel_schedule_delete(c, "nightly", &err);
    json_decref(spec);
    json_decref(action);
    char *sent = schedule_finish(&s, c);
    int params_ok = same_requests(
        sent,
        "[[\"schedule/create\",{\"scheduleId\":\"nightly\",\"spec\":{\"cron\":\"0 9 * * MON-FRI\","
        "\"timeZone\":\"Europe/Paris\"},\"action\":{\"workflow\":\"reports.daily\",\"input\":{\"n\":1}}}],"
        "[\"schedule/describe\",{\"scheduleId\":\"nightly\"}],"
        "[\"schedule/list\",{\"limit\":50,\"cursor\":\"abc\"}],"
        "[\"schedule/pause\",{\"scheduleId\":\"nightly\",\"note\":\"maintenance\"}],"
        "[\"schedule/unpause\",{\"scheduleId\":\"nightly\"}],"
        "[\"schedule/trigger\",{\"scheduleId\":\"nightly\",\"overlap\":\"allowAll\"}],"
        "[\"schedule/delete\",{\"scheduleId\":\"nightly\"}]]");
    int results_ok = 1;
    for (size_t i = 0; i < 6; i++) {
        results_ok &= results[i] != NULL;
    }
    results_ok = results_ok && strcmp(json_string_value(json_object_get(results[1], "overlap")), "skip") == 0 &&
                 strcmp(json_string_value(json_object_get(results[2], "nextCursor")), "nightly") == 0 &&
                 json_is_true(json_object_get(results[5], "started"));
    for (size_t i = 0; i < 6; i++) {
        json_decref(results[i]);
    }
    CHECK_MSG(params_ok, "sent %s", sent);
    free(sent);
    CHECK_MSG(results_ok, "a result is missing: %d %s", err.code, err.message);
    CHECK(deleted == 0);
}

/* Options go on the wire only when set: catchupWindowMs by its has_ flag (so 0 reaches Keel,
 * which refuses it), paused only as true; list without limit/cursor and trigger without overlap
 * send neither, so Keel's defaults apply. */
TEST(schedule_optional_params_are_sent_only_when_set) {
    schedule_script_t s;
    keel_client_t *c = schedule_start(&s);
    CHECK(c != NULL);
    keel_error_t err = {0};
    json_t *spec = json_pack("{s:i}", "intervalMs", 60000);
    json_t *action = json_pack("{s:s}", "workflow", "reports.daily");
    keel_schedule_options_t all = {.overlap = "bufferOne", .has_catchup_window_ms = 1, .catchup_window_ms = 10000,
                                   .paused = 1, .note = "created by a test"};
    json_t *results[5];
    results[0] = keel_schedule_create(c, "a", spec, action, &all, &err);
    results[1] = keel_schedule_create(c, "b", spec, action, &(keel_schedule_options_t){.catchup_window_ms = 60000},
                                      &err);
    results[2] = keel_schedule_create(c, "c", spec, action, &(keel_schedule_options_t){.has_catchup_window_ms = 1},
                                      &err);
    results[3] = keel_schedule_list(c, 0, NULL, &err);
    results[4] = keel_schedule_trigger(c, "a", NULL, &err);
    json_decref(spec);
    json_decref(action);
    char *sent = schedule_finish(&s, c);
    int params_ok = same_requests(
        sent,
        "[[\"schedule/create\",{\"scheduleId\":\"a\",\"spec\":{\"intervalMs\":60000},\"action\":{\"workflow\":"
        "\"reports.daily\"},\"overlap\":\"bufferOne\",\"catchupWindowMs\":10000,\"paused\":true,"
        "\"note\":\"created by a test\"}],"
        "[\"schedule/create\",{\"scheduleId\":\"b\",\"spec\":{\"intervalMs\":60000},\"action\":{\"workflow\":"
        "\"reports.daily\"}}],"
        "[\"schedule/create\",{\"scheduleId\":\"c\",\"spec\":{\"intervalMs\":60000},\"action\":{\"workflow\":"
        "\"reports.daily\"},\"catchupWindowMs\":0}],"
        "[\"schedule/list\",{}],"
        "[\"schedule/trigger\",{\"scheduleId\":\"a\"}]]");
    int results_ok = 1;
    for (size_t i = 0; i < 5; i++) {
        results_ok &= results[i] != NULL;
        json_decref(results[i]);
    }
    CHECK_MSG(params_ok, "sent %s", sent);
    free(sent);
    CHECK(results_ok);
}

TEST(schedule_errors_keep_the_wire_code_1020_and_1021) {
    schedule_script_t s;
    keel_client_t *c = schedule_start(&s);
    CHECK(c != NULL);
    keel_error_t missing = {0}, taken = {0}, gone = {0}, paused = {0};
    json_t *spec = json_pack("{s:i}", "intervalMs", 60000);
    json_t *action = json_pack("{s:s}", "workflow", "reports.daily");
    json_t *described = keel_schedule_describe(c, "missing", &missing);
    json_t *created = keel_schedule_create(c, "taken", spec, action, NULL, &taken);
    int deleted = keel_schedule_delete(c, "missing", &gone);
    json_t *after_pause = keel_schedule_pause(c, "missing", NULL, &paused);
    json_decref(spec);
    json_decref(action);
    free(schedule_finish(&s, c));
    CHECK(described == NULL && created == NULL && deleted == -1 && after_pause == NULL);
    CHECK_MSG(missing.code == KEEL_SCHEDULE_NOT_FOUND && missing.code == 1020, "describe: %d", missing.code);
    CHECK_MSG(strcmp(missing.message, "schedule not found") == 0, "message %s", missing.message);
    CHECK_MSG(strcmp(missing.data, "{\"scheduleId\":\"missing\"}") == 0, "data %s", missing.data);
    CHECK_MSG(taken.code == KEEL_SCHEDULE_ALREADY_EXISTS && taken.code == 1021, "create: %d", taken.code);
    CHECK_MSG(gone.code == KEEL_SCHEDULE_NOT_FOUND, "delete: %d", gone.code);
    CHECK_MSG(paused.code == KEEL_SCHEDULE_NOT_FOUND, "pause: %d", paused.code);
}

TEST(schedule_bad_arguments_fail_locally_without_a_request) {
    schedule_script_t s;
    keel_client_t *c = schedule_start(&s);
    CHECK(c != NULL);
    keel_error_t no_id = {0}, not_object = {0}, no_action = {0}, delete_no_id = {0};
    json_t *spec = json_pack("{s:i}", "intervalMs", 60000);
    json_t *action = json_pack("{s:s}", "workflow", "reports.daily");
    json_t *text = json_string("@hourly");
    json_t *r1 = keel_schedule_create(c, NULL, spec, action, NULL, &no_id);
    json_t *r2 = keel_schedule_create(c, "a", text, action, NULL, &not_object);
    json_t *r3 = keel_schedule_create(c, "a", spec, NULL, NULL, &no_action);
    int r4 = keel_schedule_delete(c, NULL, &delete_no_id);
    json_t *r5 = keel_schedule_describe(c, NULL, NULL); /* err may be NULL */
    json_decref(spec);
    json_decref(action);
    json_decref(text);
    char *sent = schedule_finish(&s, c);
    int none_sent = same_requests(sent, "[]");
    CHECK(r1 == NULL && r2 == NULL && r3 == NULL && r4 == -1 && r5 == NULL);
    CHECK(no_id.code == KEEL_E_ARGUMENT && not_object.code == KEEL_E_ARGUMENT && no_action.code == KEEL_E_ARGUMENT &&
          delete_no_id.code == KEEL_E_ARGUMENT);
    CHECK_MSG(none_sent, "sent %s", sent);
    free(sent);
}

/* After a dropped connection describe and list are sent again (reads); create, pause, unpause,
 * trigger and delete are not (a repeat could answer 1021/1020 or start twice). */
TEST(schedule_reads_are_repeated_after_a_reconnect_and_changes_are_not) {
    json_t *params = json_pack("{s:s}", "scheduleId", "nightly");
    int ok = keel__safe_to_repeat("schedule/describe", params) && keel__safe_to_repeat("schedule/list", params) &&
             !keel__safe_to_repeat("schedule/create", params) && !keel__safe_to_repeat("schedule/pause", params) &&
             !keel__safe_to_repeat("schedule/unpause", params) && !keel__safe_to_repeat("schedule/trigger", params) &&
             !keel__safe_to_repeat("schedule/delete", params);
    json_decref(params);
    CHECK(ok);
}
