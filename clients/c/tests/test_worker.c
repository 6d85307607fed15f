/* Worker: registration and contracts (pure), then a real worker against a scripted peer over a
 * real Unix socket or TCP connection. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>

#include "harness.h"
#include "peer.h"
#include "worker.h"

static json_t *echo(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)ctx, (void)data;
    return json_incref(input);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static keel_worker_t *new_worker(const char *socket_path) {
    keel_worker_options_t opts = {.name = "test-worker", .max_concurrent = 2, .socket_path = socket_path,
                                  .drain_timeout_ms = 3000, .no_signal_handlers = 1};
    return keel_worker_new(&opts, NULL);
}

TEST(registration_takes_unset_fields_from_a_contract_file) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/contracts", harness_tmpdir());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/greet.json", dir);
    write_text(path, "{\"name\":\"greet.hello\",\"version\":\"2\",\"description\":\"from the file\","
                     "\"input\":{\"type\":\"object\"},\"output\":{\"type\":\"string\"},"
                     "\"retryPolicy\":{\"maximumAttempts\":2},\"timeouts\":{\"startToCloseMs\":1000}}");
    snprintf(path, sizeof path, "%s/README.txt", dir);
    write_text(path, "not a contract: ignored (not *.json)");
    keel_error_t err;
    keel_worker_t *w = new_worker(NULL);
    CHECK(keel_worker_load_contracts(w, dir, &err) == 0);
    keel_activity_options_t opts = {.description = "mine", .heartbeat_ms = 500};
    CHECK(keel_worker_register_activity(w, "greet.hello", echo, NULL, &opts, &err) == 0);
    CHECK(keel_worker_register_activity(w, "plain", echo, NULL, NULL, &err) == 0);
    json_t *reg = keel_worker_registration(w);
    json_t *expected = json_loads(
        "{\"name\":\"test-worker\",\"language\":\"c\",\"maxConcurrent\":2,\"workflows\":[],\"activities\":["
        "{\"name\":\"greet.hello\",\"description\":\"mine\",\"input\":{\"type\":\"object\"},"
        "\"output\":{\"type\":\"string\"},\"retryPolicy\":{\"maximumAttempts\":2},\"timeouts\":{\"heartbeatTimeoutMs\":500}},"
        "{\"name\":\"plain\"}]}",
        0, NULL);
    int same = json_equal(reg, expected);
    char *got = json_dumps(reg, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(reg);
    json_decref(expected);
    keel_worker_free(w);
    CHECK_MSG(same, "registration was %s", got);
    free(got);
}

TEST(a_contract_file_without_version_is_refused_naming_the_file) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/bad", harness_tmpdir());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/x.json", dir);
    write_text(path, "{\"name\":\"x\",\"input\":true,\"output\":true}");
    keel_error_t err;
    keel_worker_t *w = new_worker(NULL);
    int rc = keel_worker_load_contracts(w, dir, &err);
    keel_worker_free(w);
    CHECK(rc == -1);
    CHECK(err.code == KEEL_E_CONFIG);
    CHECK(strstr(err.message, "x.json") != NULL && strstr(err.message, "version") != NULL);
}

TEST(bad_and_duplicate_activity_names_are_refused) {
    keel_error_t err;
    keel_worker_t *w = new_worker(NULL);
    CHECK(keel_worker_register_activity(w, "billing.charge-v2_x", echo, NULL, NULL, &err) == 0);
    CHECK(keel_worker_register_activity(w, "billing.charge-v2_x", echo, NULL, NULL, &err) == -1);
    CHECK(err.code == KEEL_E_ARGUMENT);
    CHECK(keel_worker_register_activity(w, "9lives", echo, NULL, NULL, &err) == -1);
    CHECK(keel_worker_register_activity(w, "has space", echo, NULL, NULL, &err) == -1);
    keel_worker_free(w);
    CHECK(keel_worker_new(&(keel_worker_options_t){.max_concurrent = 10001}, &err) == NULL);
    CHECK(err.code == KEEL_E_ARGUMENT);
}

static json_t *context(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)input, (void)data;
    return json_pack("{s:s,s:s,s:i,s:s,s:s?,s:I,s:I,s:O}", "taskId", keel_activity_task_id(ctx), "name",
                     keel_activity_name(ctx), "attempt", keel_activity_attempt(ctx), "key",
                     keel_activity_idempotency_key(ctx), "workflowId", keel_activity_workflow_id(ctx), "deadline",
                     (json_int_t)keel_activity_deadline_ms(ctx), "hbTimeout",
                     (json_int_t)keel_activity_heartbeat_timeout_ms(ctx), "previous",
                     keel_activity_heartbeat_details(ctx));
}

static json_t *wait_for_cancel(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)input, (void)data;
    if (keel_heartbeat(ctx, NULL, NULL) != 0) {
        return json_string("stopped at the heartbeat");
    }
    keel_activity_sleep(ctx, PEER_TIMEOUT_MS * 2);
    return NULL; /* cancelled: reported as Cancelled */
}

