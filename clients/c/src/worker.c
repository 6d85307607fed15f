/* keel_worker_t: registers activities with Keel and serves activity/execute on a thread pool. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

#define DEFAULT_MAX_CONCURRENT 16
#define MAX_CONCURRENT_LIMIT 10000 /* "maxConcurrent (default 1, max 10000)" */
#define DEFAULT_DRAIN_TIMEOUT_MS 30000

static char *dup_or_null(const char *s) {
    return s != NULL ? strdup(s) : NULL;
}

keel_worker_t *keel_worker_new(const keel_worker_options_t *opts, keel_error_t *err) {
    keel_worker_options_t defaults = {0};
    if (opts == NULL) {
        opts = &defaults;
    }
    int max = opts->max_concurrent ? opts->max_concurrent : DEFAULT_MAX_CONCURRENT;
    if (max < 1 || max > MAX_CONCURRENT_LIMIT) {
        keel__set_error(err, KEEL_E_ARGUMENT, "max_concurrent must be between 1 and %d", MAX_CONCURRENT_LIMIT);
        return NULL;
    }
    if (opts->name != NULL && opts->name[0] == '\0') {
        keel__set_error(err, KEEL_E_ARGUMENT, "the worker name must not be empty");
        return NULL;
    }
    /* jansson seeds its hash function on first use; do it here, before any thread (jansson:
     * doc/threadsafety.rst). No effect when already seeded. */
    json_object_seed(0);
    keel_worker_t *w = calloc(1, sizeof *w);
    w->thread_ids = calloc((size_t)max, sizeof *w->thread_ids);
    if (w == NULL || w->thread_ids == NULL || pipe(w->events) != 0) {
        keel__set_error(err, KEEL_E_OS, "cannot create the worker: %s", strerror(errno));
        if (w != NULL) {
            free(w->thread_ids);
        }
        free(w);
        return NULL;
    }
    /* Non-blocking both ends: a signal handler must never block on a full pipe, and the run
     * loop drains it without blocking. */
    for (int i = 0; i < 2; i++) {
        fcntl(w->events[i], F_SETFL, fcntl(w->events[i], F_GETFL) | O_NONBLOCK);
        fcntl(w->events[i], F_SETFD, FD_CLOEXEC);
    }
    w->name = strdup(opts->name ? opts->name : "c-worker");
    w->socket_path = dup_or_null(opts->socket_path);
    w->tcp = dup_or_null(opts->tcp);
    w->socket_paths = keel__strv_dup(opts->socket_paths);
    w->tcp_addresses = keel__strv_dup(opts->tcp_addresses);
    w->token = dup_or_null(opts->token);
    keel__tls_copy(&w->tls, &opts->tls);
    w->max_concurrent = max;
    w->max_frame_bytes = opts->max_frame_bytes ? opts->max_frame_bytes : KEEL_DEFAULT_MAX_FRAME_BYTES;
    w->reconnect = !opts->no_reconnect;
    keel__backoff_init(&w->backoff, opts->reconnect_initial_ms, opts->reconnect_max_ms);
    w->drain_timeout_ms = opts->drain_timeout_ms > 0 ? opts->drain_timeout_ms : DEFAULT_DRAIN_TIMEOUT_MS;
    w->signal_handlers = !opts->no_signal_handlers;
    w->contracts = json_object();
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    keel__cond_init_monotonic(&w->cancelled);
    return w;
}

void keel_worker_free(keel_worker_t *w) {
    if (w == NULL) {
        return;
    }
    for (size_t i = 0; i < w->n_activities; i++) {
        free(w->activities[i].name);
        json_decref(w->activities[i].wire);
    }
    free(w->activities);
    json_decref(w->contracts);
    free(w->name);
    free(w->socket_path);
    free(w->tcp);
    keel__strv_free(w->socket_paths);
    keel__strv_free(w->tcp_addresses);
    free(w->token);
    keel__tls_free(&w->tls);
    free(w->thread_ids);
    close(w->events[0]);
    close(w->events[1]);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->cancelled);
    free(w);
}

