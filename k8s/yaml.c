/*
 * YAML <-> cJSON on top of libyaml's event API. See yaml.h for the typing rules, which
 * mirror sigs.k8s.io/yaml so that what we read is what kubectl would have sent.
 */
#include "k8s/yaml.h"
#include "k8s/sbuf.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Alias expansion may not grow a document past this many nodes (billion laughs). */
#define YAML_MAX_NODES 1000000

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ------------------------------------------------------------------ scalar typing */

enum scalar_kind { SK_STRING, SK_NULL, SK_BOOL, SK_NUMBER, SK_BADFLOAT };

struct scalar {
    enum scalar_kind kind;
    int boolean;
    double number;
};

static int str_in(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                         "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const false_words[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const nonfinite_words[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                              "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                              ".NaN",  ".NAN",  NULL};

/* Digits of the given base, at least one, nothing else. */
static int all_digits(const char *s, int base)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        int c = (unsigned char)*s, v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            return 0;
        if (v >= base)
            return 0;
    }
    return 1;
}

/* go-yaml's float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_yaml_float(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
    } else {
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
        if (*s == '.') {
            s++;
            while (isdigit((unsigned char)*s))
                s++;
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

/*
 * Integer forms strconv.ParseInt(s, 0, 64) accepts (after underscores are removed), plus
 * YAML's 0b. Sets *out; values beyond int64 still count (go-yaml falls back to uint64 or
 * float for them, and a double is all we keep anyway).
 */
static int parse_go_int(const char *s, double *out)
{
    int neg = 0, base = 10;
    const char *p = s;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        base = 16, p += 2;
    else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
        base = 8, p += 2;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
        base = 2, p += 2;
    else if (p[0] == '0' && p[1] != '\0')
        base = 8, p += 1;
    if (!all_digits(p, base))
        return 0;
    double v = 0;
    for (; *p; p++) {
        int c = (unsigned char)*p;
        int d = isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10);
        v = v * base + d;
    }
    if (base != 10 && v > 18446744073709551615.0)
        return 0; /* ParseInt/ParseUint fail, and no float syntax matches either */
    *out = neg ? -v : v;
    return 1;
}

/* Types a plain (unquoted, untagged) scalar the way go-yaml v2 resolves it. */
static struct scalar resolve_plain(const char *s)
{
    struct scalar r = {SK_STRING, 0, 0};
    if (str_in(s, null_words)) {
        r.kind = SK_NULL;
        return r;
    }
    if (str_in(s, true_words) || str_in(s, false_words)) {
        r.kind = SK_BOOL;
        r.boolean = str_in(s, true_words);
        return r;
    }
    if (str_in(s, nonfinite_words)) {
        r.kind = SK_BADFLOAT;
        return r;
    }
    int c = (unsigned char)s[0];
    if (!(isdigit(c) || c == '-' || c == '+' || c == '.'))
        return r;
    size_t n = strlen(s);
    char *plain = malloc(n + 1);
    if (!plain)
        return r;
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            plain[j++] = s[i];
    plain[j] = '\0';
    /* '.'-led scalars are only ever floats; underscores there are not removed. */
    if (c == '.') {
        if (is_yaml_float(s)) {
            r.kind = SK_NUMBER;
            r.number = strtod(s, NULL);
        }
    } else if (parse_go_int(plain, &r.number)) {
        r.kind = SK_NUMBER;
    } else if (is_yaml_float(plain)) {
        r.kind = SK_NUMBER;
        r.number = strtod(plain, NULL);
        if (!isfinite(r.number))
            r.kind = SK_BADFLOAT;
    }
    free(plain);
    return r;
}

