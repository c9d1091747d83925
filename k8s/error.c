/* Status → typed error decoding; see error.h. */
#include "k8s/error.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plain-text body can be anything (an HTML error page from a proxy); keep a readable prefix. */
#define ERROR_TEXT_MAX 1024

static const struct {
    const char *reason;
    k8s_err code;
} reasons[] = {
    {"BadRequest", K8S_ERR_BAD_REQUEST},
    {"Unauthorized", K8S_ERR_UNAUTHORIZED},
    {"Forbidden", K8S_ERR_FORBIDDEN},
    {"NotFound", K8S_ERR_NOT_FOUND},
    {"MethodNotAllowed", K8S_ERR_METHOD_NOT_ALLOWED},
    {"NotAcceptable", K8S_ERR_NOT_ACCEPTABLE},
    {"AlreadyExists", K8S_ERR_ALREADY_EXISTS},
    {"Conflict", K8S_ERR_CONFLICT},
    {"Expired", K8S_ERR_EXPIRED},
    {"Gone", K8S_ERR_EXPIRED},
    {"RequestEntityTooLarge", K8S_ERR_REQUEST_TOO_LARGE},
    {"UnsupportedMediaType", K8S_ERR_UNSUPPORTED},
    {"Invalid", K8S_ERR_INVALID},
    {"TooManyRequests", K8S_ERR_TOO_MANY_REQUESTS},
    {"InternalError", K8S_ERR_INTERNAL},
    {"ServiceUnavailable", K8S_ERR_SERVICE_UNAVAILABLE},
    {"ServerTimeout", K8S_ERR_SERVER_TIMEOUT},
    {"Timeout", K8S_ERR_TIMEOUT},
};

static const char *const names[] = {
    [K8S_OK] = "OK",
    [K8S_ERR_BAD_REQUEST] = "BadRequest",
    [K8S_ERR_UNAUTHORIZED] = "Unauthorized",
    [K8S_ERR_FORBIDDEN] = "Forbidden",
    [K8S_ERR_NOT_FOUND] = "NotFound",
    [K8S_ERR_METHOD_NOT_ALLOWED] = "MethodNotAllowed",
    [K8S_ERR_NOT_ACCEPTABLE] = "NotAcceptable",
    [K8S_ERR_ALREADY_EXISTS] = "AlreadyExists",
    [K8S_ERR_CONFLICT] = "Conflict",
    [K8S_ERR_EXPIRED] = "Expired",
    [K8S_ERR_REQUEST_TOO_LARGE] = "RequestEntityTooLarge",
    [K8S_ERR_UNSUPPORTED] = "UnsupportedMediaType",
    [K8S_ERR_INVALID] = "Invalid",
    [K8S_ERR_TOO_MANY_REQUESTS] = "TooManyRequests",
    [K8S_ERR_INTERNAL] = "InternalError",
    [K8S_ERR_SERVICE_UNAVAILABLE] = "ServiceUnavailable",
    [K8S_ERR_SERVER_TIMEOUT] = "ServerTimeout",
    [K8S_ERR_TIMEOUT] = "Timeout",
    [K8S_ERR_TRANSPORT] = "Transport",
    [K8S_ERR_CANCELLED] = "Cancelled",
    [K8S_ERR_CONFIG] = "Config",
    [K8S_ERR_NOMEM] = "NoMemory",
    [K8S_ERR_DECODE] = "Decode",
    [K8S_ERR_UNKNOWN] = "Unknown",
};

void k8s_error_init(k8s_error *e)
{
    memset(e, 0, sizeof(*e));
    e->retry_after_s = -1;
}

void k8s_error_clear(k8s_error *e)
{
    free(e->reason);
    free(e->message);
    free(e->details_name);
    free(e->details_group);
    free(e->details_kind);
    for (size_t i = 0; i < e->ncauses; i++) {
        free(e->causes[i].reason);
        free(e->causes[i].message);
        free(e->causes[i].field);
        free(e->causes[i].manager);
    }
    free(e->causes);
    k8s_error_init(e);
}

void k8s_error_move(k8s_error *dst, k8s_error *src)
{
    if (dst == src)
        return;
    k8s_error_clear(dst);
    *dst = *src;
    k8s_error_init(src);
}

const char *k8s_err_name(k8s_err code)
{
    if ((unsigned)code < sizeof(names) / sizeof(names[0]) && names[code])
        return names[code];
    return "Unknown";
}

