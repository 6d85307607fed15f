#include <stdio.h>
#include <keel.h>
static json_t *hello(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)ctx, (void)data;
    return json_pack("{s:s+}", "greeting", "Hello, ", json_string_value(json_object_get(input, "name")));
}
int main(void) {
    keel_error_t err;
    keel_worker_t *w = keel_worker_new(&(keel_worker_options_t){.name = "hello-worker"}, &err);
    if (!w || keel_worker_register_activity(w, "greet.hello", hello, NULL, NULL, &err) || keel_worker_run(w, &err))
        return fprintf(stderr, "keel: %s\n", err.message), 1;
    keel_worker_free(w);
    return 0;
}