static json_t *nap(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)data;
    keel_activity_sleep(ctx, json_integer_value(json_object_get(input, "ms")));
    return json_pack("{s:b}", "napped", 1);
}

static json_t *execute(const char *id, const char *name, const char *input) {
    return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:o,s:i,s:s,s:I,s:i,s:{s:i},s:n}}", "jsonrpc", "2.0", "id", id, "method",
                     "activity/execute", "params", "taskId", id, "name", name, "input", json_loads(input, 0, NULL),
                     "attempt", 3, "idempotencyKey", "key-1", "deadlineMs", (json_int_t)4102444800000LL,
                     "heartbeatTimeoutMs", 5000, "heartbeatDetails", "page", 7, "workflowId");
}

static keel_worker_t *serving_worker(peer_t *peer) {
    char path[256];
    snprintf(path, sizeof path, "%s/k.sock", harness_tmpdir());
    if (peer_listen_unix(peer, path) != 0) {
        return NULL;
    }
    keel_worker_t *w = new_worker(path);
    keel_worker_register_activity(w, "context", context, NULL, NULL, NULL);
    keel_worker_register_activity(w, "waits", wait_for_cancel, NULL, NULL, NULL);
    keel_worker_register_activity(w, "nap", nap, NULL, NULL, NULL);
    return w;
}

static const char *failure_type(json_t *answer) {
    return json_string_value(json_object_get(json_object_get(json_object_get(answer, "result"), "failure"), "type"));
}

TEST(a_worker_on_a_socket_initializes_registers_and_serves_with_context) {
    peer_t peer;
    keel_worker_t *w = serving_worker(&peer);
    CHECK(w != NULL);
    run_t run;
    run_start(&run, w);
    json_t *init = NULL;
    json_t *reg = peer_handshake(&peer, &init);
    json_t *client_info = json_pack("{s:s,s:s}", "name", "keel-c", "version", KEEL_VERSION);
    int ok = reg != NULL && json_equal(json_object_get(init, "clientInfo"), client_info) &&
             json_object_get(init, "token") == NULL && json_integer_value(json_object_get(reg, "maxConcurrent")) == 2;
    json_decref(client_info);
    json_decref(reg);
    json_decref(init);
    json_t *answer = NULL;
    if (ok) {
        peer_send(&peer, execute("k1", "context", "{}"));
        answer = peer_read(&peer);
    }
    json_t *expected = json_loads("{\"jsonrpc\":\"2.0\",\"id\":\"k1\",\"result\":{\"output\":{\"taskId\":\"k1\","
                                  "\"name\":\"context\",\"attempt\":3,\"key\":\"key-1\",\"workflowId\":null,\"deadline\":4102444800000,"
                                  "\"hbTimeout\":5000,\"previous\":{\"page\":7}}}}",
                                  0, NULL);
    int same = json_equal(answer, expected);
    if (!same) {
        char *got = json_dumps(answer, JSON_COMPACT);
        fprintf(stderr, "context answer: %s\n", got ? got : "(none)");
        free(got);
    }
    json_decref(answer);
    json_decref(expected);
    int rc = run_stop(&run);
    int eof = peer_wait_eof(&peer);
    peer_free(&peer);
    keel_worker_free(w);
    CHECK(ok);
    CHECK(same);
    CHECK(rc == 0);
    CHECK(eof);
}

