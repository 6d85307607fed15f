/* Live: the real `keel` binary (KEEL_BIN, default <repo>/.build/debug/keel) on a per-test socket,
 * this library's worker in a thread and its client in the test. Skipped when the binary is missing. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h"
#include "live_server.h"
#include "peer.h"

static json_t *echo(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)ctx, (void)data;
    return json_incref(input);
}

static json_t *refuse(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)data;
    keel_activity_fail(ctx, "BadInput", "refused", 0, -1, json_pack("{s:O}", "input", input));
    return NULL;
}

static keel_worker_t *live_worker(server_t *s) {
    keel_worker_options_t opts = {.name = "c-live", .socket_path = s->socket_path, .no_signal_handlers = 1,
                                  .drain_timeout_ms = 3000};
    keel_worker_t *w = keel_worker_new(&opts, NULL);
    json_t *object = json_pack("{s:s}", "type", "object");
    keel_activity_options_t echo_opts = {.input = object, .output = object};
    keel_worker_register_activity(w, "c.echo", echo, NULL, &echo_opts, NULL);
    keel_worker_register_activity(w, "c.refuse", refuse, NULL, NULL, NULL);
    json_decref(object);
    return w;
}

/* Waits until worker/list shows the worker `name`. */
static int wait_registered(keel_client_t *c, const char *name) {
    for (int waited = 0; waited < SERVER_WAIT_MS; waited += 50) {
        json_t *list = keel_client_call(c, "worker/list", NULL, 5000, NULL);
        size_t i;
        json_t *worker;
        int found = 0;
        json_array_foreach(json_object_get(list, "workers"), i, worker) {
            const char *n = json_string_value(json_object_get(worker, "name"));
            found |= n != NULL && strcmp(n, name) == 0;
        }
        json_decref(list);
        if (found) {
            return 1;
        }
        pause_ms(50);
    }
    return 0;
}

static const char *status_of(json_t *result) {
    const char *status = json_string_value(json_object_get(result, "status"));
    return status ? status : "(none)";
}

TEST(live_activity_calls_reach_the_c_worker_through_keel) {
    if (skip_without_binary()) {
        return;
    }
    server_t s = {0};
    CHECK(server_start(&s) == 0);
    keel_worker_t *w = live_worker(&s);
    run_t run;
    run_start(&run, w);
    keel_error_t err = {0};
    keel_client_t *c = connect_client(&s, &err);
    int registered = c != NULL && wait_registered(c, "c-live");
    json_t *input = json_pack("{s:s,s:[i,f]}", "text", "h\xc3\xa9llo\n", "n", 1, 2.5);
    json_t *ok = registered ? keel_activity_call(c, "c.echo", input, &(keel_call_options_t){.wait_timeout_ms = 10000}, &err) : NULL;
    json_t *failed = registered ? keel_activity_call(c, "c.refuse", input, &(keel_call_options_t){.wait_timeout_ms = 10000}, &err) : NULL;
    json_t *wrong = NULL;
    keel_error_t violation = {0};
    if (registered) {
        json_t *five = json_integer(5);
        wrong = keel_activity_call(c, "c.echo", five, NULL, &violation);
        json_decref(five);
    }
    int same = json_equal(json_object_get(ok, "output"), input);
    const char *ok_status = status_of(ok), *failed_status = status_of(failed);
    const char *type = json_string_value(json_object_get(json_object_get(failed, "failure"), "type"));
    int bad_input = type != NULL && strcmp(type, "BadInput") == 0;
    int ok_completed = strcmp(ok_status, "completed") == 0, failed_failed = strcmp(failed_status, "failed") == 0;
    int got_ok = ok != NULL;
    json_decref(input);
    json_decref(ok);
    json_decref(failed);
    keel_client_close(c);
    int rc = run_stop(&run);
    keel_worker_free(w);
    server_stop(&s, 0);
    CHECK_MSG(registered, "the worker never showed in worker/list: %s", err.message);
    CHECK_MSG(got_ok && same && ok_completed, "echo: %s", err.message);
    CHECK_MSG(failed_failed && bad_input, "refuse was not failed/BadInput");
    CHECK_MSG(wrong == NULL && violation.code == KEEL_INPUT_CONTRACT_VIOLATION, "contract: %d %s", violation.code,
              violation.message);
    CHECK(rc == 0);
}