int keel_worker_register_activity(keel_worker_t *w, const char *name, keel_activity_fn fn, void *userdata,
                                  const keel_activity_options_t *opts, keel_error_t *err) {
    if (!keel__valid_name(name)) {
        keel__set_error(err, KEEL_E_ARGUMENT, "activity name %s must match ^[A-Za-z_][A-Za-z0-9_.\\-]*$",
                        name ? name : "(null)");
        return -1;
    }
    if (fn == NULL) {
        keel__set_error(err, KEEL_E_ARGUMENT, "activity %s needs a handler", name);
        return -1;
    }
    for (size_t i = 0; i < w->n_activities; i++) {
        if (strcmp(w->activities[i].name, name) == 0) {
            keel__set_error(err, KEEL_E_ARGUMENT, "activity %s is already registered", name);
            return -1;
        }
    }
    activity_def_t *grown = realloc(w->activities, (w->n_activities + 1) * sizeof *grown);
    if (grown == NULL) {
        keel__set_error(err, KEEL_E_OS, "out of memory");
        return -1;
    }
    w->activities = grown;
    w->activities[w->n_activities++] = (activity_def_t){
        .name = strdup(name),
        .fn = fn,
        .userdata = userdata,
        .wire = keel__activity_wire(name, opts, json_object_get(w->contracts, name)),
    };
    return 0;
}

json_t *keel_worker_registration(const keel_worker_t *w) {
    json_t *activities = json_array();
    for (size_t i = 0; i < w->n_activities; i++) {
        json_array_append(activities, w->activities[i].wire);
    }
    /* C ships activities only: workflows need closures or coroutines to replay (see README). */
    return json_pack("{s:s,s:s,s:i,s:o,s:[]}", "name", w->name, "language", "c", "maxConcurrent", w->max_concurrent,
                     "activities", activities, "workflows");
}

/* ---- events, signals, stopping ---- */

void keel__worker_wake(keel_worker_t *w, char what) {
    ssize_t ignored = write(w->events[1], &what, 1); /* a full pipe already holds a wake-up */
    (void)ignored;
}

void keel_worker_stop(keel_worker_t *w) {
    keel__worker_wake(w, 'x');
}

/* The worker whose run loop owns SIGTERM/SIGINT. One at a time per process. */
static keel_worker_t *volatile signal_worker;

static void on_signal(int signum) {
    (void)signum;
    keel_worker_t *w = signal_worker;
    if (w != NULL) {
        int saved = errno;
        keel__worker_wake(w, 's');
        errno = saved;
    }
}

void keel__worker_cancel_all_locked(keel_worker_t *w, const char *reason) {
    for (keel_activity_ctx_t *ctx = w->running; ctx != NULL; ctx = ctx->next_running) {
        keel__cancel_locked(ctx, reason);
    }
}

/* ---- the pool ---- */

void *keel__pool_thread(void *arg) {
    keel_worker_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->queue_head == NULL && !w->pool_exit) {
            w->idle_threads++;
            pthread_cond_wait(&w->work, &w->mu);
            w->idle_threads--;
        }
        if (w->queue_head == NULL) {
            break;
        }
        keel_activity_ctx_t *ctx = w->queue_head;
        w->queue_head = ctx->next_queued;
        if (w->queue_head == NULL) {
            w->queue_tail = NULL;
        }
        w->queued--;
        pthread_mutex_unlock(&w->mu);

        keel__run_attempt(ctx); /* the result is written before the attempt counts as done */

        pthread_mutex_lock(&w->mu);
        for (keel_activity_ctx_t **link = &w->running; *link != NULL; link = &(*link)->next_running) {
            if (*link == ctx) {
                *link = ctx->next_running;
                break;
            }
        }
        if (--w->active == 0) {
            keel__worker_wake(w, 'e');
        }
        pthread_mutex_unlock(&w->mu);
        keel__ctx_free(ctx);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- connection handlers (reader thread) ---- */

static int on_request(keel__conn_t *conn, const char *method, json_t *params, keel__reply_t *reply, void *userdata) {
    keel_worker_t *w = userdata;
    if (strcmp(method, "activity/execute") == 0) {
        keel__execute(w, conn, params, reply);
    } else if (strcmp(method, "ping") == 0) {
        keel__reply_result(reply, json_object()); /* "ping -> {} either way" */
    } else if (strcmp(method, "shutdown") == 0) {
        /* Drain first, so every result is sent before the answer (the run loop answers it). */
        pthread_mutex_lock(&w->mu);
        w->stop_requested = 1;
        keel__reply_t *earlier = w->shutdown_reply;
        if (earlier == NULL) {
            w->shutdown_reply = reply;
        }
        pthread_mutex_unlock(&w->mu);
        if (earlier != NULL) {
            keel__reply_result(reply, json_object());
        }
        keel__worker_wake(w, 'e');
    } else {
        return -1;
    }
    return 0;
}