/* Looks like a YAML 1.1 timestamp (go-yaml would turn it into a time): YYYY-M-D... */
static int looks_like_timestamp(const char *s)
{
    int i = 0;
    for (; i < 4; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return s[4] == '-' && isdigit((unsigned char)s[5]);
}

int k8s_yaml_string_needs_quotes(const char *s)
{
    if (resolve_plain(s).kind != SK_STRING)
        return 1;
    if (strcmp(s, "<<") == 0 || strcmp(s, "=") == 0 || looks_like_timestamp(s))
        return 1;
    /* YAML 1.1 readers (PyYAML) read 1:20 as a base-60 integer; ':' is never worth it. */
    if (strchr(s, ':'))
        return 1;
    /* Leading digits or signs that did not resolve still confuse some readers (1_0x). */
    int c = (unsigned char)s[0];
    if (isdigit(c) || ((c == '-' || c == '+' || c == '.') && isdigit((unsigned char)s[1])))
        return 1;
    return 0;
}

/* ------------------------------------------------------------------ parser */

struct anchor {
    char *name;
    const cJSON *node; /* borrowed: lives in the document being built */
};

struct builder {
    yaml_parser_t parser;
    struct anchor *anchors;
    size_t nanchors, capanchors;
    size_t nodes;
    cJSON *keep; /* nodes dropped from the tree that anchors may still point into */
    char *err;
    size_t errlen;
    int failed;
};

static void fail_at(struct builder *b, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(struct builder *b, yaml_mark_t mark, const char *fmt, ...)
{
    if (b->failed)
        return;
    b->failed = 1;
    if (!b->err || b->errlen == 0)
        return;
    int n = snprintf(b->err, b->errlen, "line %zu, column %zu: ", (size_t)mark.line + 1,
                     (size_t)mark.column + 1);
    if (n < 0 || (size_t)n >= b->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
    if (yaml_parser_parse(&b->parser, ev))
        return 0;
    yaml_parser_t *p = &b->parser;
    yaml_mark_t mark = p->problem_mark;
    if (p->error == YAML_MEMORY_ERROR) {
        fail_at(b, mark, "out of memory");
    } else if (p->context) {
        fail_at(b, mark, "%s %s (context at line %zu, column %zu)", p->context,
                p->problem ? p->problem : "syntax error", (size_t)p->context_mark.line + 1,
                (size_t)p->context_mark.column + 1);
    } else {
        fail_at(b, mark, "%s", p->problem ? p->problem : "syntax error");
    }
    return -1;
}

static void anchors_reset(struct builder *b)
{
    for (size_t i = 0; i < b->nanchors; i++)
        free(b->anchors[i].name);
    b->nanchors = 0;
}

/* Later definitions of the same anchor name shadow earlier ones, as YAML says. */
static int anchor_add(struct builder *b, const char *name, const cJSON *node)
{
    if (b->nanchors == b->capanchors) {
        size_t cap = b->capanchors ? b->capanchors * 2 : 8;
        struct anchor *a = realloc(b->anchors, cap * sizeof(*a));
        if (!a)
            return -1;
        b->anchors = a;
        b->capanchors = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -1;
    b->anchors[b->nanchors].name = copy;
    b->anchors[b->nanchors].node = node;
    b->nanchors++;
    return 0;
}

static const cJSON *anchor_find(struct builder *b, const char *name)
{
    for (size_t i = b->nanchors; i > 0; i--)
        if (strcmp(b->anchors[i - 1].name, name) == 0)
            return b->anchors[i - 1].node;
    return NULL;
}

static size_t count_nodes(const cJSON *n)
{
    size_t c = 1;
    for (const cJSON *ch = n->child; ch; ch = ch->next)
        c += count_nodes(ch);
    return c;
}

static cJSON *build_node(struct builder *b, yaml_event_t *ev, int depth);

static cJSON *scalar_to_json(struct builder *b, yaml_event_t *ev)
{
    const char *val = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    struct scalar s = {SK_STRING, 0, 0};

    if (tag && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0) {
        const char *t = tag + strlen(TAG_PREFIX);
        if (strcmp(t, "str") == 0 || strcmp(t, "binary") == 0 || strcmp(t, "timestamp") == 0) {
            s.kind = SK_STRING;
        } else {
            s = resolve_plain(val);
            int ok = (strcmp(t, "null") == 0 && s.kind == SK_NULL) ||
                     (strcmp(t, "bool") == 0 && s.kind == SK_BOOL) ||
                     ((strcmp(t, "int") == 0 || strcmp(t, "float") == 0) && s.kind == SK_NUMBER);
            if (!ok) {
                fail_at(b, ev->start_mark, "cannot decode \"%s\" as !!%s", val, t);
                return NULL;
            }
        }
    } else if (plain && (!tag || strcmp(tag, "!") != 0)) {
        s = resolve_plain(val);
    }
    switch (s.kind) {
    case SK_NULL:
        return cJSON_CreateNull();
    case SK_BOOL:
        return cJSON_CreateBool(s.boolean);
    case SK_NUMBER:
        return cJSON_CreateNumber(s.number);
    case SK_BADFLOAT:
        fail_at(b, ev->start_mark, "\"%s\" is not a finite number and JSON cannot carry it", val);
        return NULL;
    case SK_STRING:
    default:
        return cJSON_CreateString(val);
    }
}

/* Formats a resolved key the way sigs.k8s.io/yaml turns non-string keys into JSON names. */
static char *key_to_string(struct builder *b, const cJSON *k, yaml_mark_t mark)
{
    char buf[64];
    if (cJSON_IsString(k))
        return strdup(k->valuestring);
    if (cJSON_IsTrue(k))
        return strdup("true");
    if (cJSON_IsFalse(k))
        return strdup("false");
    if (cJSON_IsNull(k))
        return strdup("null");
    if (cJSON_IsNumber(k)) {
        double d = k->valuedouble;
        if (d == floor(d) && fabs(d) < 1e18)
            snprintf(buf, sizeof(buf), "%.0f", d);
        else
            snprintf(buf, sizeof(buf), "%.17g", d);
        return strdup(buf);
    }
    fail_at(b, mark, "mapping keys must be scalars");
    return NULL;
}

/* Adds the entries of src that dst lacks (merge keys never override explicit keys). */
static int merge_into(struct builder *b, cJSON *merged, const cJSON *src, yaml_mark_t mark)
{
    if (!cJSON_IsObject(src)) {
        fail_at(b, mark, "a merge key (<<) needs a mapping or a list of mappings");
        return -1;
    }
    for (const cJSON *e = src->child; e; e = e->next) {
        if (cJSON_GetObjectItemCaseSensitive(merged, e->string))
            continue;
        cJSON *copy = cJSON_Duplicate(e, 1);
        if (!copy || !cJSON_AddItemToObject(merged, e->string, copy)) {
            cJSON_Delete(copy);
            fail_at(b, mark, "out of memory");
            return -1;
        }
    }
    return 0;
}

static cJSON *build_mapping(struct builder *b, yaml_event_t *start, int depth)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *merged = cJSON_CreateObject(); /* entries from << in priority order */
    if (!obj || !merged) {
        fail_at(b, start->start_mark, "out of memory");
        goto fail;
    }
    for (;;) {
        yaml_event_t kev;
        if (next_event(b, &kev) < 0)
            goto fail;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            break;
        }
        yaml_mark_t kmark = kev.start_mark;
        int is_merge = kev.type == YAML_SCALAR_EVENT &&
                       kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !kev.data.scalar.tag &&
                       strcmp((const char *)kev.data.scalar.value, "<<") == 0;
        cJSON *key = NULL;
        char *name = NULL;
        if (is_merge) {
            yaml_event_delete(&kev);
        } else {
            if (kev.type == YAML_MAPPING_START_EVENT || kev.type == YAML_SEQUENCE_START_EVENT) {
                yaml_event_delete(&kev);
                fail_at(b, kmark, "mapping keys must be scalars");
                goto fail;
            }
            key = build_node(b, &kev, depth + 1);
            if (!key)
                goto fail;
            name = key_to_string(b, key, kmark);
            cJSON_AddItemToArray(b->keep, key);
            if (!name)
                goto fail;
        }
        yaml_event_t vev;
        if (next_event(b, &vev) < 0) {
            free(name);
            goto fail;
        }
        yaml_mark_t vmark = vev.start_mark;
        cJSON *val = build_node(b, &vev, depth + 1);
        if (!val) {
            free(name);
            goto fail;
        }
        if (is_merge) {
            int rc = 0;
            if (cJSON_IsArray(val)) {
                for (const cJSON *m = val->child; m && rc == 0; m = m->next)
                    rc = merge_into(b, merged, m, vmark);
            } else {
                rc = merge_into(b, merged, val, vmark);
            }
            cJSON_AddItemToArray(b->keep, val);
            if (rc < 0)
                goto fail;
            continue;
        }
        if (cJSON_GetObjectItemCaseSensitive(obj, name)) {
            fail_at(b, kmark, "duplicate key \"%s\"", name);
            free(name);
            cJSON_Delete(val);
            goto fail;
        }
        if (!cJSON_AddItemToObject(obj, name, val)) {
            free(name);
            cJSON_Delete(val);
            fail_at(b, kmark, "out of memory");
            goto fail;
        }
        free(name);
    }
    while (merged->child) {
        cJSON *e = cJSON_DetachItemViaPointer(merged, merged->child);
        if (cJSON_GetObjectItemCaseSensitive(obj, e->string)) {
            cJSON_Delete(e);
            continue;
        }
        /* The detached item keeps its name; re-adding by reference would double-free. */
        char *n = strdup(e->string);
        if (!n || !cJSON_AddItemToObject(obj, n, e)) {
            free(n);
            cJSON_Delete(e);
            fail_at(b, start->start_mark, "out of memory");
            goto fail;
        }
        free(n);
    }
    cJSON_Delete(merged);
    return obj;
fail:
    cJSON_Delete(obj);
    cJSON_Delete(merged);
    return NULL;
}

static cJSON *build_sequence(struct builder *b, yaml_event_t *start, int depth)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        fail_at(b, start->start_mark, "out of memory");
        return NULL;
    }
    for (;;) {
        yaml_event_t ev;
        if (next_event(b, &ev) < 0)
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        cJSON *item = build_node(b, &ev, depth + 1);
        if (!item)
            goto fail;
        cJSON_AddItemToArray(arr, item);
    }
fail:
    cJSON_Delete(arr);
    return NULL;
}