TEST(live_worker_reconnects_after_keel_restarts) {
    if (skip_without_binary()) {
        return;
    }
    server_t s = {0};
    CHECK(server_start(&s) == 0);
    keel_worker_t *w = live_worker(&s);
    run_t run;
    run_start(&run, w);
    keel_client_t *c = connect_client(&s, NULL);
    int first = c != NULL && wait_registered(c, "c-live");
    keel_client_close(c);
    server_stop(&s, 1); /* SIGKILL: no goodbye */
    int restarted = server_start(&s) == 0;
    keel_error_t err = {0};
    c = restarted ? connect_client(&s, &err) : NULL;
    int again = c != NULL && wait_registered(c, "c-live");
    json_t *input = json_pack("{s:i}", "after", 1);
    json_t *result = again ? keel_activity_call(c, "c.echo", input, &(keel_call_options_t){.wait_timeout_ms = 10000}, &err) : NULL;
    int same = json_equal(json_object_get(result, "output"), input);
    json_decref(input);
    json_decref(result);
    keel_client_close(c);
    int rc = run_stop(&run);
    keel_worker_free(w);
    server_stop(&s, 0);
    CHECK(first);
    CHECK(restarted);
    CHECK_MSG(again, "the worker did not re-register: %s", err.message);
    CHECK_MSG(same, "the call after the restart: %s", err.message);
    CHECK(rc == 0);
}

TEST(live_workflow_client_operations) {
    if (skip_without_binary()) {
        return;
    }
    server_t s = {0};
    CHECK(server_start(&s) == 0);
    keel_error_t err = {0};
    keel_client_t *c = connect_client(&s, &err);
    json_t *input = json_pack("{s:i}", "n", 1);
    json_t *started = c ? keel_workflow_start(c, "c.live.unserved", input, "c-live-1", &err) : NULL;
    json_decref(input);
    if (started == NULL && err.code == KEEL_METHOD_NOT_FOUND) {
        keel_client_close(c);
        server_stop(&s, 0);
        harness_skip("the running keel binary answers -32601 for workflow/start (no workflow support yet)");
        return;
    }
    /* No worker serves this workflow: it stays pending, which is all these calls need. */
    json_t *described = started ? keel_workflow_describe(c, "c-live-1", &err) : NULL;
    int signalled = started ? keel_workflow_signal(c, "c-live-1", "go", NULL, &err) : -1;
    json_t *waited = started ? keel_workflow_result(c, "c-live-1", 200, &err) : NULL;
    int cancelled = started ? keel_workflow_cancel(c, "c-live-1", "by the C live test", &err) : -1;
    keel_client_close(c);
    server_stop(&s, 0);
    const char *id = json_string_value(json_object_get(started, "workflowId"));
    int id_ok = id != NULL && strcmp(id, "c-live-1") == 0;
    const char *name = json_string_value(json_object_get(described, "name"));
    int name_ok = name != NULL && strcmp(name, "c.live.unserved") == 0;
    json_decref(started);
    json_decref(described);
    json_decref(waited);
    CHECK_MSG(id_ok, "start: %s", err.message);
    CHECK_MSG(name_ok, "describe: %s", err.message);
    CHECK_MSG(signalled == 0, "signal: %s", err.message);
    CHECK_MSG(waited != NULL, "result: %s", err.message);
    CHECK_MSG(cancelled == 0, "cancel: %s", err.message);
}

/* ---- priorities and fairness keys (docs/protocol.md "Priorities and fairness") ---- */

/* The ids of the tasks c.order ran, in the order the worker ran them. */
typedef struct run_order {
    pthread_mutex_t mu;
    char ids[128];
} run_order_t;

static json_t *record_order(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)ctx;
    run_order_t *order = data;
    const char *id = json_string_value(json_object_get(input, "id"));
    pthread_mutex_lock(&order->mu);
    size_t used = strlen(order->ids);
    snprintf(order->ids + used, sizeof order->ids - used, "%s%s", used > 0 ? "," : "", id ? id : "?");
    pthread_mutex_unlock(&order->mu);
    return json_incref(input);
}

