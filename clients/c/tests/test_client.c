/* Client: each blocking call sends the documented params and returns the documented result,
 * checked against a scripted peer over a real Unix socket. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "internal.h"
#include "peer.h"

typedef struct script {
    peer_t peer;
    json_t *requests; /* every request the client sent, in order */
    int hang_up;      /* close the connection after answering initialize */
    pthread_t thread;
} script_t;

/* Answers initialize, then every request with a canned result by method (or -32601). */
static void *serve(void *arg) {
    script_t *s = arg;
    if (peer_accept(&s->peer) != 0) {
        return NULL;
    }
    json_t *results = json_loads(
        "{\"initialize\":{\"protocolVersion\":\"1\",\"serverInfo\":{\"name\":\"keel\",\"version\":\"0.1.0\"},"
        "\"capabilities\":{\"batches\":true,\"maxMessageBytes\":16777216}},"
        "\"workflow/start\":{\"workflowId\":\"wf-1\",\"status\":\"pending\",\"started\":true},"
        "\"workflow/result\":{\"workflowId\":\"wf-1\",\"status\":\"completed\",\"output\":{\"n\":2}},"
        "\"workflow/signal\":{\"delivered\":true},\"workflow/cancel\":{\"status\":\"cancelled\"},"
        "\"workflow/describe\":{\"workflowId\":\"wf-1\",\"name\":\"wf.sequence\",\"status\":\"running\"},"
        "\"activity/call\":{\"taskId\":\"t-1\",\"status\":\"completed\",\"attempts\":1,\"output\":{\"ok\":true}},"
        "\"activity/result\":{\"taskId\":\"t-1\",\"status\":\"running\",\"attempts\":1},"
        "\"activity/cancel\":{\"status\":\"cancelled\"}}",
        0, NULL);
    json_t *request;
    while ((request = peer_read(&s->peer)) != NULL) {
        const char *method = json_string_value(json_object_get(request, "method"));
        json_array_append(s->requests, request);
        json_t *result = json_object_get(results, method ? method : "");
        if (result != NULL) {
            peer_answer(&s->peer, request, json_incref(result));
        } else {
            peer_send(&s->peer, json_pack("{s:s,s:O,s:{s:i,s:s,s:{s:s}}}", "jsonrpc", "2.0", "id",
                                          json_object_get(request, "id"), "error", "code", KEEL_METHOD_NOT_FOUND,
                                          "message", "Method not found", "data", "method", method ? method : ""));
        }
        json_decref(request);
        if (s->hang_up) {
            shutdown(s->peer.fd, SHUT_RDWR);
            break;
        }
    }
    json_decref(results);
    return NULL;
}

/* Like start, with a bound on how long a call keeps reconnecting. */
static keel_client_t *start_with(script_t *s, int hang_up, int reconnect_timeout_ms);

static keel_client_t *start(script_t *s, int hang_up) {
    return start_with(s, hang_up, 0);
}

static keel_client_t *start_with(script_t *s, int hang_up, int reconnect_timeout_ms) {
    char path[256];
    s->hang_up = hang_up;
    snprintf(path, sizeof path, "%s/c.sock", harness_tmpdir());
    s->requests = json_array();
    if (peer_listen_unix(&s->peer, path) != 0) {
        return NULL;
    }
    pthread_create(&s->thread, NULL, serve, s);
    return keel_client_connect(
        &(keel_client_options_t){.socket_path = path, .reconnect_timeout_ms = reconnect_timeout_ms}, NULL);
}

static void finish(script_t *s, keel_client_t *c) {
    keel_client_close(c);
    pthread_join(s->thread, NULL);
    peer_free(&s->peer);
}

/* The params of the n-th request, as compact sorted JSON text (for comparison). */
static int params_are(script_t *s, size_t n, const char *method, const char *expected) {
    json_t *request = json_array_get(s->requests, n);
    json_t *want = json_loads(expected, 0, NULL);
    int same = json_equal(json_object_get(request, "params"), want) &&
               strcmp(json_string_value(json_object_get(request, "method")), method) == 0;
    if (!same) {
        char *got = json_dumps(request, JSON_COMPACT);
        fprintf(stderr, "request %zu: %s\n", n, got);
        free(got);
    }
    json_decref(want);
    return same;
}

