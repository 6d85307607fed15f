/* Errors, logging and clocks. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

void keel__set_error(keel_error_t *err, int code, const char *format, ...) {
    if (err == NULL) {
        return;
    }
    err->code = code;
    err->data[0] = '\0';
    va_list args;
    va_start(args, format);
    vsnprintf(err->message, sizeof err->message, format, args);
    va_end(args);
}

void keel__set_wire_error(keel_error_t *err, json_t *error) {
    if (err == NULL) {
        return;
    }
    json_t *code = json_object_get(error, "code");
    const char *message = json_string_value(json_object_get(error, "message"));
    if (!json_is_object(error) || !json_is_integer(code)) {
        keel__set_error(err, KEEL_INTERNAL_ERROR, "malformed error object from the peer");
        return;
    }
    keel__set_error(err, (int)json_integer_value(code), "%s", message ? message : "");
    json_t *data = json_object_get(error, "data");
    if (data != NULL && !json_is_null(data)) {
        char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text != NULL) {
            snprintf(err->data, sizeof err->data, "%s", text);
            free(text);
        }
    }
}

void keel__log(const char *format, ...) {
    char line[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    /* One fprintf per line so lines from several threads do not interleave. */
    fprintf(stderr, "keel: %s\n", line);
}

long long keel__now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

struct timespec keel__deadline(long long ms) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (ms < 0) {
        ms = 0;
    }
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec += 1;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

int keel__cond_init_monotonic(pthread_cond_t *cond) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}