TEST(live_priority_runs_first_and_fairness_keys_take_turns_and_describe_shows_them) {
    if (skip_without_binary()) {
        return;
    }
    server_t s = {0};
    CHECK(server_start(&s) == 0);
    keel_error_t err = {0};
    keel_client_t *c = connect_client(&s, &err);
    if (c == NULL) {
        server_stop(&s, 0);
    }
    CHECK_MSG(c != NULL, "connect: %s", err.message);
    /* Queued with no worker connected: a1..a6 (key "a"), b1, b2 (key "b"), then h (priority 9). */
    static const char *const ids[] = {"a1", "a2", "a3", "a4", "a5", "a6", "b1", "b2", "h"};
    enum { N_TASKS = sizeof ids / sizeof ids[0] };
    char task_ids[N_TASKS][128] = {{0}};
    int queued = 1;
    for (size_t i = 0; queued && i < N_TASKS; i++) {
        keel_call_options_t opts = {.no_wait = 1};
        if (ids[i][0] == 'h') {
            opts.has_priority = 1, opts.priority = 9;
        } else {
            opts.fairness_key = ids[i][0] == 'a' ? "a" : "b";
        }
        json_t *input = json_pack("{s:s}", "id", ids[i]);
        json_t *call = keel_activity_call(c, "c.order", input, &opts, &err);
        const char *task = json_string_value(json_object_get(call, "taskId"));
        queued = task != NULL;
        snprintf(task_ids[i], sizeof task_ids[i], "%s", task ? task : "");
        json_decref(input);
        json_decref(call);
    }
    run_order_t order = {.mu = PTHREAD_MUTEX_INITIALIZER};
    keel_worker_t *w = keel_worker_new(&(keel_worker_options_t){.name = "c-live-order", .socket_path = s.socket_path,
                                                                .max_concurrent = 1, .no_signal_handlers = 1,
                                                                .drain_timeout_ms = 3000},
                                       NULL);
    keel_worker_register_activity(w, "c.order", record_order, &order, NULL, NULL);
    run_t run;
    run_start(&run, w);
    int completed = queued;
    for (size_t i = 0; completed && i < N_TASKS; i++) {
        json_t *result = keel_activity_result(c, task_ids[i], 20000, &err);
        completed = strcmp(status_of(result), "completed") == 0;
        json_decref(result);
    }
    int rc = run_stop(&run);
    keel_worker_free(w);
    /* A workflow execution keeps the priority and key it was started with; describe shows them
     * (priority always, 0 by default; fairnessKey only when set). No worker serves it. */
    json_t *started = keel_workflow_start_with_options(
        c, "c.live.unserved", NULL,
        &(keel_workflow_start_options_t){.workflow_id = "c-live-prio", .has_priority = 1, .priority = 5,
                                         .fairness_key = "acme"},
        &err);
    json_t *described = started ? keel_workflow_describe(c, "c-live-prio", &err) : NULL;
    json_t *plain = keel_workflow_start(c, "c.live.unserved", NULL, "c-live-plain", &err);
    json_t *plain_described = plain ? keel_workflow_describe(c, "c-live-plain", &err) : NULL;
    keel_client_close(c);
    server_stop(&s, 0);
    json_t *key = json_object_get(described, "fairnessKey");
    int described_ok = json_integer_value(json_object_get(described, "priority")) == 5 && json_is_string(key) &&
                       strcmp(json_string_value(key), "acme") == 0;
    int plain_ok = json_is_integer(json_object_get(plain_described, "priority")) &&
                   json_integer_value(json_object_get(plain_described, "priority")) == 0 &&
                   json_object_get(plain_described, "fairnessKey") == NULL;
    char seen[512], seen_plain[512];
    char *text = json_dumps(described, JSON_COMPACT);
    snprintf(seen, sizeof seen, "%s", text ? text : err.message);
    free(text);
    text = json_dumps(plain_described, JSON_COMPACT);
    snprintf(seen_plain, sizeof seen_plain, "%s", text ? text : err.message);
    free(text);
    json_decref(started);
    json_decref(described);
    json_decref(plain);
    json_decref(plain_described);
    CHECK_MSG(queued, "activity/call: %d %s", err.code, err.message);
    CHECK_MSG(completed, "a task did not complete (ran %s): %d %s", order.ids, err.code, err.message);
    CHECK_MSG(strcmp(order.ids, "h,a1,b1,a2,b2,a3,a4,a5,a6") == 0, "ran %s", order.ids);
    CHECK(rc == 0);
    CHECK_MSG(described_ok, "describe: %s", seen);
    CHECK_MSG(plain_ok, "describe without options: %s", seen_plain);
}

/* ---- reconnecting (docs/clients.md "Reconnecting") ---- */

static json_t *slow(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)ctx, (void)data;
    pause_ms((long)json_integer_value(json_object_get(input, "ms")));
    return json_incref(input);
}

/* One keel_activity_call of `slow` in its own thread. */
typedef struct slow_call {
    keel_client_t *c;
    const char *key;
    long ms;
    pthread_t thread;
    json_t *result;
    keel_error_t err;
} slow_call_t;

