/*
 * Proves that the watch stream parser turns bytes into the same events whatever the chunking:
 * every split of a multi-event stream into two and three chunks, 1-byte chunks, many events in
 * one chunk; that ERROR events expose their Status (410 Expired) and BOOKMARKs their
 * resourceVersion; that a line over the maximum length fails with -EMSGSIZE without buffering
 * it; that a large buffered line's buffer is let go once parsed; and that garbage, unknown types
 * and missing objects fail with a sticky error.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/watch_parse.h"

#define MAX_EVENTS 16

typedef struct {
    int n;
    k8s_watch_type types[MAX_EVENTS];
    char names[MAX_EVENTS][64];
    char rvs[MAX_EVENTS][32];
    int stop_after; /* callback returns 7 once this many events were seen; 0 = never */
} sink;

static int on_event(void *data, k8s_watch_event *ev)
{
    sink *s = data;
    assert_true(s->n < MAX_EVENTS);
    s->types[s->n] = ev->type;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(ev->object, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s",
             cJSON_IsString(name) ? name->valuestring : "");
    const char *rv = k8s_object_resource_version(ev->object);
    snprintf(s->rvs[s->n], sizeof(s->rvs[0]), "%s", rv ? rv : "");
    s->n++;
    if (s->stop_after && s->n == s->stop_after)
        return 7;
    return 0;
}

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\","
    "\"namespace\":\"ns\",\"resourceVersion\":\"10\"},\"data\":{\"k\":\"line\\nwith newline\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\","
    "\"namespace\":\"ns\",\"resourceVersion\":\"11\"}}}\n"
    "\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\","
    "\"metadata\":{\"resourceVersion\":\"12\"}}}\r\n"
    "{\"type\":\"DELETED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\","
    "\"namespace\":\"ns\",\"resourceVersion\":\"13\"}}}\n"
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
    "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (13)\",\"reason\":"
    "\"Expired\",\"code\":410}}\n";

static void check_stream_events(const sink *s)
{
    assert_int_equal(s->n, 5);
    assert_int_equal(s->types[0], K8S_WATCH_ADDED);
    assert_string_equal(s->names[0], "a");
    assert_string_equal(s->rvs[0], "10");
    assert_int_equal(s->types[1], K8S_WATCH_MODIFIED);
    assert_string_equal(s->rvs[1], "11");
    assert_int_equal(s->types[2], K8S_WATCH_BOOKMARK);
    assert_string_equal(s->rvs[2], "12");
    assert_int_equal(s->types[3], K8S_WATCH_DELETED);
    assert_string_equal(s->rvs[3], "13");
    assert_int_equal(s->types[4], K8S_WATCH_ERROR);
}

/* Feeds the stream split at the given offsets (sorted, within the stream). */
static void feed_split(const size_t *cuts, size_t ncuts, sink *s)
{
    k8s_watch_parser p;
    k8s_watch_parser_init(&p, 0, on_event, s);
    size_t len = sizeof(stream) - 1, at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        assert_int_equal(k8s_watch_parser_feed(&p, stream + at, end - at), 0);
        at = end;
    }
    assert_int_equal(k8s_watch_parser_finish(&p), 0);
    assert_int_equal(k8s_watch_parser_pending(&p), 0);
    k8s_watch_parser_free(&p);
}

static void test_whole_stream_in_one_chunk(void **state)
{
    sink s = {0};
    feed_split(NULL, 0, &s);
    check_stream_events(&s);
}

static void test_every_two_way_split(void **state)
{
    size_t len = sizeof(stream) - 1;
    for (size_t cut = 0; cut <= len; cut++) {
        sink s = {0};
        feed_split(&cut, 1, &s);
        check_stream_events(&s);
    }
}

static void test_every_three_way_split(void **state)
{
    /* Every pair of cut points over a prefix long enough to span the first three events. */
    size_t len = sizeof(stream) - 1;
    size_t span = 260 < len ? 260 : len;
    for (size_t a = 0; a <= span; a++) {
        for (size_t b = a; b <= span; b += 3) {
            size_t cuts[2] = {a, b};
            sink s = {0};
            feed_split(cuts, 2, &s);
            check_stream_events(&s);
        }
    }
}

static void test_one_byte_chunks(void **state)
{
    size_t len = sizeof(stream) - 1;
    size_t *cuts = malloc(len * sizeof(*cuts));
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    sink s = {0};
    feed_split(cuts, len, &s);
    free(cuts);
    check_stream_events(&s);
}