TEST(client_workflow_operations_send_the_documented_params) {
    script_t s;
    keel_client_t *c = start(&s, 0);
    CHECK(c != NULL);
    keel_error_t err;
    json_t *input = json_pack("{s:i}", "n", 1);
    json_t *started = keel_workflow_start(c, "wf.sequence", input, "wf-1", &err);
    json_t *result = keel_workflow_result(c, "wf-1", 1000, &err);
    int signalled = keel_workflow_signal(c, "wf-1", "go", input, &err);
    int cancelled = keel_workflow_cancel(c, "wf-1", "by test", &err);
    json_t *described = keel_workflow_describe(c, "wf-1", &err);
    json_t *unset = keel_workflow_start(c, "wf.sequence", NULL, NULL, &err);
    json_decref(input);
    finish(&s, c);
    int results_ok = json_is_true(json_object_get(started, "started")) &&
                     json_integer_value(json_object_get(json_object_get(result, "output"), "n")) == 2 &&
                     signalled == 0 && cancelled == 0 &&
                     json_is_string(json_object_get(described, "status")) &&
                     strcmp(json_string_value(json_object_get(described, "status")), "running") == 0;
    json_decref(started);
    json_decref(result);
    json_decref(described);
    json_decref(unset);
    int params_ok = 1;
    params_ok &= params_are(&s, 0, "initialize", "{\"protocolVersion\":\"1\",\"clientInfo\":{\"name\":\"keel-c\",\"version\":\"" KEEL_VERSION "\"}}");
    params_ok &= params_are(&s, 1, "workflow/start", "{\"name\":\"wf.sequence\",\"input\":{\"n\":1},\"workflowId\":\"wf-1\"}");
    params_ok &= params_are(&s, 2, "workflow/result", "{\"workflowId\":\"wf-1\",\"waitTimeoutMs\":1000}");
    /* The signal carries a fresh UUID v4 as its requestId; the rest is as documented. */
    json_t *signal_params = json_object_get(json_array_get(s.requests, 3), "params");
    const char *request_id = json_string_value(json_object_get(signal_params, "requestId"));
    params_ok &= request_id != NULL && strlen(request_id) == 36 && request_id[14] == '4';
    json_object_del(signal_params, "requestId");
    params_ok &= params_are(&s, 3, "workflow/signal", "{\"workflowId\":\"wf-1\",\"name\":\"go\",\"payload\":{\"n\":1}}");
    params_ok &= params_are(&s, 4, "workflow/cancel", "{\"workflowId\":\"wf-1\",\"reason\":\"by test\"}");
    params_ok &= params_are(&s, 5, "workflow/describe", "{\"workflowId\":\"wf-1\"}");
    params_ok &= params_are(&s, 6, "workflow/start", "{\"name\":\"wf.sequence\",\"input\":null}");
    json_decref(s.requests);
    CHECK(results_ok);
    CHECK(params_ok);
}

TEST(client_activity_operations_send_the_documented_params) {
    script_t s;
    keel_client_t *c = start(&s, 0);
    CHECK(c != NULL);
    keel_error_t err;
    json_t *input = json_pack("{s:s}", "name", "Ada");
    json_t *policy = json_pack("{s:i}", "maximumAttempts", 3);
    keel_call_options_t opts = {.idempotency_key = "order-17", .wait_timeout_ms = 60000, .retry_policy = policy,
                                .start_to_close_ms = 30000};
    json_t *called = keel_activity_call(c, "greet.hello", input, &opts, &err);
    json_t *plain = keel_activity_call(c, "greet.hello", input, &(keel_call_options_t){.no_wait = 1}, &err);
    json_t *fetched = keel_activity_result(c, "t-1", 0, &err);
    int cancelled = keel_activity_cancel(c, "t-1", &err);
    json_decref(input);
    json_decref(policy);
    finish(&s, c);
    int results_ok = json_is_true(json_object_get(json_object_get(called, "output"), "ok")) &&
                     strcmp(json_string_value(json_object_get(fetched, "status")), "running") == 0 && cancelled == 0;
    json_decref(called);
    json_decref(plain);
    json_decref(fetched);
    int params_ok = 1;
    params_ok &= params_are(&s, 1, "activity/call",
                     "{\"name\":\"greet.hello\",\"input\":{\"name\":\"Ada\"},\"wait\":true,\"idempotencyKey\":\"order-17\","
                     "\"waitTimeoutMs\":60000,\"retryPolicy\":{\"maximumAttempts\":3},\"timeouts\":{\"startToCloseMs\":30000}}");
    params_ok &= params_are(&s, 2, "activity/call", "{\"name\":\"greet.hello\",\"input\":{\"name\":\"Ada\"},\"wait\":false}");
    params_ok &= params_are(&s, 3, "activity/result", "{\"taskId\":\"t-1\",\"waitTimeoutMs\":0}");
    params_ok &= params_are(&s, 4, "activity/cancel", "{\"taskId\":\"t-1\"}");
    json_decref(s.requests);
    CHECK(results_ok);
    CHECK(params_ok);
}

