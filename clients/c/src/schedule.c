/* keel_schedule_*: the schedule/... client calls (create, describe, list, pause, unpause, trigger,
 * delete). Each is one blocking keel_client_call; optional params go on the wire only when set. */
#include <string.h>

#include "internal.h"

/* Bound on each schedule call: Keel answers them at once (no server-side wait). */
#define SCHEDULE_CALL_TIMEOUT_MS 30000

/* 0 when the id is given; else -1 with KEEL_E_ARGUMENT (json_pack would fail on a NULL string). */
static int check_id(const char *schedule_id, const char *method, keel_error_t *err) {
    if (schedule_id == NULL) {
        keel__set_error(err, KEEL_E_ARGUMENT, "%s needs a scheduleId", method);
        return -1;
    }
    return 0;
}

/* Sends `method {scheduleId, <key>?}`, with key only when value is not NULL. */
static json_t *call_by_id(keel_client_t *c, const char *method, const char *schedule_id, const char *key,
                          const char *value, keel_error_t *err) {
    if (check_id(schedule_id, method, err) != 0) {
        return NULL;
    }
    json_t *params = json_pack("{s:s}", "scheduleId", schedule_id);
    if (key != NULL && value != NULL) {
        json_object_set_new(params, key, json_string(value));
    }
    return keel_client_call(c, method, params, SCHEDULE_CALL_TIMEOUT_MS, err);
}

json_t *keel_schedule_create(keel_client_t *c, const char *schedule_id, json_t *spec, json_t *action,
                             const keel_schedule_options_t *opts, keel_error_t *err) {
    keel_schedule_options_t none = {0};
    if (opts == NULL) {
        opts = &none;
    }
    if (check_id(schedule_id, "schedule/create", err) != 0) {
        return NULL;
    }
    if (!json_is_object(spec) || !json_is_object(action)) {
        keel__set_error(err, KEEL_E_ARGUMENT, "schedule/create needs spec and action as JSON objects");
        return NULL;
    }
    json_t *params = json_pack("{s:s,s:O,s:O}", "scheduleId", schedule_id, "spec", spec, "action", action);
    if (opts->overlap != NULL) {
        json_object_set_new(params, "overlap", json_string(opts->overlap));
    }
    if (opts->has_catchup_window_ms) {
        json_object_set_new(params, "catchupWindowMs", json_integer(opts->catchup_window_ms));
    }
    if (opts->paused) {
        json_object_set_new(params, "paused", json_true());
    }
    if (opts->note != NULL) {
        json_object_set_new(params, "note", json_string(opts->note));
    }
    return keel_client_call(c, "schedule/create", params, SCHEDULE_CALL_TIMEOUT_MS, err);
}

json_t *keel_schedule_describe(keel_client_t *c, const char *schedule_id, keel_error_t *err) {
    return call_by_id(c, "schedule/describe", schedule_id, NULL, NULL, err);
}

json_t *keel_schedule_list(keel_client_t *c, int limit, const char *cursor, keel_error_t *err) {
    json_t *params = json_object();
    if (limit > 0) {
        json_object_set_new(params, "limit", json_integer(limit));
    }
    if (cursor != NULL) {
        json_object_set_new(params, "cursor", json_string(cursor));
    }
    return keel_client_call(c, "schedule/list", params, SCHEDULE_CALL_TIMEOUT_MS, err);
}

json_t *keel_schedule_pause(keel_client_t *c, const char *schedule_id, const char *note, keel_error_t *err) {
    return call_by_id(c, "schedule/pause", schedule_id, "note", note, err);
}

json_t *keel_schedule_unpause(keel_client_t *c, const char *schedule_id, const char *note, keel_error_t *err) {
    return call_by_id(c, "schedule/unpause", schedule_id, "note", note, err);
}

json_t *keel_schedule_trigger(keel_client_t *c, const char *schedule_id, const char *overlap, keel_error_t *err) {
    return call_by_id(c, "schedule/trigger", schedule_id, "overlap", overlap, err);
}

int keel_schedule_delete(keel_client_t *c, const char *schedule_id, keel_error_t *err) {
    json_t *result = call_by_id(c, "schedule/delete", schedule_id, NULL, NULL, err);
    json_decref(result);
    return result != NULL ? 0 : -1;
}