static void *slow_call_main(void *arg) {
    slow_call_t *call = arg;
    json_t *input = json_pack("{s:i}", "ms", (int)call->ms);
    keel_call_options_t opts = {.idempotency_key = call->key, .wait_timeout_ms = call->key ? 30000 : 0};
    call->result = keel_activity_call(call->c, "c.slow", input, &opts, &call->err);
    json_decref(input);
    return NULL;
}

/* Waits until some worker has a call in flight. */
static int wait_in_flight(keel_client_t *c) {
    for (int waited = 0; waited < SERVER_WAIT_MS; waited += 50) {
        json_t *list = keel_client_call(c, "worker/list", NULL, 5000, NULL);
        size_t i;
        json_t *worker;
        int busy = 0;
        json_array_foreach(json_object_get(list, "workers"), i, worker) {
            busy |= json_integer_value(json_object_get(worker, "inFlight")) > 0;
        }
        json_decref(list);
        if (busy) {
            return 1;
        }
        pause_ms(50);
    }
    return 0;
}

static keel_worker_t *reconnect_worker(server_t *s) {
    keel_worker_t *w = live_worker(s);
    keel_worker_register_activity(w, "c.slow", slow, NULL, NULL, NULL);
    return w;
}

TEST(live_the_same_client_calls_again_after_keel_restarts) {
    if (skip_without_binary()) {
        return;
    }
    server_t s = {0};
    CHECK(server_start(&s) == 0);
    keel_error_t err = {0};
    keel_client_t *c = connect_client(&s, &err);
    int first = c != NULL && keel_client_call(c, "ping", NULL, 5000, &err) != NULL;
    server_stop(&s, 1); /* SIGKILL */
    int restarted = server_start(&s) == 0;
    json_t *pong = restarted && c ? keel_client_call(c, "ping", NULL, 5000, &err) : NULL;
    int again = pong != NULL;
    json_decref(pong);
    keel_client_close(c);
    server_stop(&s, 0);
    CHECK(first && restarted);
    CHECK_MSG(again, "the call after the restart: %d %s", err.code, err.message);
}

TEST(live_a_call_in_flight_without_a_key_fails_with_outcome_unknown) {
    if (skip_without_binary()) {
        return;
    }
    server_t s = {0};
    CHECK(server_start(&s) == 0);
    keel_worker_t *w = reconnect_worker(&s);
    run_t run;
    run_start(&run, w);
    keel_client_t *c = connect_client(&s, NULL);
    int registered = c != NULL && wait_registered(c, "c-live");
    slow_call_t call = {.c = c, .ms = 3000};
    int started = registered && pthread_create(&call.thread, NULL, slow_call_main, &call) == 0;
    int busy = started && wait_in_flight(c);
    server_stop(&s, 1); /* SIGKILL mid-call */
    if (started) {
        pthread_join(call.thread, NULL);
    }
    int restarted = server_start(&s) == 0;
    json_t *pong = restarted ? keel_client_call(c, "ping", NULL, 5000, NULL) : NULL;
    int again = pong != NULL;
    json_decref(pong);
    json_decref(call.result);
    keel_client_close(c);
    run_stop(&run);
    keel_worker_free(w);
    server_stop(&s, 0);
    CHECK(registered && busy && restarted);
    CHECK_MSG(call.result == NULL && call.err.code == KEEL_E_OUTCOME_UNKNOWN, "got %d %s", call.err.code,
              call.err.message);
    CHECK(again);
}

TEST(live_a_call_in_flight_with_a_key_is_sent_again_and_completes) {
    if (skip_without_binary()) {
        return;
    }
    server_t s = {0};
    CHECK(server_start(&s) == 0);
    keel_worker_t *w = reconnect_worker(&s);
    run_t run;
    run_start(&run, w);
    keel_client_t *c = connect_client(&s, NULL);
    int registered = c != NULL && wait_registered(c, "c-live");
    slow_call_t call = {.c = c, .key = "c-k1", .ms = 1500};
    int started = registered && pthread_create(&call.thread, NULL, slow_call_main, &call) == 0;
    int busy = started && wait_in_flight(c);
    server_stop(&s, 1); /* SIGKILL mid-call */
    int restarted = server_start(&s) == 0;
    if (started) {
        pthread_join(call.thread, NULL);
    }
    const char *status = status_of(call.result);
    int completed = strcmp(status, "completed") == 0;
    json_decref(call.result);
    keel_client_close(c);
    run_stop(&run);
    keel_worker_free(w);
    server_stop(&s, 0);
    CHECK(registered && busy && restarted);
    CHECK_MSG(completed, "status %s, error %d %s", status, call.err.code, call.err.message);
}

