/* The C worker of the cross-language suite: activity c.add ({a, b, ms?} -> {sum, by: "c"}),
 * which first sleeps ms milliseconds (so a test can see it overlap a parallel step). */
#include <stdio.h>
#include <keel.h>

static json_t *add(keel_activity_ctx_t *ctx, json_t *input, void *data) {
    (void)data;
    json_t *a = json_object_get(input, "a"), *b = json_object_get(input, "b");
    if (!json_is_integer(a) || !json_is_integer(b)) {
        keel_activity_fail(ctx, "BadInput", "a and b must be integers", 0, -1, NULL);
        return NULL;
    }
    json_t *ms = json_object_get(input, "ms");
    if (json_is_integer(ms) && keel_activity_sleep(ctx, json_integer_value(ms)))
        return NULL; /* cancelled: reported as Cancelled */
    return json_pack("{s:I,s:s}", "sum", json_integer_value(a) + json_integer_value(b), "by", "c");
}

int main(void) {
    keel_error_t err;
    keel_worker_t *w = keel_worker_new(&(keel_worker_options_t){.name = "crosslang-c"}, &err);
    if (!w || keel_worker_register_activity(w, "c.add", add, NULL, NULL, &err) || keel_worker_run(w, &err))
        return fprintf(stderr, "crosslang-c: %s\n", err.message), 1;
    keel_worker_free(w);
    return 0;
}