k8s_err k8s_err_from_reason(const char *reason)
{
    if (!reason)
        return K8S_ERR_UNKNOWN;
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strcmp(reasons[i].reason, reason) == 0)
            return reasons[i].code;
    return K8S_ERR_UNKNOWN;
}

k8s_err k8s_err_from_http(int s)
{
    if (s >= 200 && s < 300)
        return K8S_OK;
    switch (s) {
    case 400:
        return K8S_ERR_BAD_REQUEST;
    case 401:
        return K8S_ERR_UNAUTHORIZED;
    case 403:
        return K8S_ERR_FORBIDDEN;
    case 404:
        return K8S_ERR_NOT_FOUND;
    case 405:
        return K8S_ERR_METHOD_NOT_ALLOWED;
    case 406:
        return K8S_ERR_NOT_ACCEPTABLE;
    case 409:
        return K8S_ERR_CONFLICT;
    case 410:
        return K8S_ERR_EXPIRED;
    case 413:
        return K8S_ERR_REQUEST_TOO_LARGE;
    case 415:
        return K8S_ERR_UNSUPPORTED;
    case 422:
        return K8S_ERR_INVALID;
    case 429:
        return K8S_ERR_TOO_MANY_REQUESTS;
    case 503:
        return K8S_ERR_SERVICE_UNAVAILABLE;
    case 504:
        return K8S_ERR_TIMEOUT;
    default:
        break;
    }
    if (s >= 500 && s < 600)
        return K8S_ERR_INTERNAL;
    return K8S_ERR_UNKNOWN;
}

bool k8s_err_retriable(const k8s_error *e)
{
    switch (e->code) {
    case K8S_ERR_TOO_MANY_REQUESTS:
    case K8S_ERR_INTERNAL:
    case K8S_ERR_SERVICE_UNAVAILABLE:
    case K8S_ERR_SERVER_TIMEOUT:
    case K8S_ERR_TIMEOUT:
    case K8S_ERR_TRANSPORT:
        return true;
    case K8S_ERR_UNKNOWN:
        return e->http_status >= 500 && e->http_status < 600;
    default:
        return false;
    }
}

bool k8s_error_has_cause(const k8s_error *e, const char *reason)
{
    for (size_t i = 0; i < e->ncauses; i++)
        if (e->causes[i].reason && reason && strcmp(e->causes[i].reason, reason) == 0)
            return true;
    return false;
}

/* Copies a JSON string member; absent or non-string leaves *dst NULL. Returns -ENOMEM only. */
static int dup_member(char **dst, const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *dst = NULL;
    if (!cJSON_IsString(v) || !v->valuestring)
        return 0;
    *dst = strdup(v->valuestring);
    return *dst ? 0 : -ENOMEM;
}

static int set_nomem(k8s_error *e, int http_status)
{
    k8s_error_clear(e);
    e->code = K8S_ERR_NOMEM;
    e->http_status = http_status;
    return -ENOMEM;
}

/*
 * The manager named in an apply conflict's text at p: a Go-quoted string ("helm",
 * "kubectl-client-side-apply"), which is how the API server prints managers. A new string, or
 * NULL when p holds no quoted name; *end (when given) is set past it. -ENOMEM is told apart
 * by *oom.
 */
static char *quoted_manager(const char *p, const char **end, bool *oom)
{
    if (!p || *p != '"')
        return NULL;
    size_t n = 0;
    const char *q = p + 1;
    for (; *q && *q != '"'; q++, n++)
        if (*q == '\\' && q[1])
            q++;
    if (*q != '"')
        return NULL;
    char *out = malloc(n + 1);
    if (!out) {
        *oom = true;
        return NULL;
    }
    size_t j = 0;
    for (const char *r = p + 1; r < q; r++)
        out[j++] = (*r == '\\' && r + 1 < q) ? *++r : *r;
    out[j] = '\0';
    if (end)
        *end = q + 1;
    return out;
}

/* The manager of a FieldManagerConflict cause's message ("conflict with \"m\" using v1"). */
static int cause_manager(k8s_status_cause *c)
{
    if (!c->reason || strcmp(c->reason, K8S_CAUSE_FIELD_MANAGER_CONFLICT) != 0 || !c->message)
        return 0;
    const char *p = strstr(c->message, "conflict with ");
    bool oom = false;
    if (p)
        c->manager = quoted_manager(p + strlen("conflict with "), NULL, &oom);
    return oom ? -ENOMEM : 0;
}

