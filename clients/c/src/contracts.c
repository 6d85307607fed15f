/* Activity contracts: from options, or from a folder of contract files. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

/* "`name` matches ^[A-Za-z_][A-Za-z0-9_.\-]*$" (docs/protocol.md, worker/register). */
int keel__valid_name(const char *name) {
    if (name == NULL || !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_')) {
        return 0;
    }
    for (const char *p = name + 1; *p; p++) {
        int ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                 *p == '.' || *p == '-';
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

static void set_first(json_t *wire, const char *key, json_t *mine, json_t *contract) {
    json_t *value = mine != NULL ? mine : json_object_get(contract, key);
    if (value != NULL) {
        json_object_set(wire, key, value);
    }
}

json_t *keel__activity_wire(const char *name, const keel_activity_options_t *opts, json_t *contract) {
    keel_activity_options_t none = {0};
    if (opts == NULL) {
        opts = &none;
    }
    json_t *wire = json_pack("{s:s}", "name", name);
    json_t *description = opts->description ? json_string(opts->description) : NULL;
    set_first(wire, "description", description, contract);
    json_decref(description);
    set_first(wire, "input", opts->input, contract);
    set_first(wire, "output", opts->output, contract);
    set_first(wire, "retryPolicy", opts->retry_policy, contract);
    /* Durations are integer milliseconds in fields ending Ms; unset ones are omitted, not null. */
    const struct {
        const char *key;
        long long ms;
    } timeouts[] = {{"startToCloseMs", opts->start_to_close_ms},
                    {"scheduleToStartMs", opts->schedule_to_start_ms},
                    {"scheduleToCloseMs", opts->schedule_to_close_ms},
                    {"heartbeatTimeoutMs", opts->heartbeat_ms}};
    json_t *mine = json_object();
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        if (timeouts[i].ms > 0) {
            json_object_set_new(mine, timeouts[i].key, json_integer(timeouts[i].ms));
        }
    }
    set_first(wire, "timeouts", json_object_size(mine) > 0 ? mine : NULL, contract);
    json_decref(mine);
    return wire;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int load_one(json_t *contracts, const char *path, keel_error_t *err) {
    json_error_t error;
    json_t *contract = json_load_file(path, 0, &error);
    if (contract == NULL) {
        keel__set_error(err, KEEL_E_CONFIG, "%s:%d: not JSON: %s", path, error.line, error.text);
        return -1;
    }
    const char *name = json_string_value(json_object_get(contract, "name"));
    const char *missing = NULL;
    if (name == NULL) {
        keel__set_error(err, KEEL_E_CONFIG, "%s: a contract is an object with a string \"name\"", path);
    } else if ((missing = !json_object_get(contract, "version")  ? "version"
                          : !json_object_get(contract, "input")  ? "input"
                          : !json_object_get(contract, "output") ? "output"
                                                                 : NULL) != NULL) {
        keel__set_error(err, KEEL_E_CONFIG, "%s: contract %s lacks \"%s\"", path, name, missing);
    } else if (json_object_get(contracts, name) != NULL) {
        keel__set_error(err, KEEL_E_CONFIG, "%s: a second contract for %s", path, name);
    } else {
        json_object_set_new(contracts, name, contract);
        return 0;
    }
    json_decref(contract);
    return -1;
}

int keel_worker_load_contracts(keel_worker_t *w, const char *dir, keel_error_t *err) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        keel__set_error(err, KEEL_E_OS, "cannot open contract folder %s: %s", dir, strerror(errno));
        return -1;
    }
    /* Read all first, then merge, so a bad file leaves the worker unchanged. */
    json_t *loaded = json_object();
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.' || !ends_with(entry->d_name, ".json")) {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        rc = load_one(loaded, path, err);
    }
    closedir(d);
    const char *name;
    json_t *contract;
    json_object_foreach(loaded, name, contract) {
        if (rc == 0 && json_object_get(w->contracts, name) != NULL) {
            keel__set_error(err, KEEL_E_CONFIG, "%s: a second contract for %s", dir, name);
            rc = -1;
        }
    }
    if (rc == 0) {
        json_object_update(w->contracts, loaded);
    }
    json_decref(loaded);
    return rc;
}