static void on_notification(keel__conn_t *conn, const char *method, json_t *params, void *userdata) {
    (void)conn;
    keel_worker_t *w = userdata;
    if (strcmp(method, "activity/cancel") == 0) {
        keel__cancel(w, params);
    } else if (strcmp(method, "shutdown") == 0) {
        /* Keel sends shutdown as a notification, then closes stdin: drain, answer nothing. */
        pthread_mutex_lock(&w->mu);
        w->stop_requested = 1;
        pthread_mutex_unlock(&w->mu);
        keel__worker_wake(w, 'e');
    }
    /* Unknown notifications get no answer at all. */
}

static void on_closed(keel__conn_t *conn, void *userdata) {
    (void)conn;
    keel_worker_t *w = userdata;
    pthread_mutex_lock(&w->mu);
    w->conn_lost = 1;
    pthread_mutex_unlock(&w->mu);
    keel__worker_wake(w, 'e');
}

/* ---- running ---- */

/* Reads pending wake-ups; returns 1 when a stop was asked for. Counts signals in *signals. */
static void read_events(keel_worker_t *w, int *signals) {
    char buf[64];
    ssize_t n;
    while ((n = read(w->events[0], buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            pthread_mutex_lock(&w->mu);
            if (buf[i] == 'x') {
                w->stop_requested = 1;
            } else if (buf[i] == 's') {
                ++*signals;
                w->stop_requested = 1;
                if (*signals == 1) {
                    keel__log("signal received: draining (send again to cancel running activities)");
                } else {
                    keel__worker_cancel_all_locked(w, "worker killed");
                }
            }
            pthread_mutex_unlock(&w->mu);
        }
    }
}

/* Waits for a stop or a lost connection, then drains. Returns when the session should end. */
static void serve(keel_worker_t *w, int *signals) {
    long long drain_until = 0;
    int forced = 0;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        if (w->stop_requested && !w->draining) {
            w->draining = 1;
            drain_until = keel__now_ms() + w->drain_timeout_ms;
        }
        if (w->conn_lost && !w->draining) {
            /* Keel has already re-dispatched these attempts; stop them. */
            keel__worker_cancel_all_locked(w, "connection to Keel lost");
            keel__reply_t *reply = w->shutdown_reply;
            w->shutdown_reply = NULL;
            pthread_mutex_unlock(&w->mu);
            if (reply != NULL) {
                keel__reply_result(reply, json_object()); /* dropped: only frees it */
            }
            return;
        }
        int timeout = -1;
        if (w->draining) {
            if (w->active == 0) {
                keel__reply_t *reply = w->shutdown_reply;
                w->shutdown_reply = NULL;
                pthread_mutex_unlock(&w->mu);
                if (reply != NULL) {
                    keel__reply_result(reply, json_object());
                }
                return;
            }
            long long left = drain_until - keel__now_ms();
            if (left <= 0 && !forced) {
                keel__log("drain timed out after %d ms; cancelling %d activities", w->drain_timeout_ms, w->active);
                keel__worker_cancel_all_locked(w, "worker shutting down");
                forced = 1;
            }
            if (forced) {
                keel__reply_t *reply = w->shutdown_reply;
                w->shutdown_reply = NULL;
                pthread_mutex_unlock(&w->mu);
                if (reply != NULL) {
                    keel__reply_result(reply, json_object());
                }
                return;
            }
            timeout = (int)left;
        }
        pthread_mutex_unlock(&w->mu);
        struct pollfd fd = {.fd = w->events[0], .events = POLLIN};
        if (poll(&fd, 1, timeout) > 0) {
            read_events(w, signals);
        }
    }
}

/* One connection: open, initialize, register, serve. Returns 1 once registered, 0 when the
 * connection failed before, -1 on a refusal that reconnecting cannot fix. */