/* ---- Several endpoints (docs/clients.md "Several endpoints"): two independent `keel serve`
 * processes A and B, a worker and a client given both; A is killed with SIGKILL. ---- */

/* Bound on each failover wait: generous, CI runs on 2 busy cores. */
#define FAILOVER_WAIT_MS 30000

/* Starts A and B in subdirectories of the test's temp dir; 0 when both accept. */
static int start_pair(server_t *a, server_t *b) {
    char dir[2][256];
    for (int i = 0; i < 2; i++) {
        snprintf(dir[i], sizeof dir[i], "%s/%c", harness_tmpdir(), "ab"[i]);
        mkdir(dir[i], 0700);
    }
    return server_start_in(a, dir[0]) == 0 && server_start_in(b, dir[1]) == 0 ? 0 : -1;
}

/* Whether the worker `name` is registered on `s`, waiting up to FAILOVER_WAIT_MS when `wait`. */
static int registered_on(server_t *s, const char *name, int wait) {
    for (int waited = 0;; waited += 100) {
        keel_client_t *c = connect_client(s, NULL);
        json_t *list = c != NULL ? keel_client_call(c, "worker/list", NULL, 5000, NULL) : NULL;
        size_t i;
        json_t *worker;
        int found = 0;
        json_array_foreach(json_object_get(list, "workers"), i, worker) {
            const char *n = json_string_value(json_object_get(worker, "name"));
            found |= n != NULL && strcmp(n, name) == 0;
        }
        json_decref(list);
        keel_client_close(c);
        if (found || !wait || waited >= FAILOVER_WAIT_MS) {
            return found;
        }
        pause_ms(100);
    }
}

static json_t *whoami(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)ctx, (void)input;
    return json_pack("{s:s}", "worker", (const char *)data);
}

/* Calls whoami through `s`; 1 when the worker `id` served it. */
static int served_by(server_t *s, const char *id) {
    keel_error_t err = {0};
    keel_client_t *c = connect_client(s, &err);
    json_t *input = json_object();
    keel_call_options_t opts = {.wait_timeout_ms = FAILOVER_WAIT_MS};
    json_t *result = c != NULL ? keel_activity_call(c, "c.whoami", input, &opts, &err) : NULL;
    json_decref(input);
    const char *by = json_string_value(json_object_get(json_object_get(result, "output"), "worker"));
    int same = by != NULL && strcmp(by, id) == 0;
    if (!same) {
        fprintf(stderr, "whoami: %s (%s)\n", by ? by : "(none)", err.message);
    }
    json_decref(result);
    keel_client_close(c);
    return same;
}

/* A worker "c-failover" on A then B that answers whoami with `id`. */
static keel_worker_t *failover_worker(server_t *a, server_t *b, const char *id) {
    const char *sockets[] = {a->socket_path, b->socket_path, NULL};
    keel_worker_options_t opts = {.name = "c-failover", .socket_paths = sockets, .no_signal_handlers = 1,
                                  .drain_timeout_ms = 3000};
    keel_worker_t *w = keel_worker_new(&opts, NULL); /* copies the list */
    keel_worker_register_activity(w, "c.whoami", whoami, (void *)id, NULL, NULL);
    return w;
}

TEST(live_failover_a_worker_registers_on_the_next_endpoint_when_its_node_dies) {
    if (skip_without_binary()) {
        return;
    }
    server_t a = {0}, b = {0};
    CHECK(start_pair(&a, &b) == 0);
    keel_worker_t *w = failover_worker(&a, &b, "worker-1");
    run_t run;
    run_start(&run, w);
    int on_a = registered_on(&a, "c-failover", 1);
    int not_on_b = !registered_on(&b, "c-failover", 0);
    int served_a = on_a && served_by(&a, "worker-1");
    server_stop(&a, 1); /* SIGKILL: no goodbye */
    int on_b = registered_on(&b, "c-failover", 1);
    int served_b = on_b && served_by(&b, "worker-1");
    int rc = run_stop(&run);
    keel_worker_free(w);
    server_stop(&b, 0);
    CHECK(on_a);
    CHECK_MSG(not_on_b, "the worker should use the first endpoint only");
    CHECK(served_a);
    CHECK_MSG(on_b, "the worker did not register on B after A died");
    CHECK(served_b);
    CHECK(rc == 0);
}