TEST(a_cancel_notification_wakes_a_sleeping_activity_which_reports_cancelled) {
    peer_t peer;
    keel_worker_t *w = serving_worker(&peer);
    CHECK(w != NULL);
    run_t run;
    run_start(&run, w);
    json_decref(peer_handshake(&peer, NULL));
    peer_send(&peer, execute("k1", "waits", "{}"));
    json_t *heartbeat = peer_read(&peer);
    int is_heartbeat = json_is_string(json_object_get(heartbeat, "method")) &&
                       strcmp(json_string_value(json_object_get(heartbeat, "method")), "activity/heartbeat") == 0 &&
                       json_integer_value(json_object_get(json_object_get(heartbeat, "params"), "attempt")) == 3;
    peer_answer(&peer, heartbeat, json_pack("{s:b}", "cancelled", 0));
    json_decref(heartbeat);
    peer_send(&peer, json_loads("{\"jsonrpc\":\"2.0\",\"method\":\"activity/cancel\",\"params\":{\"taskId\":\"k1\","
                                "\"attempt\":3,\"reason\":\"by test\"}}",
                                0, NULL));
    json_t *answer = peer_read(&peer);
    const char *type = failure_type(answer);
    int cancelled = type != NULL && strcmp(type, "Cancelled") == 0;
    json_decref(answer);
    int rc = run_stop(&run);
    peer_free(&peer);
    keel_worker_free(w);
    CHECK(is_heartbeat);
    CHECK(cancelled);
    CHECK(rc == 0);
}

TEST(stop_drains_running_work_and_refuses_new_work_with_32003) {
    peer_t peer;
    keel_worker_t *w = serving_worker(&peer);
    CHECK(w != NULL);
    run_t run;
    run_start(&run, w);
    json_decref(peer_handshake(&peer, NULL));
    /* Long enough that k1 is still running when k2 arrives, even on a loaded machine. */
    peer_send(&peer, execute("k1", "nap", "{\"ms\":2000}"));
    /* Stop only once k1 runs: a stop that the reader thread sees before k1 refuses k1 too, and the
     * drain then ends at once, before k2 is read (seen once in CI on a loaded machine). */
    for (int waited = 0; waited < 5000; waited += 5) {
        pthread_mutex_lock(&w->mu);
        int running = w->active;
        pthread_mutex_unlock(&w->mu);
        if (running > 0) {
            break;
        }
        struct timespec pause = {0, 5 * 1000000L};
        nanosleep(&pause, NULL);
    }
    keel_worker_stop(w);
    /* Send k2 once the worker has seen the stop (a fixed pause is not enough on a loaded machine). */
    for (int waited = 0; waited < 5000; waited += 5) {
        pthread_mutex_lock(&w->mu);
        int stopping = w->stop_requested || w->draining;
        pthread_mutex_unlock(&w->mu);
        if (stopping) {
            break;
        }
        struct timespec pause = {0, 5 * 1000000L};
        nanosleep(&pause, NULL);
    }
    peer_send(&peer, execute("k2", "nap", "{\"ms\":0}"));
    json_t *first = peer_read(&peer);
    json_t *second = peer_read(&peer);
    /* The refusal usually comes first, but on a loaded machine k1 may finish before it: match by id. */
    const char *first_id = json_string_value(json_object_get(first, "id"));
    json_t *k2_answer = first_id != NULL && strcmp(first_id, "k2") == 0 ? first : second;
    json_t *k1_answer = k2_answer == first ? second : first;
    int refused = json_integer_value(json_object_get(json_object_get(k2_answer, "error"), "code")) == KEEL_SHUTTING_DOWN &&
                  json_string_value(json_object_get(k2_answer, "id")) != NULL &&
                  strcmp(json_string_value(json_object_get(k2_answer, "id")), "k2") == 0;
    int finished = json_is_true(json_object_get(json_object_get(json_object_get(k1_answer, "result"), "output"), "napped"));
    json_decref(first);
    json_decref(second);
    int eof = peer_wait_eof(&peer);
    pthread_join(run.thread, NULL);
    peer_free(&peer);
    keel_worker_free(w);
    CHECK(refused);
    CHECK(finished);
    CHECK(eof);
    CHECK(run.rc == 0);
}