static int session(keel_worker_t *w, keel__endpoints_t *eps, int *signals, keel_error_t *err) {
    const keel__endpoint_t *ep = keel__endpoints_current(eps);
    int in_fd, out_fd;
    if (keel__open_endpoint(ep, &in_fd, &out_fd, err) != 0) {
        return ep->stdio ? -1 : 0;
    }
    keel__handlers_t handlers = {on_request, on_notification, on_closed, w};
    keel__conn_t *conn = keel__conn_new(in_fd, out_fd, w->max_frame_bytes, &handlers);
    pthread_mutex_lock(&w->mu);
    w->conn_lost = 0;
    pthread_mutex_unlock(&w->mu);
    int registered = 0;
    if (keel__conn_start(conn, err) == 0) {
        json_t *result = keel__conn_call(conn, "initialize", keel__initialize_params(ep), KEEL__HANDSHAKE_TIMEOUT_MS, err);
        int ok = result != NULL && keel__check_initialize(conn, result, err) == 0;
        json_decref(result);
        if (ok) {
            keel__backoff_reset(&w->backoff); /* Keel is back: a drop from here on starts over */
            keel__endpoints_succeeded(eps);
            result = keel__conn_call(conn, "worker/register", keel_worker_registration(w), KEEL__HANDSHAKE_TIMEOUT_MS,
                                     err);
            if (result != NULL) {
                const char *id = json_string_value(json_object_get(result, "workerId"));
                keel__log("registered with Keel at %s as %s (%zu activities)", ep->socket_path ? ep->socket_path : ep->tcp ? ep->tcp : "stdio", id ? id : "?", w->n_activities);
                json_decref(result);
                registered = 1;
                serve(w, signals);
            }
        }
    }
    keel__conn_close(conn);
    keel__conn_release(conn);
    if (!registered && err != NULL &&
        (err->code == KEEL_UNAUTHORIZED || err->code == KEEL_UNSUPPORTED_PROTOCOL_VERSION ||
         err->code == KEEL_CONTRACT_CONFLICT)) {
        return -1;
    }
    return registered;
}

static void backoff(keel_worker_t *w, int *signals) {
    /* Full jitter spreads many workers reconnecting to one restarted Keel over the whole window. */
    int pause = keel__backoff_next(&w->backoff);
    keel__log("reconnecting to Keel in %d ms", pause);
    struct pollfd fd = {.fd = w->events[0], .events = POLLIN};
    if (poll(&fd, 1, pause) > 0) {
        read_events(w, signals);
    }
}

int keel_worker_run(keel_worker_t *w, keel_error_t *err) {
    keel__endpoints_t eps;
    keel__addresses_t addresses = {w->socket_path, (const char *const *)w->socket_paths, w->tcp,
                                   (const char *const *)w->tcp_addresses, w->token, &w->tls};
    if (keel__resolve_endpoints(&eps, &addresses, 1, err) != 0) {
        return -1;
    }
    int stdio = eps.items[0].stdio;
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old_pipe, old_term, old_int;
    sigaction(SIGPIPE, &ignore, &old_pipe);
    if (w->signal_handlers) {
        signal_worker = w;
        struct sigaction on = {.sa_handler = on_signal};
        sigemptyset(&on.sa_mask);
        sigaction(SIGTERM, &on, &old_term);
        sigaction(SIGINT, &on, &old_int);
    }
    keel__backoff_reset(&w->backoff);
    pthread_mutex_lock(&w->mu);
    w->stop_requested = w->draining = w->pool_exit = 0;
    pthread_mutex_unlock(&w->mu);

    int signals = 0, rc = 0;
    keel_error_t local;
    for (;;) {
        int outcome = session(w, &eps, &signals, &local);
        pthread_mutex_lock(&w->mu);
        int stopping = w->stop_requested;
        pthread_mutex_unlock(&w->mu);
        if (outcome < 0 || (outcome == 0 && (stdio || !w->reconnect))) {
            keel__log("Keel refused or closed the connection: %s", local.message);
            if (err != NULL) {
                *err = local;
            }
            rc = -1;
            break;
        }
        if (outcome == 0) {
            keel__log("connection to Keel failed: %s", local.message);
        }
        if (stopping || stdio || !w->reconnect) {
            break;
        }
        if (outcome == 1) {
            keel__log("connection to Keel closed");
        }
        if (!keel__endpoints_failed(&eps)) {
            keel__log("failing over to the next Keel endpoint");
            continue; /* the next endpoint at once; the backoff only after a whole round failed */
        }
        backoff(w, &signals);
        pthread_mutex_lock(&w->mu);
        stopping = w->stop_requested;
        pthread_mutex_unlock(&w->mu);
        if (stopping) {
            break;
        }
    }

    /* Every handler returns before run does: they hold the worker. */
    pthread_mutex_lock(&w->mu);
    w->pool_exit = 1;
    pthread_cond_broadcast(&w->work);
    int threads = w->threads;
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < threads; i++) {
        pthread_join(w->thread_ids[i], NULL);
    }
    w->threads = 0;
    if (w->signal_handlers) {
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGINT, &old_int, NULL);
        signal_worker = NULL;
    }
    sigaction(SIGPIPE, &old_pipe, NULL);
    keel__endpoints_free(&eps);
    return rc;
}