TEST(live_failover_a_worker_keeps_retrying_while_every_endpoint_is_down) {
    if (skip_without_binary()) {
        return;
    }
    server_t a = {0}, b = {0};
    CHECK(start_pair(&a, &b) == 0);
    keel_worker_t *w = failover_worker(&a, &b, "worker-2");
    run_t run;
    run_start(&run, w);
    int on_a = registered_on(&a, "c-failover", 1);
    server_stop(&a, 1);
    server_stop(&b, 1);
    pause_ms(1000); /* a few rounds of refused connects */
    char dir_b[256];
    snprintf(dir_b, sizeof dir_b, "%s/b", harness_tmpdir());
    int restarted = server_start_in(&b, dir_b) == 0;
    int on_b = restarted && registered_on(&b, "c-failover", 1);
    int served_b = on_b && served_by(&b, "worker-2");
    int rc = run_stop(&run);
    keel_worker_free(w);
    server_stop(&b, 0);
    CHECK(on_a);
    CHECK(restarted);
    CHECK_MSG(on_b, "the worker did not come back to B");
    CHECK(served_b);
    CHECK(rc == 0);
}

TEST(live_failover_a_client_moves_on_and_names_each_endpoint_when_all_are_down) {
    if (skip_without_binary()) {
        return;
    }
    server_t a = {0}, b = {0};
    CHECK(start_pair(&a, &b) == 0);
    const char *sockets[] = {a.socket_path, b.socket_path, NULL};
    keel_client_options_t opts = {.socket_paths = sockets, .reconnect_timeout_ms = 5000};
    keel_error_t err = {0};
    keel_client_t *c = keel_client_connect(&opts, &err);
    CHECK_MSG(c != NULL, "connect: %s", err.message);
    server_stop(&a, 1);
    json_t *list = c != NULL ? keel_client_call(c, "worker/list", NULL, 10000, &err) : NULL; /* reaches B */
    int moved = json_is_array(json_object_get(list, "workers"));
    json_decref(list);
    keel_client_close(c);
    server_stop(&b, 1);
    keel_error_t down = {0};
    keel_client_t *none = keel_client_connect(&opts, &down);
    keel_client_close(none);
    CHECK_MSG(moved, "the call after A died: %s", err.message);
    CHECK(none == NULL);
    CHECK_MSG(strstr(down.message, "no Keel endpoint is reachable") != NULL && strstr(down.message, a.socket_path) != NULL &&
                  strstr(down.message, b.socket_path) != NULL,
              "%s", down.message);
}

/* ---- streams (docs/protocol.md "Streams") ---- */

/* The C library runs no workflow code, so this test plays the workflow worker by hand on a raw
 * connection: c.live.streams publishes {"stage":"start"}, runs the C activity c.progress (which
 * publishes {"step":1..3}), waits for the signal "go", publishes {"stage":"end"} and returns. Each
 * run replays the journal and sends the first step not yet completed, as a library would. */
#define STREAM_STEPS 4

typedef struct driver {
    peer_t conn; /* peer_read/peer_send on a connected client socket */
    int next_id;
    volatile int stop;
    pthread_t thread;
} driver_t;

