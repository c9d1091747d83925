/*
 * Watch stream parser: bytes in any chunking -> one callback per event. See watch_parse.h.
 */
#include "k8s/watch_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/sbuf.h"
#include "k8s/utf8.h"

void k8s_watch_parser_init(k8s_watch_parser *p, size_t max_line, k8s_watch_event_cb cb, void *data)
{
    memset(p, 0, sizeof(*p));
    p->max_line = max_line ? max_line : K8S_WATCH_PARSE_DEFAULT_MAX_LINE;
    p->cb = cb;
    p->data = data;
}

static void release_large(k8s_watch_parser *p);

void k8s_watch_parser_reset(k8s_watch_parser *p)
{
    p->len = 0;
    p->failed = 0;
    p->err[0] = '\0';
    /* A stream that broke on an overlong line held max_line bytes; a quiet stream after it
     * would keep them for good (a dozen watches fed a line that never ends: 170 MiB). */
    release_large(p);
}

void k8s_watch_parser_free(k8s_watch_parser *p)
{
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
}

size_t k8s_watch_parser_pending(const k8s_watch_parser *p)
{
    return p->len;
}

const char *k8s_watch_parser_error(const k8s_watch_parser *p)
{
    return p->err;
}

const char *k8s_watch_type_name(k8s_watch_type t)
{
    switch (t) {
    case K8S_WATCH_ADDED:
        return "ADDED";
    case K8S_WATCH_MODIFIED:
        return "MODIFIED";
    case K8S_WATCH_DELETED:
        return "DELETED";
    case K8S_WATCH_BOOKMARK:
        return "BOOKMARK";
    case K8S_WATCH_ERROR:
        return "ERROR";
    }
    return "UNKNOWN";
}

static int fail(k8s_watch_parser *p, int rc, const char *what)
{
    p->failed = rc;
    snprintf(p->err, sizeof(p->err), "watch stream: %s", what);
    /* The stream is abandoned: what it buffered (up to max_line) can go now, not when the
     * watcher gets round to a new stream after its backoff. Callers use no buffered byte
     * after a failure. */
    p->len = 0;
    release_large(p);
    return rc;
}

static k8s_watch_type type_from_string(const char *s)
{
    static const struct {
        const char *name;
        k8s_watch_type type;
    } names[] = {
        {"ADDED", K8S_WATCH_ADDED},     {"MODIFIED", K8S_WATCH_MODIFIED},
        {"DELETED", K8S_WATCH_DELETED}, {"BOOKMARK", K8S_WATCH_BOOKMARK},
        {"ERROR", K8S_WATCH_ERROR},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].type;
    return 0;
}

/*
 * Parses one complete line (without its newline) and delivers it. Whitespace-only lines are
 * skipped: a keep-alive newline or a CRLF from a proxy is not an event.
 */
static int parse_line(k8s_watch_parser *p, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t start = 0;
    while (start < len && (line[start] == ' ' || line[start] == '\t' || line[start] == '\r'))
        start++;
    if (start == len)
        return 0;

    /* Before parsing: cJSON would keep bad bytes in strings, see utf8.h. */
    if (!k8s__utf8_valid(line + start, len - start))
        return fail(p, -EBADMSG, "a line is not valid UTF-8");
    cJSON *root = cJSON_ParseWithLength(line + start, len - start);
    if (!root)
        return fail(p, -EBADMSG, "a line is not valid JSON");
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(p, -EPROTO, "an event is not a JSON object");
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    k8s_watch_type t = cJSON_IsString(type) ? type_from_string(type->valuestring) : 0;
    if (t == 0) {
        cJSON_Delete(root);
        return fail(p, -EPROTO, "an event has a missing or unknown type");
    }
    cJSON *object = cJSON_DetachItemFromObjectCaseSensitive(root, "object");
    cJSON_Delete(root);
    if (!cJSON_IsObject(object)) {
        cJSON_Delete(object);
        return fail(p, -EPROTO, "an event has no object");
    }

    k8s_watch_event ev = {.type = t, .object = object};
    int rc = p->cb ? p->cb(p->data, &ev) : 0;
    cJSON_Delete(ev.object);
    return rc;
}

static int append(k8s_watch_parser *p, const char *buf, size_t len)
{
    if (p->len + len > p->max_line)
        return fail(p, -EMSGSIZE, "an event line exceeds the maximum line length");
    if (p->len + len > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + len)
            cap *= 2;
        if (cap > p->max_line)
            cap = p->max_line;
        char *grown = realloc(p->buf, cap);
        if (!grown)
            return fail(p, -ENOMEM, "out of memory");
        p->buf = grown;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, buf, len);
    p->len += len;
    return 0;
}

/* A watch lives for hours while one large event (a relisted object with a big status) grew its
 * buffer: between lines keep no more than the first size, a dozen watches would otherwise hold
 * their largest line each. */
static void release_large(k8s_watch_parser *p)
{
    if (p->len == 0 && p->cap > 4096) {
        size_t held = p->cap;
        free(p->buf);
        p->buf = NULL;
        p->cap = 0;
        k8s__give_back(held);
    }
}

int k8s_watch_parser_feed(k8s_watch_parser *p, const char *buf, size_t len)
{
    if (p->failed)
        return p->failed;
    while (len > 0) {
        const char *nl = memchr(buf, '\n', len);
        if (!nl)
            return append(p, buf, len);
        size_t part = (size_t)(nl - buf);
        int rc;
        if (p->len == 0) {
            /* The whole line is in this chunk: parse it in place, no copy. */
            if (part > p->max_line)
                return fail(p, -EMSGSIZE, "an event line exceeds the maximum line length");
            rc = parse_line(p, buf, part);
        } else {
            rc = append(p, buf, part);
            if (rc != 0)
                return rc;
            size_t n = p->len;
            p->len = 0; /* the line is consumed even if the callback stops us */
            rc = parse_line(p, p->buf, n);
            if (rc == 0) /* a callback that stops us may have let go of p */
                release_large(p);
        }
        buf = nl + 1;
        len -= part + 1;
        if (rc != 0)
            return rc;
    }
    return 0;
}

int k8s_watch_parser_finish(k8s_watch_parser *p)
{
    if (p->failed)
        return p->failed;
    if (p->len == 0)
        return 0;
    size_t n = p->len;
    p->len = 0;
    int rc = parse_line(p, p->buf, n);
    if (rc == 0)
        release_large(p);
    return rc;
}

int k8s_watch_status_code(const cJSON *obj, const char **reason, const char **message)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(obj, "reason");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "message");
    if (reason)
        *reason = cJSON_IsString(r) ? r->valuestring : NULL;
    if (message)
        *message = cJSON_IsString(m) ? m->valuestring : NULL;
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "Status") != 0 || !cJSON_IsNumber(code))
        return 0;
    if (code->valuedouble < 0 || code->valuedouble > 999)
        return 0;
    return (int)code->valuedouble;
}

const char *k8s_object_resource_version(const cJSON *obj)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
    return cJSON_IsString(rv) ? rv->valuestring : NULL;
}