/* Appends a FieldManagerConflict cause (field and manager copied, each at most len bytes). */
static int add_conflict_cause(k8s_error *e, size_t *cap, const char *manager, const char *field,
                              size_t field_len)
{
    if (e->ncauses == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        k8s_status_cause *nc = realloc(e->causes, ncap * sizeof(*nc));
        if (!nc)
            return -ENOMEM;
        e->causes = nc;
        *cap = ncap;
    }
    k8s_status_cause *c = &e->causes[e->ncauses];
    memset(c, 0, sizeof(*c));
    c->reason = strdup(K8S_CAUSE_FIELD_MANAGER_CONFLICT);
    c->manager = strdup(manager);
    c->field = strndup(field, field_len);
    e->ncauses++;
    return c->reason && c->manager && c->field ? 0 : -ENOMEM;
}

/*
 * An apply Conflict without causes: builds them from the summary, whose two shapes are
 *   Apply failed with 1 conflict: conflict with "m" using v1: .spec.x
 *   Apply failed with 2 conflicts: conflicts with "m":\n- .spec.x\n- .spec.y\nconflicts with "n"
 * ... Text that fits neither leaves no cause.
 */
static int conflict_causes_from_summary(k8s_error *e)
{
    const char *m = e->message;
    if (e->ncauses || !m || strncmp(m, "Apply failed with ", 18) != 0)
        return 0;
    size_t cap = 0;
    bool oom = false;
    for (const char *p = strstr(m, "conflict"); p; p = strstr(p, "conflict")) {
        const char *q = p + strlen("conflict");
        if (*q == 's')
            q++;
        if (strncmp(q, " with ", 6) != 0) {
            p = q;
            continue;
        }
        const char *end = NULL;
        char *manager = quoted_manager(q + 6, &end, &oom);
        if (!manager) {
            if (oom)
                return -ENOMEM;
            p = q;
            continue;
        }
        /* Past the manager's description (`using v1`, `with subresource "status"`). */
        const char *colon = strchr(end, ':');
        int rc = 0;
        if (colon && colon[1] == ' ' && colon[2] != '\n') {
            const char *f = colon + 2; /* one conflict: the field follows on the line */
            rc = add_conflict_cause(e, &cap, manager, f, strcspn(f, "\n"));
        } else {
            for (const char *l = colon ? strchr(colon, '\n') : NULL;
                 l && strncmp(l, "\n- ", 3) == 0; l = strchr(l + 1, '\n')) {
                rc = add_conflict_cause(e, &cap, manager, l + 3, strcspn(l + 3, "\n"));
                if (rc)
                    break;
            }
        }
        free(manager);
        if (rc)
            return rc;
        p = colon ? colon : end;
    }
    return 0;
}

/* Fills e from a Status-shaped object; http_status is the transport's view (0 = use code). */
static int decode_status(k8s_error *e, const cJSON *st, int http_status)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(st, "code");
    int status_code = 0;
    if (cJSON_IsNumber(code) && code->valuedouble >= 0 && code->valuedouble < 1000)
        status_code = (int)code->valuedouble;
    e->http_status = http_status ? http_status : status_code;

    if (dup_member(&e->reason, st, "reason") || dup_member(&e->message, st, "message"))
        return set_nomem(e, e->http_status);

    const cJSON *details = cJSON_GetObjectItemCaseSensitive(st, "details");
    if (cJSON_IsObject(details)) {
        if (dup_member(&e->details_name, details, "name") ||
            dup_member(&e->details_group, details, "group") ||
            dup_member(&e->details_kind, details, "kind"))
            return set_nomem(e, e->http_status);
        const cJSON *ra = cJSON_GetObjectItemCaseSensitive(details, "retryAfterSeconds");
        if (cJSON_IsNumber(ra) && ra->valuedouble > 0 && ra->valuedouble < INT_MAX)
            e->retry_after_s = (int)ra->valuedouble;
        const cJSON *causes = cJSON_GetObjectItemCaseSensitive(details, "causes");
        int n = cJSON_IsArray(causes) ? cJSON_GetArraySize(causes) : 0;
        if (n > 0) {
            e->causes = calloc((size_t)n, sizeof(*e->causes));
            if (!e->causes)
                return set_nomem(e, e->http_status);
            const cJSON *c;
            cJSON_ArrayForEach(c, causes)
            {
                if (!cJSON_IsObject(c))
                    continue;
                k8s_status_cause *dst = &e->causes[e->ncauses++];
                if (dup_member(&dst->reason, c, "reason") ||
                    dup_member(&dst->message, c, "message") ||
                    dup_member(&dst->field, c, "field") || cause_manager(dst))
                    return set_nomem(e, e->http_status);
            }
        }
    }

    /* The reason is more precise than the code (409 is AlreadyExists or Conflict; 500 is
     * InternalError or ServerTimeout); the code covers reasons we do not know. */
    k8s_err by_reason = k8s_err_from_reason(e->reason);
    e->code = by_reason != K8S_ERR_UNKNOWN ? by_reason : k8s_err_from_http(e->http_status);
    if (e->code == K8S_OK) {
        /* A Failure Status with a 2xx (or no) code is still a failure. */
        e->code = K8S_ERR_UNKNOWN;
    }
    if (!e->message) {
        e->message = strdup(e->reason ? e->reason : k8s_err_name(e->code));
        if (!e->message)
            return set_nomem(e, e->http_status);
    }
    if (e->code == K8S_ERR_CONFLICT && conflict_causes_from_summary(e))
        return set_nomem(e, e->http_status);
    return 0;
}