static json_t *driver_request(driver_t *d, const char *method, json_t *params) {
    char id[32];
    snprintf(id, sizeof id, "d%d", ++d->next_id);
    peer_send(&d->conn, json_pack("{s:s,s:s,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method, "params", params));
    while (!d->stop) {
        json_t *message = peer_read(&d->conn);
        if (message == NULL) {
            pause_ms(10);
            continue;
        }
        const char *got = json_string_value(json_object_get(message, "id"));
        if (json_object_get(message, "method") == NULL && got != NULL && strcmp(got, id) == 0) {
            return message;
        }
        if (json_object_get(message, "method") != NULL && json_object_get(message, "id") != NULL) {
            peer_answer(&d->conn, message, json_object()); /* ping */
        }
        json_decref(message);
    }
    return NULL;
}

static void merge(json_t *into, json_t *fields) {
    json_object_update(into, fields);
    json_decref(fields);
}

static json_t *stream_step(int seq, json_t *run) {
    json_t *params = json_pack("{s:O,s:O,s:i}", "workflowId", json_object_get(run, "workflowId"), "runId",
                               json_object_get(run, "runId"), "seq", seq);
    switch (seq) {
    case 1:
        merge(params, json_pack("{s:s,s:s,s:{s:{s:s}}}", "kind", "publish", "name", "stage", "input",
                                             "event", "stage", "start"));
        break;
    case 2:
        merge(params, json_pack("{s:s,s:s,s:{s:i}}", "kind", "activity", "name", "c.progress", "input",
                                             "steps", 3));
        break;
    case 3:
        merge(params, json_pack("{s:s,s:s,s:{}}", "kind", "signal", "name", "go", "input"));
        break;
    default:
        merge(params, json_pack("{s:s,s:s,s:{s:{s:s}}}", "kind", "publish", "name", "stage", "input",
                                             "event", "stage", "end"));
    }
    return params;
}

/* One run: the answer to workflow/run. */
static json_t *drive_run(driver_t *d, json_t *run) {
    json_t *journal = json_object_get(run, "journal");
    for (int seq = 1; seq <= STREAM_STEPS; seq++) {
        int recorded = 0;
        size_t i;
        json_t *entry;
        json_array_foreach(journal, i, entry) {
            const char *status = json_string_value(json_object_get(entry, "status"));
            recorded |= json_integer_value(json_object_get(entry, "seq")) == seq && status != NULL &&
                        strcmp(status, "completed") == 0;
        }
        if (recorded) {
            continue;
        }
        json_t *answer = driver_request(d, "workflow/step", stream_step(seq, run));
        const char *status = json_string_value(json_object_get(json_object_get(answer, "result"), "status"));
        int completed = status != NULL && strcmp(status, "completed") == 0;
        int suspend = status != NULL && strcmp(status, "suspend") == 0;
        json_decref(answer);
        if (suspend) {
            return json_pack("{s:s}", "status", "suspended");
        }
        if (!completed) {
            return json_pack("{s:s,s:{s:s,s:s,s:b}}", "status", "failed", "failure", "type", "StepFailed", "message",
                             "a step was not completed", "retryable", 0);
        }
    }
    return json_pack("{s:s,s:{s:b}}", "status", "completed", "output", "ok", 1);
}

static void *drive(void *arg) {
    driver_t *d = arg;
    while (!d->stop) {
        json_t *message = peer_read(&d->conn);
        if (message == NULL) {
            pause_ms(10);
            continue;
        }
        const char *method = json_string_value(json_object_get(message, "method"));
        if (method != NULL && strcmp(method, "workflow/run") == 0) {
            peer_answer(&d->conn, message, drive_run(d, json_object_get(message, "params")));
        } else if (method != NULL && json_object_get(message, "id") != NULL) {
            peer_answer(&d->conn, message, json_object());
        }
        json_decref(message);
    }
    return NULL;
}

static int driver_start(driver_t *d, server_t *s) {
    memset(d, 0, sizeof *d);
    d->conn.listen_fd = -1;
    d->conn.fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(s->socket_path) >= sizeof addr.sun_path) {
        return -1;
    }
    memcpy(addr.sun_path, s->socket_path, strlen(s->socket_path) + 1);
    if (connect(d->conn.fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        return -1;
    }
    json_t *init = driver_request(
        d, "initialize", json_pack("{s:s,s:{s:s,s:s}}", "protocolVersion", "1", "clientInfo", "name", "c-live-driver",
                                   "version", KEEL_VERSION));
    json_t *reg = driver_request(d, "worker/register",
                                 json_pack("{s:s,s:[],s:[{s:s}]}", "name", "c-live-workflows", "activities",
                                           "workflows", "name", "c.live.streams"));
    int ok = json_object_get(init, "result") != NULL && json_object_get(reg, "result") != NULL;
    json_decref(init);
    json_decref(reg);
    if (!ok) {
        return -1;
    }
    pthread_create(&d->thread, NULL, drive, d);
    return 0;
}

static void driver_stop(driver_t *d, int started) {
    d->stop = 1;
    shutdown(d->conn.fd, SHUT_RDWR); /* wakes a read in the driver thread */
    if (started) {
        pthread_join(d->thread, NULL);
    }
    peer_drop(&d->conn);
}

static json_t *progress(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)data;
    json_int_t steps = json_integer_value(json_object_get(input, "steps"));
    for (json_int_t i = 1; i <= steps; i++) {
        json_t *event = json_pack("{s:I}", "step", i);
        keel_error_t err;
        int rc = keel_activity_publish(ctx, "progress", event, &err);
        json_decref(event);
        if (rc != 0) {
            keel_activity_raise(ctx, "KeelError", "publish refused: %d %s", err.code, err.message);
            return NULL;
        }
    }
    return json_pack("{s:I}", "published", steps);
}

typedef struct followed {
    keel_client_t *client;
    json_t *events;
    int signal_at; /* send "go" after this offset (0: never) */
    int signalled;
} followed_t;

static int on_event(json_t *event, void *userdata) {
    followed_t *f = userdata;
    json_array_append(f->events, event);
    if (f->signal_at > 0 && json_integer_value(json_object_get(event, "offset")) == f->signal_at) {
        f->signalled = keel_workflow_signal(f->client, "c-live-stream", "go", NULL, NULL) == 0;
    }
    return 0;
}

/* "1:workflow:stage,2:activity:progress,..." for the events seen. */
static void describe_events(json_t *events, char *out, size_t size) {
    size_t used = 0, i;
    json_t *event;
    out[0] = '\0';
    json_array_foreach(events, i, event) {
        used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s%lld:%s:%s", i ? "," : "",
                                 (long long)json_integer_value(json_object_get(event, "offset")),
                                 json_string_value(json_object_get(event, "source")),
                                 json_string_value(json_object_get(event, "name")));
    }
}

