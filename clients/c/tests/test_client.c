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

/* Priorities and fairness keys: `priority` and `fairnessKey` are sent only when the caller set
 * them (a priority of 0 too, through has_priority), never a default of this library's own. */
TEST(client_priority_and_fairness_key_are_sent_only_when_set) {
    script_t s;
    keel_client_t *c = start(&s, 0);
    CHECK(c != NULL);
    keel_error_t err;
    json_t *input = json_pack("{s:i}", "n", 1);
    json_t *results[7];
    results[0] = keel_activity_call(c, "echo", input,
                                    &(keel_call_options_t){.no_wait = 1, .has_priority = 1, .priority = 9,
                                                           .fairness_key = "tenant-a"},
                                    &err);
    results[1] = keel_activity_call(c, "echo", input, &(keel_call_options_t){.no_wait = 1, .has_priority = 1}, &err);
    results[2] = keel_activity_call(c, "echo", input, &(keel_call_options_t){.no_wait = 1, .priority = 9}, &err);
    results[3] = keel_activity_call(c, "echo", input,
                                    &(keel_call_options_t){.no_wait = 1, .has_priority = 1, .priority = -1000,
                                                           .fairness_key = "b"},
                                    &err);
    results[4] = keel_workflow_start_with_options(
        c, "wf.sequence", input,
        &(keel_workflow_start_options_t){.workflow_id = "wf-1", .has_priority = 1, .priority = 5, .fairness_key = "acme"},
        &err);
    results[5] = keel_workflow_start_with_options(c, "wf.sequence", input,
                                                  &(keel_workflow_start_options_t){.fairness_key = "acme"}, &err);
    results[6] = keel_workflow_start_with_options(c, "wf.sequence", NULL, NULL, &err);
    json_decref(input);
    finish(&s, c);
    int results_ok = 1;
    for (size_t i = 0; i < 7; i++) {
        results_ok &= results[i] != NULL;
        json_decref(results[i]);
    }
    int params_ok = 1;
    params_ok &= params_are(&s, 1, "activity/call",
                            "{\"name\":\"echo\",\"input\":{\"n\":1},\"wait\":false,\"priority\":9,"
                            "\"fairnessKey\":\"tenant-a\"}");
    params_ok &= params_are(&s, 2, "activity/call", "{\"name\":\"echo\",\"input\":{\"n\":1},\"wait\":false,\"priority\":0}");
    params_ok &= params_are(&s, 3, "activity/call", "{\"name\":\"echo\",\"input\":{\"n\":1},\"wait\":false}");
    params_ok &= params_are(&s, 4, "activity/call",
                            "{\"name\":\"echo\",\"input\":{\"n\":1},\"wait\":false,\"priority\":-1000,"
                            "\"fairnessKey\":\"b\"}");
    params_ok &= params_are(&s, 5, "workflow/start",
                            "{\"name\":\"wf.sequence\",\"input\":{\"n\":1},\"workflowId\":\"wf-1\",\"priority\":5,"
                            "\"fairnessKey\":\"acme\"}");
    params_ok &= params_are(&s, 6, "workflow/start", "{\"name\":\"wf.sequence\",\"input\":{\"n\":1},\"fairnessKey\":\"acme\"}");
    params_ok &= params_are(&s, 7, "workflow/start", "{\"name\":\"wf.sequence\",\"input\":null}");
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
             !keel__safe_to_repeat("workflow/signal", unkeyed) && keel__safe_to_repeat("workflow/signal", signal) &&
             keel__safe_to_repeat("workflow/follow", unkeyed);
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

/* ---- workflow/follow (docs/protocol.md "Streams") ---- */

/* A peer holding a stream of 5 events (offsets 1..5; 3 and 4 from an activity) that answers
 * workflow/follow two events a page, done with the page that reaches offset 5. With drop_at = n
 * it hangs up on the n-th follow request instead of answering it, then takes the reconnect. */
typedef struct follow_script {
    peer_t peer;
    json_t *follows; /* the params of every workflow/follow received */
    int drop_at;
    pthread_t thread;
} follow_script_t;

static json_t *stream_event(json_int_t offset) {
    if (offset == 3 || offset == 4) {
        return json_pack("{s:I,s:s,s:{s:I},s:I,s:s,s:s,s:i}", "offset", offset, "name", "progress", "event", "step",
                         offset - 2, "atMs", (json_int_t)1700000000000 + offset, "source", "activity", "taskId", "t-1",
                         "attempt", 1);
    }
    return json_pack("{s:I,s:s,s:{s:I},s:I,s:s,s:I}", "offset", offset, "name", "event", "event", "n", offset, "atMs",
                     (json_int_t)1700000000000 + offset, "source", "workflow", "seq", offset);
}

static void *serve_follow(void *arg) {
    follow_script_t *s = arg;
    int follows = 0;
    while (peer_accept(&s->peer) == 0) {
        json_t *request;
        int dropped = 0;
        while (!dropped && (request = peer_read(&s->peer)) != NULL) {
            const char *method = json_string_value(json_object_get(request, "method"));
            json_t *params = json_object_get(request, "params");
            if (method != NULL && strcmp(method, "initialize") == 0) {
                peer_answer(&s->peer, request,
                            json_pack("{s:s,s:{s:s,s:s},s:{s:b,s:i}}", "protocolVersion", "1", "serverInfo", "name",
                                      "keel", "version", "0.1.0", "capabilities", "batches", 1, "maxMessageBytes",
                                      16777216));
            } else if (method != NULL && strcmp(method, "workflow/follow") == 0) {
                json_array_append(s->follows, params);
                const char *id = json_string_value(json_object_get(params, "workflowId"));
                json_int_t after = json_integer_value(json_object_get(params, "afterOffset"));
                if (++follows == s->drop_at) {
                    dropped = 1;
                    peer_drop(&s->peer);
                } else if (id == NULL || strcmp(id, "wf-1") != 0) {
                    peer_send(&s->peer, json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id",
                                                  json_object_get(request, "id"), "error", "code", 4004, "message",
                                                  "workflow not found"));
                } else {
                    json_t *events = json_array();
                    json_int_t next = after;
                    for (json_int_t o = after + 1; o <= 5 && o <= after + 2; o++) {
                        json_array_append_new(events, stream_event(o));
                        next = o;
                    }
                    peer_answer(&s->peer, request,
                                json_pack("{s:s,s:o,s:I,s:s,s:b}", "workflowId", "wf-1", "events", events,
                                          "nextOffset", next, "status", next == 5 ? "completed" : "running", "done",
                                          next == 5));
                }
            }
            json_decref(request);
        }
        if (!dropped) {
            break; /* the client closed */
        }
    }
    return NULL;
}

