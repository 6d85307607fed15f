/*
 * calc-worker: the agent's calculator, `calc.evaluate` ({expression} -> {expression, value}), in C
 * on clients/c. A recursive-descent parser for + - * / % ^ (right-associative), unary minus and
 * parentheses over doubles; a malformed expression or a division by zero is a non-retryable
 * `BadExpression` failure, which the agent hands back to the model. Each evaluation appends one
 * JSON line to $KEEL_EXAMPLE_LOG (run.sh sets the default).
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <keel.h>

/* Bound on nesting, so a hostile expression cannot exhaust the stack of a pool thread. */
#define MAX_DEPTH 64

typedef struct {
    const char *s;
    int depth;
    const char *error; /* first error, NULL while fine */
} parser_t;

static double expr(parser_t *p);

static void skip(parser_t *p) {
    while (isspace((unsigned char)*p->s)) p->s++;
}

static double fail(parser_t *p, const char *error) {
    if (!p->error) p->error = error;
    return 0;
}

static double primary(parser_t *p) {
    skip(p);
    if (++p->depth > MAX_DEPTH) return fail(p, "expression nested too deeply");
    double v;
    if (*p->s == '(') {
        p->s++;
        v = expr(p);
        skip(p);
        if (*p->s != ')') return fail(p, "missing ')'");
        p->s++;
    } else if (*p->s == '-' || *p->s == '+') {
        int negative = *p->s++ == '-';
        v = primary(p);
        if (negative) v = -v;
    } else if (isdigit((unsigned char)*p->s) || *p->s == '.') {
        char *end;
        v = strtod(p->s, &end);
        if (end == p->s) return fail(p, "bad number");
        p->s = end;
    } else {
        return fail(p, *p->s ? "unexpected character" : "unexpected end of expression");
    }
    p->depth--;
    return v;
}

static double power(parser_t *p) {
    double base = primary(p);
    skip(p);
    if (*p->s == '^') {
        p->s++;
        return pow(base, power(p)); /* 2^3^2 = 2^(3^2) */
    }
    return base;
}

static double term(parser_t *p) {
    double v = power(p);
    for (;;) {
        skip(p);
        char op = *p->s;
        if (op != '*' && op != '/' && op != '%') return v;
        p->s++;
        double r = power(p);
        if ((op == '/' || op == '%') && r == 0) return fail(p, "division by zero");
        v = op == '*' ? v * r : op == '/' ? v / r : fmod(v, r);
    }
}

static double expr(parser_t *p) {
    double v = term(p);
    for (;;) {
        skip(p);
        char op = *p->s;
        if (op != '+' && op != '-') return v;
        p->s++;
        double r = term(p);
        v = op == '+' ? v + r : v - r;
    }
}

/* Appends {tool, idempotencyKey, attempt, ...} in one O_APPEND write: lines never interleave. */
static void log_side_effect(keel_activity_ctx_t *ctx, json_t *input, json_t *output) {
    const char *path = getenv("KEEL_EXAMPLE_LOG");
    if (!path) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    json_t *line = json_pack("{s:s, s:s?, s:i, s:s?, s:i, s:I, s:O, s:O}", "tool", "calc.evaluate", "idempotencyKey",
                             keel_activity_idempotency_key(ctx), "attempt", keel_activity_attempt(ctx), "workflowId",
                             keel_activity_workflow_id(ctx), "pid", (int)getpid(), "atMs",
                             (json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, "input", input, "output", output);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    if (text) {
        size_t n = strlen(text);
        char *buffer = malloc(n + 1);
        if (buffer) {
            memcpy(buffer, text, n);
            buffer[n] = '\n';
            int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
            if (fd >= 0) {
                if (write(fd, buffer, n + 1) < 0) perror("calc-worker: side-effect log");
                close(fd);
            }
            free(buffer);
        }
        free(text);
    }
    json_decref(line);
}

static json_t *evaluate(keel_activity_ctx_t *ctx, json_t *input, void *userdata) {
    (void)userdata;
    const char *expression = json_string_value(json_object_get(input, "expression"));
    if (!expression) {
        keel_activity_fail(ctx, "BadExpression", "input.expression must be a string", 0, -1, NULL);
        return NULL;
    }
    parser_t p = {.s = expression};
    double value = expr(&p);
    skip(&p);
    if (!p.error && *p.s) p.error = "unexpected character";
    if (!p.error && !isfinite(value)) p.error = "result is not a finite number";
    if (p.error) {
        char message[160];
        snprintf(message, sizeof message, "%s at offset %d", p.error, (int)(p.s - expression));
        keel_activity_fail(ctx, "BadExpression", message, 0, -1, json_pack("{s:s}", "expression", expression));
        return NULL;
    }
    /* Rounded to 10 decimals, so 3*142.50*1.16 reads 495.9, not 495.90000000000003. */
    json_t *output = json_pack("{s:s, s:f}", "expression", expression, "value", round(value * 1e10) / 1e10);
    log_side_effect(ctx, input, output);
    return output;
}

int main(void) {
    keel_error_t err;
    json_t *in = json_pack("{s:s, s:[s], s:{s:{s:s, s:i}}}", "type", "object", "required", "expression", "properties",
                           "expression", "type", "string", "minLength", 1);
    json_t *out = json_pack("{s:s, s:[s,s]}", "type", "object", "required", "expression", "value");
    keel_activity_options_t opts = {
        .description = "Evaluates arithmetic: + - * / % ^ and parentheses.", .input = in, .output = out};
    keel_worker_t *w = keel_worker_new(&(keel_worker_options_t){.name = "tools-c", .max_concurrent = 4}, &err);
    if (!w || keel_worker_register_activity(w, "calc.evaluate", evaluate, NULL, &opts, &err) || keel_worker_run(w, &err)) {
        fprintf(stderr, "calc-worker: %s\n", err.message);
        return 1;
    }
    keel_worker_free(w);
    json_decref(in);
    json_decref(out);
    return 0;
}