TEST(a_dropped_connection_is_reopened_initialized_and_registered_again) {
    peer_t peer;
    keel_worker_t *w = serving_worker(&peer);
    CHECK(w != NULL);
    run_t run;
    run_start(&run, w);
    json_t *first = peer_handshake(&peer, NULL);
    peer_drop(&peer);
    json_t *second = peer_handshake(&peer, NULL); /* the worker comes back after ~0.1 s */
    int same = first != NULL && json_equal(first, second);
    json_decref(first);
    json_decref(second);
    int rc = run_stop(&run);
    peer_free(&peer);
    keel_worker_free(w);
    CHECK(same);
    CHECK(rc == 0);
}

TEST(tcp_sends_the_token_and_unauthorized_is_final) {
    peer_t peer;
    CHECK(peer_listen_tcp(&peer) == 0);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", peer.port);
    keel_worker_options_t opts = {.tcp = address, .token = "s3cret", .no_signal_handlers = 1};
    keel_worker_t *w = keel_worker_new(&opts, NULL);
    run_t run;
    run_start(&run, w);
    int accepted = peer_accept(&peer) == 0;
    json_t *init = accepted ? peer_read(&peer) : NULL;
    const char *token = json_string_value(json_object_get(json_object_get(init, "params"), "token"));
    int has_token = token != NULL && strcmp(token, "s3cret") == 0;
    if (init != NULL) {
        peer_send(&peer, json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", json_object_get(init, "id"),
                                   "error", "code", KEEL_UNAUTHORIZED, "message", "wrong token"));
    }
    json_decref(init);
    pthread_join(run.thread, NULL); /* no reconnect after a final refusal */
    peer_free(&peer);
    keel_worker_free(w);
    CHECK(accepted);
    CHECK(has_token);
    CHECK(run.rc == -1);
    CHECK(run.err.code == KEEL_UNAUTHORIZED);
}

TEST(no_transport_configured_is_a_config_error) {
    unsetenv("KEEL_SOCKET");
    unsetenv("KEEL_TCP");
    unsetenv("KEEL_TRANSPORT");
    keel_error_t err;
    keel_worker_t *w = new_worker(NULL);
    int rc = keel_worker_run(w, &err);
    keel_worker_free(w);
    CHECK(rc == -1);
    CHECK(err.code == KEEL_E_CONFIG);
    CHECK(keel_client_connect(NULL, &err) == NULL);
    CHECK(err.code == KEEL_E_CONFIG);
}

/* ---- activity/publish (docs/protocol.md "Streams") ---- */

/* Publishes {"n":1} (default name) and {"n":2} named "progress"; on a refusal returns what it saw. */
static json_t *publishes(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)input, (void)data;
    for (int n = 1; n <= 2; n++) {
        json_t *event = json_pack("{s:i}", "n", n);
        keel_error_t err = {0};
        int rc = keel_activity_publish(ctx, n == 1 ? NULL : "progress", event, &err);
        json_decref(event);
        if (rc != 0) {
            return json_pack("{s:i,s:i,s:b}", "refusedAt", n, "code", err.code, "cancelled",
                             keel_activity_cancelled(ctx));
        }
    }
    return json_pack("{s:i}", "published", 2);
}

static keel_worker_t *publishing_worker(peer_t *peer) {
    char path[256];
    snprintf(path, sizeof path, "%s/p.sock", harness_tmpdir());
    if (peer_listen_unix(peer, path) != 0) {
        return NULL;
    }
    keel_worker_t *w = new_worker(path);
    keel_worker_register_activity(w, "publishes", publishes, NULL, NULL, NULL);
    return w;
}

static int is_publish(json_t *request) {
    const char *method = json_string_value(json_object_get(request, "method"));
    return method != NULL && strcmp(method, "activity/publish") == 0;
}