static keel_client_t *start_follow(follow_script_t *s, int drop_at) {
    char path[256];
    snprintf(path, sizeof path, "%s/f.sock", harness_tmpdir());
    s->follows = json_array();
    s->drop_at = drop_at;
    if (peer_listen_unix(&s->peer, path) != 0) {
        return NULL;
    }
    pthread_create(&s->thread, NULL, serve_follow, s);
    return keel_client_connect(&(keel_client_options_t){.socket_path = path, .reconnect_timeout_ms = 5000}, NULL);
}

static void finish_follow(follow_script_t *s, keel_client_t *c) {
    keel_client_close(c);
    pthread_join(s->thread, NULL);
    peer_free(&s->peer);
}

typedef struct collected {
    json_t *events;
    int stop_after; /* 0: never stop */
} collected_t;

static int collect(json_t *event, void *userdata) {
    collected_t *got = userdata;
    json_array_append(got->events, event);
    return got->stop_after > 0 && (int)json_array_size(got->events) >= got->stop_after;
}

/* The offsets seen, as "1,2,3". */
static void offsets_of(json_t *events, char *out, size_t size) {
    size_t used = 0, i;
    json_t *event;
    out[0] = '\0';
    json_array_foreach(events, i, event) {
        used += (size_t)snprintf(out + used, size - used, "%s%lld", i ? "," : "",
                                 (long long)json_integer_value(json_object_get(event, "offset")));
    }
}

TEST(follow_pages_through_next_offset_and_stops_at_done) {
    follow_script_t s;
    keel_client_t *c = start_follow(&s, 0);
    CHECK(c != NULL);
    collected_t got = {json_array(), 0};
    keel_error_t err = {0};
    int rc = keel_workflow_follow(c, "wf-1", 0, collect, &got, &err);
    finish_follow(&s, c);
    char offsets[64];
    offsets_of(got.events, offsets, sizeof offsets);
    json_t *want = json_loads("[{\"workflowId\":\"wf-1\",\"afterOffset\":0,\"waitTimeoutMs\":30000},"
                              "{\"workflowId\":\"wf-1\",\"afterOffset\":2,\"waitTimeoutMs\":30000},"
                              "{\"workflowId\":\"wf-1\",\"afterOffset\":4,\"waitTimeoutMs\":30000}]",
                              0, NULL);
    int params_ok = json_equal(s.follows, want);
    char *sent = json_dumps(s.follows, JSON_COMPACT);
    json_t *third = json_array_get(got.events, 2);
    int activity_ok = third != NULL && strcmp(json_string_value(json_object_get(third, "source")), "activity") == 0 &&
                      strcmp(json_string_value(json_object_get(third, "taskId")), "t-1") == 0;
    json_decref(want);
    json_decref(got.events);
    json_decref(s.follows);
    CHECK_MSG(rc == 0, "rc %d: %d %s", rc, err.code, err.message);
    CHECK_MSG(strcmp(offsets, "1,2,3,4,5") == 0, "offsets %s", offsets);
    CHECK(activity_ok);
    CHECK_MSG(params_ok, "sent %s", sent);
    free(sent);
}