int k8s_error_from_status_json(k8s_error *e, const cJSON *status)
{
    k8s_error_clear(e);
    if (!cJSON_IsObject(status)) {
        e->code = K8S_ERR_DECODE;
        e->message = strdup("malformed Status object");
        return e->message ? 0 : set_nomem(e, 0);
    }
    return decode_status(e, status, 0);
}

/* Retry-After is delta-seconds or an HTTP date; a date means "soon", and we never trust a
 * server to make us sleep for hours. */
static int parse_retry_after(const char *h)
{
    if (!h)
        return -1;
    while (*h == ' ' || *h == '\t')
        h++;
    if (!isdigit((unsigned char)*h))
        return *h ? 1 : -1;
    long v = 0;
    while (isdigit((unsigned char)*h) && v < 86400)
        v = v * 10 + (*h++ - '0');
    return (int)(v > 86400 ? 86400 : v);
}

/* Keeps printable text only, trims, bounds the length. */
static char *text_message(const char *body, size_t len)
{
    if (len > ERROR_TEXT_MAX)
        len = ERROR_TEXT_MAX;
    while (len && isspace((unsigned char)*body)) {
        body++;
        len--;
    }
    while (len && isspace((unsigned char)body[len - 1]))
        len--;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)body[i];
        out[i] = (ch == '\n' || ch == '\t' || (ch >= 0x20 && ch != 0x7f)) ? (char)ch : '?';
    }
    out[len] = '\0';
    return out;
}

int k8s_error_from_response(k8s_error *e, int http_status, const char *body, size_t len,
                            const char *retry_after_header)
{
    k8s_error_clear(e);
    if (!body)
        len = 0;
    int rc = 0;
    cJSON *json = len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(json, "kind");
    if (cJSON_IsObject(json) && cJSON_IsString(kind) && kind->valuestring &&
        strcmp(kind->valuestring, "Status") == 0) {
        rc = decode_status(e, json, http_status);
    } else {
        e->http_status = http_status;
        e->code = k8s_err_from_http(http_status);
        if (e->code == K8S_OK)
            e->code = K8S_ERR_UNKNOWN;
        size_t tlen = len;
        /* Keep a non-Status body verbatim (bounded), else say what happened. */
        e->message = tlen ? text_message(body, tlen) : NULL;
        if (e->message && !e->message[0]) {
            free(e->message);
            e->message = NULL;
        }
        if (!e->message) {
            char buf[64];
            snprintf(buf, sizeof(buf), "HTTP %d %s", http_status, k8s_err_name(e->code));
            e->message = strdup(buf);
        }
        if (!e->message)
            rc = set_nomem(e, http_status);
    }
    cJSON_Delete(json);
    if (rc == 0 && e->retry_after_s < 0)
        e->retry_after_s = parse_retry_after(retry_after_header);
    return rc;
}

int k8s_error_set(k8s_error *e, k8s_err code, int http_status, const char *fmt, ...)
{
    k8s_error_clear(e);
    e->code = code;
    e->http_status = http_status;
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    e->message = strdup(buf);
    return e->message ? 0 : set_nomem(e, http_status);
}