typedef struct {
    int code;
    char reason[32];
    char message[64];
} status_sink;

static int on_error_event(void *data, k8s_watch_event *ev)
{
    status_sink *st = data;
    if (ev->type != K8S_WATCH_ERROR)
        return 0;
    const char *reason, *message;
    st->code = k8s_watch_status_code(ev->object, &reason, &message);
    snprintf(st->reason, sizeof(st->reason), "%s", reason ? reason : "");
    snprintf(st->message, sizeof(st->message), "%s", message ? message : "");
    return 0;
}

static void test_error_event_carries_status(void **state)
{
    status_sink st = {0};
    k8s_watch_parser p;
    k8s_watch_parser_init(&p, 0, on_error_event, &st);
    assert_int_equal(k8s_watch_parser_feed(&p, stream, sizeof(stream) - 1), 0);
    k8s_watch_parser_free(&p);
    assert_int_equal(st.code, 410);
    assert_string_equal(st.reason, "Expired");
    assert_string_equal(st.message, "too old resource version: 1 (13)");

    /* A non-Status object has no code. */
    cJSON *cm = cJSON_Parse("{\"kind\":\"ConfigMap\",\"code\":410}");
    assert_int_equal(k8s_watch_status_code(cm, NULL, NULL), 0);
    cJSON_Delete(cm);
}

static int take_object(void *data, k8s_watch_event *ev)
{
    cJSON **out = data;
    cJSON_Delete(*out);
    *out = ev->object;
    ev->object = NULL; /* the callback keeps it */
    return 0;
}

static void test_callback_may_take_object(void **state)
{
    cJSON *kept = NULL;
    k8s_watch_parser p;
    k8s_watch_parser_init(&p, 0, take_object, &kept);
    assert_int_equal(k8s_watch_parser_feed(&p, stream, sizeof(stream) - 1), 0);
    k8s_watch_parser_free(&p);
    assert_non_null(kept);
    assert_int_equal(k8s_watch_status_code(kept, NULL, NULL), 410);
    cJSON_Delete(kept);
}

static void test_final_line_without_newline(void **state)
{
    static const char last[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"z\"}}}";
    sink s = {0};
    k8s_watch_parser p;
    k8s_watch_parser_init(&p, 0, on_event, &s);
    assert_int_equal(k8s_watch_parser_feed(&p, last, sizeof(last) - 1), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(k8s_watch_parser_pending(&p), sizeof(last) - 1);
    assert_int_equal(k8s_watch_parser_finish(&p), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "z");
    k8s_watch_parser_free(&p);
}

static void test_max_line_length(void **state)
{
    /* The bound is exact: a line of max bytes passes, max + 1 fails, split or not. */
    static const char ev[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}}";
    size_t n = sizeof(ev) - 1;
    char buf[128];
    memcpy(buf, ev, n);
    buf[n] = '\n';

    for (size_t split = 0; split <= n; split++) {
        sink s = {0};
        k8s_watch_parser p;
        k8s_watch_parser_init(&p, n, on_event, &s);
        assert_int_equal(k8s_watch_parser_feed(&p, buf, split), 0);
        assert_int_equal(k8s_watch_parser_feed(&p, buf + split, n + 1 - split), 0);
        assert_int_equal(s.n, 1);
        k8s_watch_parser_free(&p);

        k8s_watch_parser_init(&p, n - 1, on_event, &s);
        int rc = k8s_watch_parser_feed(&p, buf, split);
        if (rc == 0)
            rc = k8s_watch_parser_feed(&p, buf + split, n + 1 - split);
        assert_int_equal(rc, -EMSGSIZE);
        assert_true(k8s_watch_parser_pending(&p) <= n - 1);
        assert_non_null(strstr(k8s_watch_parser_error(&p), "maximum line length"));
        /* Sticky: the stream is not resynchronised. */
        assert_int_equal(k8s_watch_parser_feed(&p, "\n", 1), -EMSGSIZE);
        assert_int_equal(s.n, 1);
        k8s_watch_parser_free(&p);
    }

    /* A runaway line without a newline is refused once it passes the bound. */
    k8s_watch_parser p;
    sink s = {0};
    k8s_watch_parser_init(&p, 1000, on_event, &s);
    char junk[100];
    memset(junk, 'x', sizeof(junk));
    int rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++)
        rc = k8s_watch_parser_feed(&p, junk, sizeof(junk));
    assert_int_equal(rc, -EMSGSIZE);
    assert_true(k8s_watch_parser_pending(&p) <= 1000);
    k8s_watch_parser_free(&p);

    /* An overlong line's buffer goes as soon as the stream fails, not when (after a backoff)
     * the next stream starts: a dozen watches fed a line that never ends held 16 MiB each. */
    k8s_watch_parser_init(&p, 100000, on_event, &s);
    rc = 0;
    size_t fed = 0;
    for (int i = 0; i < 2000 && rc == 0; i++, fed += sizeof(junk))
        rc = k8s_watch_parser_feed(&p, junk, sizeof(junk));
    assert_int_equal(rc, -EMSGSIZE);
    assert_true(fed > 4096 * 2);
    assert_true(p.cap <= 4096);
    assert_int_equal(k8s_watch_parser_pending(&p), 0);
    k8s_watch_parser_reset(&p);
    static const char small[] = "{\"type\":\"ADDED\",\"object\":{}}\n";
    assert_int_equal(k8s_watch_parser_feed(&p, small, sizeof(small) - 1), 0);
    k8s_watch_parser_free(&p);
}

