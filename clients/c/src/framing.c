/* Line framing: one UTF-8 JSON message per "\n"-terminated line, with a maximum frame size.
 *
 * docs/protocol.md, Framing: "One message per line: UTF-8 JSON without raw newlines, terminated by
 * `\n` (`\r\n` is accepted). A line longer than the frame limit (default 16 MiB) is discarded up to
 * its newline and answered with error `-32002 messageTooLarge`, `id: null`."
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void keel__decoder_init(keel__decoder_t *d, size_t limit) {
    memset(d, 0, sizeof *d);
    d->limit = limit ? limit : KEEL_DEFAULT_MAX_FRAME_BYTES;
}

void keel__decoder_free(keel__decoder_t *d) {
    free(d->buf);
    d->buf = NULL;
    d->len = d->cap = 0;
}

static int append(keel__decoder_t *d, const char *data, size_t len) {
    if (d->len + len > d->cap) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap < d->len + len) {
            cap *= 2;
        }
        char *grown = realloc(d->buf, cap);
        if (grown == NULL) {
            return -1;
        }
        d->buf = grown;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, data, len);
    d->len += len;
    return 0;
}

static void deliver(keel__decoder_t *d, const char *line, size_t len, keel__frame_fn fn, void *userdata) {
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    if (len > d->limit) {
        fn(NULL, len, userdata);
    } else if (len > 0) {
        fn(line, len, userdata);
    }
}

/* Shrinks a buffer that grew for one large frame, so an idle connection does not keep 16 MiB. */
static void shrink(keel__decoder_t *d) {
    if (d->cap > 1024 * 1024 && d->len == 0) {
        free(d->buf);
        d->buf = NULL;
        d->cap = 0;
    }
}

int keel__decoder_feed(keel__decoder_t *d, const char *data, size_t len, keel__frame_fn fn, void *userdata) {
    size_t start = 0;
    while (start < len) {
        const char *newline = memchr(data + start, '\n', len - start);
        if (newline == NULL) {
            if (!d->discarding) {
                if (append(d, data + start, len - start) != 0) {
                    return -1;
                }
                /* +1: the line may still end in "\r\n", whose "\r" does not count. */
                if (d->len > d->limit + 1) {
                    fn(NULL, d->len, userdata);
                    d->len = 0;
                    shrink(d);
                    d->discarding = 1;
                }
            }
            return 0;
        }
        size_t end = (size_t)(newline - data);
        if (d->discarding) {
            /* The oversize line was reported when it crossed the limit; its tail ends here. */
            d->discarding = 0;
        } else if (d->len > 0) {
            if (append(d, data + start, end - start) != 0) {
                return -1;
            }
            deliver(d, d->buf, d->len, fn, userdata);
            d->len = 0;
            shrink(d);
        } else {
            deliver(d, data + start, end - start, fn, userdata);
        }
        start = end + 1;
    }
    return 0;
}

void keel__decoder_finish(keel__decoder_t *d, keel__frame_fn fn, void *userdata) {
    if (!d->discarding && d->len > 0) {
        size_t len = d->len;
        d->len = 0;
        deliver(d, d->buf, len, fn, userdata);
    }
    d->len = 0;
    d->discarding = 0;
}

char *keel__encode(json_t *message, size_t *len) {
    /* JSON_COMPACT: "never pretty-printed". Reals keep 17 significant digits, enough to round-trip. */
    char *text = json_dumps(message, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        return NULL;
    }
    size_t n = strlen(text);
    /* Defensive: jansson escapes control characters, so a raw newline here would be a bug. */
    if (memchr(text, '\n', n) != NULL) {
        free(text);
        return NULL;
    }
    char *line = realloc(text, n + 2);
    if (line == NULL) {
        free(text);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *len = n + 1;
    return line;
}
