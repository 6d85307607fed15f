/* Framing: the line decoder against tests/framing/<case>/{input,output}, fed whole, split at
 * every byte, and one byte at a time (STYLE §9); and the encoder. Cases use a 32-byte limit. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h"

#define CASE_LIMIT 32

typedef struct {
    char text[4096];
    size_t len;
} sink_t;

static void collect(const char *frame, size_t len, void *userdata) {
    sink_t *sink = userdata;
    const char *what = frame ? frame : "!oversize";
    size_t n = frame ? len : strlen(what);
    if (sink->len + n + 1 < sizeof sink->text) {
        memcpy(sink->text + sink->len, what, n);
        sink->len += n;
        sink->text[sink->len++] = '\n';
        sink->text[sink->len] = '\0';
    }
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *data = malloc(65536);
    *len = fread(data, 1, 65535, f);
    data[*len] = '\0';
    fclose(f);
    return data;
}

/* Decodes input in pieces split at `cut` (0: whole) or one byte at a time (cut == SIZE_MAX). */
static void decode(const char *input, size_t len, size_t cut, sink_t *sink) {
    keel__decoder_t d;
    keel__decoder_init(&d, CASE_LIMIT);
    memset(sink, 0, sizeof *sink);
    if (cut == (size_t)-1) {
        for (size_t i = 0; i < len; i++) {
            keel__decoder_feed(&d, input + i, 1, collect, sink);
        }
    } else {
        keel__decoder_feed(&d, input, cut, collect, sink);
        keel__decoder_feed(&d, input + cut, len - cut, collect, sink);
    }
    keel__decoder_finish(&d, collect, sink);
    keel__decoder_free(&d);
}

TEST(framing_cases_from_the_folder_decode_the_same_at_every_split) {
    DIR *dir = opendir(TEST_DATA_DIR "/framing");
    CHECK(dir != NULL);
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[1024];
        size_t in_len, out_len;
        snprintf(path, sizeof path, "%s/framing/%s/input", TEST_DATA_DIR, e->d_name);
        char *input = read_file(path, &in_len);
        snprintf(path, sizeof path, "%s/framing/%s/output", TEST_DATA_DIR, e->d_name);
        char *expected = read_file(path, &out_len);
        int ok = input != NULL && expected != NULL;
        sink_t sink;
        for (size_t cut = 0; ok && cut <= in_len + 1; cut++) {
            decode(input, in_len, cut == in_len + 1 ? (size_t)-1 : cut, &sink);
            ok = strcmp(sink.text, expected) == 0;
            if (!ok) {
                fprintf(stderr, "case %s split at %zu: got\n%s", e->d_name, cut, sink.text);
            }
        }
        free(input);
        free(expected);
        if (!ok) {
            closedir(dir);
        }
        CHECK_MSG(ok, "framing case %s", e->d_name);
        seen++;
    }
    closedir(dir);
    CHECK(seen >= 5);
}

TEST(framing_many_frames_in_one_buffer_arrive_in_order) {
    char input[8192] = "";
    char expected[8192] = "";
    for (int i = 0; i < 200; i++) {
        char line[32];
        snprintf(line, sizeof line, "{\"i\":%d}\n", i);
        strcat(input, line);
        strcat(expected, line);
    }
    sink_t sink;
    decode(input, strlen(input), 0, &sink);
    CHECK(strcmp(sink.text, expected) == 0);
}

TEST(framing_default_limit_is_16_mib) {
    keel__decoder_t d;
    keel__decoder_init(&d, 0);
    CHECK(d.limit == 16u * 1024u * 1024u);
    keel__decoder_free(&d);
}

TEST(encode_escapes_newlines_and_ends_with_exactly_one) {
    json_t *message = json_pack("{s:s}", "text", "line one\nline two\r\n\u2603");
    size_t len = 0;
    char *line = keel__encode(message, &len);
    json_decref(message);
    CHECK(line != NULL);
    CHECK(len == strlen(line));
    CHECK(line[len - 1] == '\n');
    CHECK(memchr(line, '\n', len - 1) == NULL);
    CHECK(strstr(line, "\\n") != NULL);
    free(line);
}

TEST(encode_is_compact) {
    json_t *message = json_pack("{s:[i,i],s:{}}", "a", 1, 2, "b");
    size_t len = 0;
    char *line = keel__encode(message, &len);
    json_decref(message);
    CHECK(line != NULL && strchr(line, ' ') == NULL);
    free(line);
}
