/* The worker's internal state, shared by worker.c, activity.c and contracts.c. Not API. */
#ifndef KEEL_WORKER_H
#define KEEL_WORKER_H

#include "internal.h"

typedef struct activity_def {
    char *name;
    keel_activity_fn fn;
    void *userdata;
    json_t *wire; /* the worker/register entry */
} activity_def_t;

struct keel_activity_ctx {
    keel_worker_t *worker;
    activity_def_t *def;
    keel__reply_t *reply; /* answered once, when the handler returns */
    keel__conn_t *conn;   /* the connection the attempt came on (a reference) */
    json_t *params;       /* keeps the strings below alive */
    json_t *input;
    json_t *heartbeat_details;
    const char *task_id, *name, *idempotency_key, *workflow_id;
    int attempt;
    long long deadline_ms, heartbeat_timeout_ms;
    json_t *failure; /* set by keel_activity_fail / keel_activity_raise */
    /* Guarded by worker->mu. */
    int cancelled;
    char cancel_reason[160];
    struct keel_activity_ctx *next_running, *next_queued;
};

struct keel_worker {
    char *name, *socket_path, *tcp, *token;
    char **socket_paths, **tcp_addresses; /* owned copies of the options' lists (NULL-terminated) */
    keel_tls_options_t tls; /* owned copies, for reconnects */
    int max_concurrent;
    size_t max_frame_bytes;
    int reconnect, drain_timeout_ms, signal_handlers;
    keel__backoff_t backoff; /* used by keel_worker_run's thread only */

    activity_def_t *activities;
    size_t n_activities;
    json_t *contracts; /* name -> contract file object */

    int events[2]; /* wakes the run loop: 'x' stop, 's' signal, 'e' state changed */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t work;      /* jobs queued, or the pool is exiting */
    pthread_cond_t cancelled; /* some context was cancelled (wakes keel_activity_sleep) */
    keel_activity_ctx_t *running;               /* queued or running attempts */
    keel_activity_ctx_t *queue_head, *queue_tail; /* not yet picked up by a pool thread */
    int active, queued, threads, idle_threads, pool_exit;
    pthread_t *thread_ids;
    int stop_requested, draining, conn_lost;
    keel__reply_t *shutdown_reply;
};

/* worker.c */
/** A pool thread: runs queued attempts until the pool exits. */
void *keel__pool_thread(void *arg);
void keel__worker_wake(keel_worker_t *w, char what);
/** Marks every queued or running attempt cancelled. Caller holds w->mu. */
void keel__worker_cancel_all_locked(keel_worker_t *w, const char *reason);

/* activity.c */
/** Serves activity/execute (on the reader thread): refuses, answers, or queues an attempt. */
void keel__execute(keel_worker_t *w, keel__conn_t *conn, json_t *params, keel__reply_t *reply);
/** activity/cancel notification: cancels the matching attempt, if it runs here. */
void keel__cancel(keel_worker_t *w, json_t *params);
/** Runs one attempt on a pool thread and answers it. */
void keel__run_attempt(keel_activity_ctx_t *ctx);
void keel__ctx_free(keel_activity_ctx_t *ctx);
void keel__cancel_locked(keel_activity_ctx_t *ctx, const char *reason);

/* contracts.c */
int keel__valid_name(const char *name);
/** The worker/register entry for an activity, from its options and a loaded contract. */
json_t *keel__activity_wire(const char *name, const keel_activity_options_t *opts, json_t *contract);

#endif