/* A large event split across chunks is buffered, parsed, and its buffer let go: a watch that
 * once saw a big object holds no more than a small buffer afterwards. */
static void test_large_line_buffer_released(void **state)
{
    enum { PAD = 40000 };
    char *ev = malloc(PAD + 128);
    int n = snprintf(ev, PAD + 128,
                     "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"big\"},"
                     "\"data\":{\"pad\":\"%0*d\"}}}\n",
                     PAD, 0);
    sink s = {0};
    k8s_watch_parser p;
    k8s_watch_parser_init(&p, 0, on_event, &s);
    assert_int_equal(k8s_watch_parser_feed(&p, ev, 1000), 0);
    assert_int_equal(k8s_watch_parser_feed(&p, ev + 1000, (size_t)n - 1000), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "big");
    assert_null(p.buf);
    assert_true(p.cap == 0);
    /* And it still parses what comes next. */
    assert_int_equal(k8s_watch_parser_feed(&p, ev, 10), 0);
    assert_int_equal(k8s_watch_parser_feed(&p, ev + 10, (size_t)n - 10), 0);
    assert_int_equal(s.n, 2);
    k8s_watch_parser_free(&p);
    free(ev);
}

static int feed_all(const char *text, sink *s)
{
    k8s_watch_parser p;
    k8s_watch_parser_init(&p, 0, on_event, s);
    int rc = k8s_watch_parser_feed(&p, text, strlen(text));
    if (rc == 0)
        rc = k8s_watch_parser_finish(&p);
    k8s_watch_parser_free(&p);
    return rc;
}

static void test_garbage(void **state)
{
    sink s = {0};
    assert_int_equal(feed_all("not json\n", &s), -EBADMSG);
    assert_int_equal(feed_all("{\"type\":\"ADDED\",\"object\":{}\n", &s), -EBADMSG);
    assert_int_equal(feed_all("[1,2]\n", &s), -EPROTO);
    assert_int_equal(feed_all("{\"type\":\"RENAMED\",\"object\":{}}\n", &s), -EPROTO);
    assert_int_equal(feed_all("{\"type\":7,\"object\":{}}\n", &s), -EPROTO);
    assert_int_equal(feed_all("{\"type\":\"ADDED\"}\n", &s), -EPROTO);
    assert_int_equal(feed_all("{\"type\":\"ADDED\",\"object\":\"x\"}\n", &s), -EPROTO);
    /* Truncated final event at end of stream. */
    assert_int_equal(feed_all("{\"type\":\"ADDED\",\"obj", &s), -EBADMSG);
    assert_int_equal(s.n, 0);

    /* Events before the garbage are delivered; nothing after it. */
    assert_int_equal(feed_all("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
                              "}{\n"
                              "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}\n",
                              &s),
                     -EBADMSG);
    assert_int_equal(s.n, 1);

    /* Reset clears the sticky error for a new stream. */
    k8s_watch_parser p;
    sink t = {0};
    k8s_watch_parser_init(&p, 0, on_event, &t);
    assert_int_equal(k8s_watch_parser_feed(&p, "oops\n", 5), -EBADMSG);
    k8s_watch_parser_reset(&p);
    assert_int_equal(k8s_watch_parser_feed(&p, stream, sizeof(stream) - 1), 0);
    k8s_watch_parser_free(&p);
    check_stream_events(&t);
}