/*
 * Builds the node that starts with *ev, consuming every event up to its end. Takes
 * ownership of *ev. Returns NULL with b->failed set on error.
 */
static cJSON *build_node(struct builder *b, yaml_event_t *ev, int depth)
{
    cJSON *node = NULL;
    const char *anchor = NULL;
    yaml_mark_t mark = ev->start_mark;

    if (depth > K8S_YAML_MAX_DEPTH) {
        fail_at(b, mark, "nesting deeper than %d levels", K8S_YAML_MAX_DEPTH);
        yaml_event_delete(ev);
        return NULL;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        const cJSON *target = anchor_find(b, name);
        if (!target) {
            /* Also what a self-referencing alias sees: its anchor is not complete yet. */
            fail_at(b, mark, "unknown or recursive alias *%s", name);
            break;
        }
        size_t n = count_nodes(target);
        if (b->nodes + n > YAML_MAX_NODES) {
            fail_at(b, mark, "aliases expand past %d nodes; refusing", YAML_MAX_NODES);
            break;
        }
        b->nodes += n;
        node = cJSON_Duplicate(target, 1);
        if (!node)
            fail_at(b, mark, "out of memory");
        break;
    }
    case YAML_SCALAR_EVENT:
        anchor = (const char *)ev->data.scalar.anchor;
        node = scalar_to_json(b, ev);
        b->nodes++;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = (const char *)ev->data.sequence_start.anchor;
        b->nodes++;
        node = build_sequence(b, ev, depth);
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = (const char *)ev->data.mapping_start.anchor;
        b->nodes++;
        node = build_mapping(b, ev, depth);
        break;
    default:
        fail_at(b, mark, "unexpected YAML event");
        break;
    }
    if (node && b->nodes > YAML_MAX_NODES) {
        fail_at(b, mark, "document larger than %d nodes; refusing", YAML_MAX_NODES);
        cJSON_Delete(node);
        node = NULL;
    }
    /* The anchor is registered before the event (which owns its name) is freed. */
    if (node && anchor && anchor_add(b, anchor, node) < 0) {
        fail_at(b, mark, "out of memory");
        cJSON_Delete(node);
        node = NULL;
    }
    yaml_event_delete(ev);
    return node;
}