TEST(follow_from_an_offset_yields_only_later_events_and_a_callback_may_stop_it) {
    follow_script_t s;
    keel_client_t *c = start_follow(&s, 0);
    CHECK(c != NULL);
    collected_t later = {json_array(), 0}, first_two = {json_array(), 2};
    keel_error_t err = {0};
    int rc_later = keel_workflow_follow(c, "wf-1", 3, collect, &later, &err);
    int rc_stopped = keel_workflow_follow(c, "wf-1", 0, collect, &first_two, &err);
    finish_follow(&s, c);
    char offsets_later[64], offsets_stopped[64];
    offsets_of(later.events, offsets_later, sizeof offsets_later);
    offsets_of(first_two.events, offsets_stopped, sizeof offsets_stopped);
    size_t polls = json_array_size(s.follows);
    json_decref(later.events);
    json_decref(first_two.events);
    json_decref(s.follows);
    CHECK(rc_later == 0);
    CHECK_MSG(strcmp(offsets_later, "4,5") == 0, "offsets %s", offsets_later);
    CHECK(rc_stopped == 1);
    CHECK_MSG(strcmp(offsets_stopped, "1,2") == 0, "offsets %s", offsets_stopped);
    CHECK_MSG(polls == 2, "%zu polls: the stopped follow polls no further", polls);
}

TEST(follow_resumes_from_the_last_offset_after_a_reconnect) {
    follow_script_t s;
    keel_client_t *c = start_follow(&s, 2); /* hang up on the second poll (afterOffset 2) */
    CHECK(c != NULL);
    collected_t got = {json_array(), 0};
    keel_error_t err = {0};
    int rc = keel_workflow_follow(c, "wf-1", 0, collect, &got, &err);
    finish_follow(&s, c);
    char offsets[64];
    offsets_of(got.events, offsets, sizeof offsets);
    json_int_t afters[4] = {-1, -1, -1, -1};
    for (size_t i = 0; i < 4 && i < json_array_size(s.follows); i++) {
        afters[i] = json_integer_value(json_object_get(json_array_get(s.follows, i), "afterOffset"));
    }
    size_t polls = json_array_size(s.follows);
    json_decref(got.events);
    json_decref(s.follows);
    CHECK_MSG(rc == 0, "rc %d: %d %s", rc, err.code, err.message);
    CHECK_MSG(strcmp(offsets, "1,2,3,4,5") == 0, "offsets %s", offsets);
    CHECK_MSG(polls == 4 && afters[0] == 0 && afters[1] == 2 && afters[2] == 2 && afters[3] == 4,
              "%zu polls, after %lld %lld %lld %lld", polls, (long long)afters[0], (long long)afters[1],
              (long long)afters[2], (long long)afters[3]);
}

TEST(follow_reports_a_wire_error) {
    follow_script_t s;
    keel_client_t *c = start_follow(&s, 0);
    CHECK(c != NULL);
    collected_t got = {json_array(), 0};
    keel_error_t err = {0};
    int rc = keel_workflow_follow(c, "nope", 0, collect, &got, &err);
    int code = err.code;
    json_t *page = keel_workflow_follow_page(c, "wf-1", 4, 10, 0, &err);
    finish_follow(&s, c);
    size_t seen = json_array_size(got.events);
    int page_ok = page != NULL && json_is_true(json_object_get(page, "done")) &&
                  json_array_size(json_object_get(page, "events")) == 1;
    json_t *last = json_array_get(s.follows, 1);
    int page_params = json_integer_value(json_object_get(last, "limit")) == 10 &&
                      json_object_get(last, "waitTimeoutMs") == NULL;
    json_decref(page);
    json_decref(got.events);
    json_decref(s.follows);
    CHECK(rc == -1);
    CHECK_MSG(code == 4004, "code %d", code);
    CHECK(seen == 0);
    CHECK(page_ok);
    CHECK(page_params);
}