TEST(live_follow_sees_workflow_and_activity_events_once_in_order_and_ends_with_the_workflow) {
    if (skip_without_binary()) {
        return;
    }
    server_t s = {0};
    CHECK(server_start(&s) == 0);
    keel_worker_t *w = keel_worker_new(&(keel_worker_options_t){.name = "c-live-progress", .socket_path = s.socket_path,
                                                                .no_signal_handlers = 1, .drain_timeout_ms = 3000},
                                       NULL);
    keel_worker_register_activity(w, "c.progress", progress, NULL, NULL, NULL);
    run_t run;
    run_start(&run, w);
    driver_t d;
    int driving = driver_start(&d, &s) == 0;
    keel_error_t err = {0};
    keel_client_t *c = connect_client(&s, &err);
    int registered = c != NULL && wait_registered(c, "c-live-progress") && wait_registered(c, "c-live-workflows");
    json_t *started = registered && driving ? keel_workflow_start(c, "c.live.streams", NULL, "c-live-stream", &err) : NULL;
    followed_t all = {c, json_array(), 4, 0}, later = {c, json_array(), 0, 0};
    long long began = keel__now_ms();
    int rc_all = started ? keel_workflow_follow(c, "c-live-stream", 0, on_event, &all, &err) : -2;
    long long took = keel__now_ms() - began;
    int rc_later = started ? keel_workflow_follow(c, "c-live-stream", 2, on_event, &later, &err) : -2;
    json_t *result = started ? keel_workflow_result(c, "c-live-stream", 5000, &err) : NULL;
    char seen[512], seen_later[512];
    describe_events(all.events, seen, sizeof seen);
    describe_events(later.events, seen_later, sizeof seen_later);
    /* The activity's events name its task and attempt; the workflow's carry their step's seq. */
    int fields_ok = json_array_size(all.events) == 5;
    for (size_t i = 0; fields_ok && i < 5; i++) {
        json_t *e = json_array_get(all.events, i);
        int from_activity = i >= 1 && i <= 3;
        fields_ok &= json_is_integer(json_object_get(e, "atMs"));
        fields_ok &= from_activity ? json_is_string(json_object_get(e, "taskId")) &&
                                         json_integer_value(json_object_get(e, "attempt")) == 1 &&
                                         json_integer_value(json_object_get(json_object_get(e, "event"), "step")) ==
                                             (json_int_t)i
                                   : json_integer_value(json_object_get(e, "seq")) == (i == 0 ? 1 : 4);
    }
    const char *status = status_of(result);
    int completed = strcmp(status, "completed") == 0;
    json_decref(started);
    json_decref(result);
    json_decref(all.events);
    json_decref(later.events);
    keel_client_close(c);
    driver_stop(&d, driving);
    int rc = run_stop(&run);
    keel_worker_free(w);
    server_stop(&s, 0);
    CHECK_MSG(registered && driving, "workers not registered: %s", err.message);
    CHECK_MSG(rc_all == 0, "follow from 0: rc %d, %d %s", rc_all, err.code, err.message);
    CHECK_MSG(strcmp(seen, "1:workflow:stage,2:activity:progress,3:activity:progress,4:activity:progress,"
                           "5:workflow:stage") == 0,
              "follow from 0 saw %s", seen);
    CHECK(fields_ok);
    CHECK(all.signalled);
    CHECK_MSG(took < 20000, "the follow took %lld ms", took);
    CHECK_MSG(rc_later == 0 && strcmp(seen_later, "3:activity:progress,4:activity:progress,5:workflow:stage") == 0,
              "follow from 2: rc %d, saw %s", rc_later, seen_later);
    CHECK_MSG(completed, "the workflow is %s", status);
    CHECK(rc == 0);
}