static cJSON *parse_stream(const char *buf, size_t len, char *err, size_t errlen)
{
    struct builder b;
    memset(&b, 0, sizeof(b));
    b.err = err;
    b.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    if (!yaml_parser_initialize(&b.parser)) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)(buf ? buf : ""), buf ? len : 0);
    cJSON *docs = cJSON_CreateArray();
    if (!docs) {
        yaml_parser_delete(&b.parser);
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (;;) {
        yaml_event_t ev;
        if (next_event(&b, &ev) < 0)
            goto fail;
        yaml_event_type_t t = ev.type;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT)
            break;
        if (t != YAML_DOCUMENT_START_EVENT)
            continue; /* STREAM_START */
        anchors_reset(&b);
        b.nodes = 0;
        cJSON_Delete(b.keep);
        b.keep = cJSON_CreateArray();
        if (!b.keep) {
            fail_at(&b, ev.start_mark, "out of memory");
            goto fail;
        }
        yaml_event_t root;
        if (next_event(&b, &root) < 0)
            goto fail;
        cJSON *doc = build_node(&b, &root, 0);
        if (!doc)
            goto fail;
        yaml_event_t end;
        if (next_event(&b, &end) < 0) {
            cJSON_Delete(doc);
            goto fail;
        }
        yaml_event_delete(&end);
        if (cJSON_IsNull(doc))
            cJSON_Delete(doc);
        else
            cJSON_AddItemToArray(docs, doc);
    }
    anchors_reset(&b);
    free(b.anchors);
    cJSON_Delete(b.keep);
    yaml_parser_delete(&b.parser);
    return docs;