TEST(client_wire_errors_keep_code_message_and_data) {
    script_t s;
    keel_client_t *c = start(&s, 0);
    CHECK(c != NULL);
    keel_error_t err;
    json_t *result = keel_client_call(c, "no/such", NULL, 5000, &err);
    finish(&s, c);
    json_decref(s.requests);
    CHECK(result == NULL);
    CHECK(err.code == KEEL_METHOD_NOT_FOUND);
    CHECK(strcmp(err.message, "Method not found") == 0);
    CHECK(strcmp(err.data, "{\"method\":\"no/such\"}") == 0);
}

TEST(client_calls_fail_once_keel_stays_away_past_the_reconnect_timeout) {
    script_t s;
    keel_client_t *c = start_with(&s, 1, 300);
    CHECK(c != NULL);
    pthread_join(s.thread, NULL); /* the peer hung up after initialize */
    peer_free(&s.peer);           /* and stopped listening: connects are refused */
    long long started = keel__now_ms();
    keel_error_t err;
    json_t *result = keel_client_call(c, "ping", NULL, 5000, &err);
    long long took = keel__now_ms() - started;
    keel_client_close(c);
    json_decref(s.requests);
    CHECK(result == NULL);
    CHECK_MSG(err.code == KEEL_E_OS, "got %d %s", err.code, err.message);
    CHECK_MSG(took < 3000, "gave up after %lld ms, not about 300", took);
}

TEST(reconnect_backoff_is_full_jitter_capped_and_resets) {
    keel__backoff_t b;
    keel__backoff_init(&b, 100, 1000);
    int first = keel__backoff_next(&b), within = first <= 100;
    for (int i = 0; i < 40; i++) {
        int wait = keel__backoff_next(&b);
        within &= wait >= 0 && wait <= 1000;
    }
    keel__backoff_reset(&b);
    CHECK(within);
    CHECK(keel__backoff_next(&b) <= 100);
}

TEST(reconnect_repeats_only_reads_and_keyed_calls) {
    json_t *keyed = json_pack("{s:s,s:s}", "name", "a", "idempotencyKey", "k");
    json_t *unkeyed = json_pack("{s:s}", "name", "a");
    json_t *fail = json_pack("{s:s,s:s}", "workflowId", "w", "conflictPolicy", "fail");
    json_t *signal = json_pack("{s:s,s:s,s:s}", "workflowId", "w", "name", "go", "requestId", "r-1");
    int ok = keel__safe_to_repeat("workflow/result", unkeyed) && keel__safe_to_repeat("activity/call", keyed) &&
             !keel__safe_to_repeat("activity/call", unkeyed) && !keel__safe_to_repeat("workflow/start", fail) &&
             !keel__safe_to_repeat("workflow/signal", unkeyed) && keel__safe_to_repeat("workflow/signal", signal);
    json_decref(signal);
    json_decref(keyed);
    json_decref(unkeyed);
    json_decref(fail);
    CHECK(ok);
}

/* Several endpoints (docs/clients.md "Several endpoints"): how the list is read, and the ring. */
TEST(keel_socket_and_keel_tcp_take_comma_separated_lists) {
    unsetenv("KEEL_TRANSPORT");
    setenv("KEEL_SOCKET", "/a.sock, /b.sock", 1);
    keel__endpoints_t eps;
    keel__addresses_t none = {0};
    CHECK(keel__resolve_endpoints(&eps, &none, 1, NULL) == 0);
    CHECK(eps.count == 2 && strcmp(eps.items[0].socket_path, "/a.sock") == 0 &&
          strcmp(eps.items[1].socket_path, "/b.sock") == 0);
    CHECK(keel__endpoints_failed(&eps) == 0 && keel__endpoints_current(&eps) == &eps.items[1]);
    CHECK(keel__endpoints_failed(&eps) == 1 && keel__endpoints_current(&eps) == &eps.items[0]);
    keel__endpoints_free(&eps);
    unsetenv("KEEL_SOCKET");
    setenv("KEEL_TCP", "h1:7000,h2:7001", 1);
    CHECK(keel__resolve_endpoints(&eps, &none, 1, NULL) == 0);
    CHECK(eps.count == 2 && strcmp(eps.items[1].tcp, "h2:7001") == 0);
    keel__endpoints_free(&eps);
    setenv("KEEL_TCP", "h1:7000,,h2:7001", 1);
    keel_error_t err = {0};
    CHECK(keel__resolve_endpoints(&eps, &none, 1, &err) == -1);
    CHECK(err.code == KEEL_E_CONFIG && strstr(err.message, "empty entry") != NULL);
    unsetenv("KEEL_TCP");
    keel__addresses_t given = {.socket_path = "/a,b.sock"}; /* an option is used as is */
    CHECK(keel__resolve_endpoints(&eps, &given, 0, NULL) == 0);
    CHECK(eps.count == 1 && strcmp(eps.items[0].socket_path, "/a,b.sock") == 0);
    CHECK(keel__endpoints_failed(&eps) == 1); /* one endpoint: every failure waits the backoff */
    keel__endpoints_free(&eps);
}