static void test_callback_stops_parsing(void **state)
{
    sink s = {.stop_after = 2};
    k8s_watch_parser p;
    k8s_watch_parser_init(&p, 0, on_event, &s);
    assert_int_equal(k8s_watch_parser_feed(&p, stream, sizeof(stream) - 1), 7);
    assert_int_equal(s.n, 2);
    k8s_watch_parser_free(&p);
}

/* The default bound (what every watch of the daemon uses) is 16 MiB: an event line of exactly
 * that size is delivered, one byte more is refused, with or without its newline. */
static void test_default_max_line_16mib(void **state)
{
    static const char head[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"big\"},"
                               "\"data\":{\"k\":\"";
    static const char tail[] = "\"}}}";
    size_t max = K8S_WATCH_PARSE_DEFAULT_MAX_LINE;
    assert_int_equal(max, 16u * 1024u * 1024u);
    char *line = malloc(max + 2);
    assert_non_null(line);
    memcpy(line, head, sizeof(head) - 1);
    memset(line + sizeof(head) - 1, 'x', max - (sizeof(head) - 1) - (sizeof(tail) - 1));
    memcpy(line + max - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
    line[max] = '\n';

    sink s = {0};
    k8s_watch_parser p;
    k8s_watch_parser_init(&p, 0, on_event, &s);
    assert_int_equal(k8s_watch_parser_feed(&p, line, 1000), 0); /* buffered across feeds */
    assert_int_equal(k8s_watch_parser_feed(&p, line + 1000, max + 1 - 1000), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "big");

    /* One byte more (a space inside the object keeps it valid JSON). */
    memmove(line + 2, line + 1, max);
    line[1] = ' ';
    k8s_watch_parser_reset(&p);
    assert_int_equal(k8s_watch_parser_feed(&p, line, max + 2), -EMSGSIZE);
    k8s_watch_parser_reset(&p);
    int rc = k8s_watch_parser_feed(&p, line, 4096);
    if (rc == 0)
        rc = k8s_watch_parser_feed(&p, line + 4096, max + 1 - 4096); /* no newline yet */
    assert_int_equal(rc, -EMSGSIZE);
    assert_true(k8s_watch_parser_pending(&p) <= max);
    assert_int_equal(s.n, 1);
    k8s_watch_parser_free(&p);
    free(line);
}

/* Invalid UTF-8 inside a JSON string is refused like a line that is not JSON: the API server
 * never sends it, and an object carrying it would make every write of ours that copies the
 * string fail on the server (cJSON alone keeps the bytes). */
static void test_invalid_utf8_refused(void **state)
{
    static const char *const bad[] = {
        "\xff\xfe",     /* never valid */
        "\xc3\x28",     /* broken continuation */
        "\xed\xa0\x80", /* a surrogate */
        "\xc0\xaf",     /* overlong '/' */
        "\xe2\x82",     /* truncated sequence */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char buf[256];
        int n =
            snprintf(buf, sizeof(buf),
                     "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a%s\"}}}\n", bad[i]);
        sink s = {0};
        k8s_watch_parser p;
        k8s_watch_parser_init(&p, 0, on_event, &s);
        assert_int_equal(k8s_watch_parser_feed(&p, buf, (size_t)n), -EBADMSG);
        assert_non_null(strstr(k8s_watch_parser_error(&p), "UTF-8"));
        assert_int_equal(s.n, 0);
        k8s_watch_parser_free(&p);
    }
    /* Valid multi-byte text passes. */
    static const char ok[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"caf\xc3\xa9-"
                             "\xe2\x82\xac-\xf0\x9f\x98\x80\"}}}\n";
    sink s = {0};
    k8s_watch_parser p;
    k8s_watch_parser_init(&p, 0, on_event, &s);
    assert_int_equal(k8s_watch_parser_feed(&p, ok, sizeof(ok) - 1), 0);
    assert_int_equal(s.n, 1);
    k8s_watch_parser_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_stream_in_one_chunk),
        cmocka_unit_test(test_every_two_way_split),
        cmocka_unit_test(test_every_three_way_split),
        cmocka_unit_test(test_one_byte_chunks),
        cmocka_unit_test(test_error_event_carries_status),
        cmocka_unit_test(test_callback_may_take_object),
        cmocka_unit_test(test_final_line_without_newline),
        cmocka_unit_test(test_max_line_length),
        cmocka_unit_test(test_large_line_buffer_released),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_callback_stops_parsing),
        cmocka_unit_test(test_default_max_line_16mib),
        cmocka_unit_test(test_invalid_utf8_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