fail:
    anchors_reset(&b);
    free(b.anchors);
    cJSON_Delete(b.keep);
    yaml_parser_delete(&b.parser);
    cJSON_Delete(docs);
    return NULL;
}

cJSON *k8s_yaml_parse_all(const char *buf, size_t len, char *err, size_t errlen)
{
    return parse_stream(buf, len, err, errlen);
}

cJSON *k8s_yaml_parse_one(const char *buf, size_t len, char *err, size_t errlen)
{
    cJSON *docs = parse_stream(buf, len, err, errlen);
    if (!docs)
        return NULL;
    int n = cJSON_GetArraySize(docs);
    if (n != 1) {
        if (err && errlen)
            snprintf(err, errlen,
                     n == 0 ? "no YAML document found" : "expected one YAML document, found %d", n);
        cJSON_Delete(docs);
        return NULL;
    }
    cJSON *doc = cJSON_DetachItemFromArray(docs, 0);
    cJSON_Delete(docs);
    return doc;
}

/* ------------------------------------------------------------------ emitter */

/* libyaml's output callback: 1 on success, 0 tells the emitter to fail. */
static int on_emitter_write(void *data, unsigned char *buffer, size_t size)
{
    k8s__sbuf *o = data;
    k8s__sb_put(o, (const char *)buffer, size);
    return !o->failed;
}

static int emit_scalar(yaml_emitter_t *em, const char *s, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                      style))
        return -1;
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_string(yaml_emitter_t *em, const char *s)
{
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
    if (strchr(s, '\n'))
        style = YAML_LITERAL_SCALAR_STYLE; /* libyaml falls back to quotes if it must */
    else if (k8s_yaml_string_needs_quotes(s))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    return emit_scalar(em, s, style);
}