TEST(activity_publish_sends_each_event_in_order_and_waits_for_the_answer) {
    peer_t peer;
    keel_worker_t *w = publishing_worker(&peer);
    CHECK(w != NULL);
    run_t run;
    run_start(&run, w);
    json_decref(peer_handshake(&peer, NULL));
    json_t *exec = execute("k1", "publishes", "{}");
    json_object_set_new(json_object_get(exec, "params"), "attemptToken", json_string("tok-3"));
    peer_send(&peer, exec);
    json_t *first = peer_read(&peer);
    /* Nothing more until the first publish is answered. */
    struct pollfd quiet = {.fd = peer.fd, .events = POLLIN};
    int waited = peer.len == 0 && poll(&quiet, 1, 200) == 0;
    peer_answer(&peer, first, json_object());
    json_t *second = peer_read(&peer);
    peer_answer(&peer, second, json_object());
    json_t *answer = peer_read(&peer);
    json_t *want_first = json_loads("{\"taskId\":\"k1\",\"attempt\":3,\"name\":\"event\",\"event\":{\"n\":1},"
                                    "\"attemptToken\":\"tok-3\"}", 0, NULL);
    json_t *want_second = json_loads("{\"taskId\":\"k1\",\"attempt\":3,\"name\":\"progress\",\"event\":{\"n\":2},"
                                     "\"attemptToken\":\"tok-3\"}", 0, NULL);
    json_t *want_output = json_pack("{s:i}", "published", 2);
    int first_ok = is_publish(first) && json_equal(json_object_get(first, "params"), want_first);
    int second_ok = is_publish(second) && json_equal(json_object_get(second, "params"), want_second);
    int output_ok = json_equal(json_object_get(json_object_get(answer, "result"), "output"), want_output);
    json_decref(first);
    json_decref(second);
    json_decref(answer);
    json_decref(want_first);
    json_decref(want_second);
    json_decref(want_output);
    int rc = run_stop(&run);
    peer_free(&peer);
    keel_worker_free(w);
    CHECK(first_ok);
    CHECK(waited);
    CHECK(second_ok);
    CHECK(output_ok);
    CHECK(rc == 0);
}

/* A refused publish returns -1 with the wire error: 2006 (the attempt ended, which also cancels
 * it) and -32602 (an activity run by activity/call has no stream; the attempt goes on). */
TEST(activity_publish_reports_an_error_answer) {
    peer_t peer;
    keel_worker_t *w = publishing_worker(&peer);
    CHECK(w != NULL);
    run_t run;
    run_start(&run, w);
    json_decref(peer_handshake(&peer, NULL));
    int codes[2] = {KEEL_ATTEMPT_SUPERSEDED, KEEL_INVALID_PARAMS};
    json_t *outputs[2] = {NULL, NULL};
    int no_token = 1;
    for (int i = 0; i < 2; i++) {
        peer_send(&peer, execute(i == 0 ? "k1" : "k2", "publishes", "{}"));
        json_t *publish = peer_read(&peer);
        no_token &= is_publish(publish) && json_object_get(json_object_get(publish, "params"), "attemptToken") == NULL;
        peer_send(&peer, json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", json_object_get(publish, "id"),
                                   "error", "code", codes[i], "message", "refused"));
        json_decref(publish);
        json_t *answer = peer_read(&peer);
        outputs[i] = json_incref(json_object_get(json_object_get(answer, "result"), "output"));
        json_decref(answer);
    }
    json_t *superseded = json_pack("{s:i,s:i,s:b}", "refusedAt", 1, "code", 2006, "cancelled", 1);
    json_t *invalid = json_pack("{s:i,s:i,s:b}", "refusedAt", 1, "code", -32602, "cancelled", 0);
    int ok = json_equal(outputs[0], superseded) && json_equal(outputs[1], invalid);
    for (int i = 0; i < 2 && !ok; i++) {
        char *got = json_dumps(outputs[i], JSON_COMPACT);
        fprintf(stderr, "output %d: %s\n", i, got ? got : "(none)");
        free(got);
    }
    json_decref(outputs[0]);
    json_decref(outputs[1]);
    json_decref(superseded);
    json_decref(invalid);
    int rc = run_stop(&run);
    peer_free(&peer);
    keel_worker_free(w);
    CHECK(no_token);
    CHECK(ok);
    CHECK(rc == 0);
}