/* Shortest text that reads back as the same double and still resolves as a number. */
static int format_number(double d, char *buf, size_t n)
{
    if (!isfinite(d))
        return -1;
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(buf, n, "%.0f", d);
        if (strcmp(buf, "-0") == 0)
            snprintf(buf, n, "0");
        return 0;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* YAML 1.1 readers such as PyYAML need a '.' in the mantissa: 1e+20 -> 1.0e+20. */
    char *e = strchr(buf, 'e');
    if (e && !memchr(buf, '.', (size_t)(e - buf)) && strlen(buf) + 3 < n) {
        memmove(e + 2, e, strlen(e) + 1);
        e[0] = '.';
        e[1] = '0';
    }
    return 0;
}

static int emit_value(yaml_emitter_t *em, const cJSON *v)
{
    yaml_event_t ev;
    char num[64];
    if (cJSON_IsObject(v)) {
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return -1;
        for (const cJSON *e = v->child; e; e = e->next) {
            if (emit_string(em, e->string ? e->string : "") < 0 || emit_value(em, e) < 0)
                return -1;
        }
        if (!yaml_mapping_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
            return -1;
        return 0;
    }
    if (cJSON_IsArray(v)) {
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return -1;
        for (const cJSON *e = v->child; e; e = e->next)
            if (emit_value(em, e) < 0)
                return -1;
        if (!yaml_sequence_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
            return -1;
        return 0;
    }
    if (cJSON_IsString(v))
        return emit_string(em, v->valuestring);
    if (cJSON_IsNumber(v)) {
        if (format_number(v->valuedouble, num, sizeof(num)) < 0)
            return -1;
        return emit_scalar(em, num, YAML_PLAIN_SCALAR_STYLE);
    }
    if (cJSON_IsBool(v))
        return emit_scalar(em, cJSON_IsTrue(v) ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
    if (cJSON_IsNull(v))
        return emit_scalar(em, "null", YAML_PLAIN_SCALAR_STYLE);
    if (cJSON_IsRaw(v))
        return -1; /* raw JSON text has no YAML meaning we can vouch for */
    return -1;
}

static char *emit_docs(const cJSON *const *docs, size_t n, int explicit_start)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    k8s__sbuf o = {0};
    int ok = 0;

    if (!yaml_emitter_initialize(&em))
        return NULL;
    yaml_emitter_set_output(&em, on_emitter_write, &o);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    yaml_emitter_set_indent(&em, 2);
    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
        !yaml_emitter_emit(&em, &ev))
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, !explicit_start) ||
            !yaml_emitter_emit(&em, &ev))
            goto done;
        if (emit_value(&em, docs[i]) < 0)
            goto done;
        if (!yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(&em, &ev))
            goto done;
    }
    if (!yaml_stream_end_event_initialize(&ev) || !yaml_emitter_emit(&em, &ev))
        goto done;
    if (!yaml_emitter_flush(&em) || o.failed)
        goto done;
    ok = 1;
done:
    yaml_emitter_delete(&em);
    if (!ok) {
        free(o.buf);
        return NULL;
    }
    return k8s__sb_take(&o);
}

char *k8s_yaml_emit(const cJSON *doc)
{
    if (!doc)
        return NULL;
    return emit_docs(&doc, 1, 0);
}

char *k8s_yaml_emit_all(const cJSON *docs)
{
    if (!cJSON_IsArray(docs))
        return NULL;
    int n = cJSON_GetArraySize(docs);
    if (n == 0)
        return strdup("");
    const cJSON **list = calloc((size_t)n, sizeof(*list));
    if (!list)
        return NULL;
    size_t i = 0;
    for (const cJSON *d = docs->child; d; d = d->next)
        list[i++] = d;
    char *out = emit_docs(list, i, 1);
    free(list);
    return out;
}
