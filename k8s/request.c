/* One API call with retries, auth, rate limiting and typed errors; see request.h.
 *
 * Each request owns one uv_timer_t that paces it: the first attempt and every retry are
 * started from that timer, which is also how an error found in k8s_request_start() reaches
 * the caller on a later loop turn. The request is freed in the timer's close callback, and the
 * client only closes its transport once every request has been freed.
 */
#include "k8s/request.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k8s/ratelimit.h"
#include "k8s/utf8.h"

#define CLIENT_DEFAULT_QPS         5.0
#define CLIENT_DEFAULT_BURST       10
#define CLIENT_DEFAULT_ATTEMPTS    10
#define CLIENT_DEFAULT_TIMEOUT_MS  30000L
#define REQUEST_MAX_RETRY_AFTER_MS 60000u
#define CLIENT_DEFAULT_IN_FLIGHT   16

typedef enum req_state {
    RS_WAIT_RETRY, /* backoff / Retry-After delay */
    RS_WAIT_TOKEN, /* waiting for the rate limiter */
    RS_WAIT_SLOT,  /* token paid, waiting for one of max_in_flight */
    RS_IN_FLIGHT,  /* an HTTP attempt is running */
    RS_DONE        /* on_done delivered, timer closing */
} req_state;

/* Rate limiting of one failure class's log lines. */
typedef struct failure_log {
    uint64_t last_ms; /* when the last line was written */
    bool logged;      /* a line was written at all */
    unsigned long suppressed;
} failure_log;

struct k8s_client {
    uv_loop_t *loop;
    char host[256]; /* the server's host[:port], the host label of the request metrics */
    failure_log failures[K8S_FAILURE_NCLASSES];
    char last_failure[512]; /* the last failure's line, "" until one */
    uint64_t last_failure_ms;
    k8s_config *cfg;
    k8s_http *http;
    k8s_ratelimit rl;
    k8s_ratelimit rl_events; /* see k8s_request_opts.events_budget */
    k8s_client_opts opts;
    k8s_request *reqs;                  /* every request not yet freed */
    int in_flight;                      /* counted (non-streaming, non-exempt) attempts running */
    k8s_request *slot_head, *slot_tail; /* RS_WAIT_SLOT, in arrival order */
    bool closing;
    void (*close_cb)(void *data);
    void *close_data;
};

struct k8s_request {
    k8s_client *c;
    uv_timer_t timer;
    req_state state;
    bool cancelled;
    bool streamed;
    bool token_refreshed;               /* the one 401-driven token re-read was used */
    bool exempt;                        /* see k8s_request_opts.exempt */
    bool events_budget;                 /* see k8s_request_opts.events_budget */
    bool holds_slot;                    /* counted in c->in_flight */
    k8s_request *slot_prev, *slot_next; /* while RS_WAIT_SLOT */
    k8s_http_req *hreq;
    char *method;
    char *url;
    char *body;
    size_t body_len;
    const char *content_type; /* static string */
    long timeout_ms;
    long idle_timeout_s;
    size_t max_body;
    int max_attempts;
    int attempts;
    k8s_backoff backoff;
    k8s_error pending_err; /* an error found before any attempt, delivered from the timer */
    k8s_response res;      /* accumulated result of the last attempt */
    uint64_t attempt_ns;   /* uv_hrtime() when the current attempt started */
    k8s_request_data_cb on_data;
    k8s_request_done_cb on_done;
    void *data;
    k8s_request *prev, *next;
};

/* ---- paths and URLs -------------------------------------------------------------------- */

static bool unreserved(unsigned char ch)
{
    return isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* Appends percent-encoded s; path components keep nothing else, query values neither. */
static int put_escaped(char *buf, size_t len, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        size_t need = unreserved(ch) ? 1 : 3;
        if (*pos + need >= len)
            return -ENAMETOOLONG;
        if (need == 1) {
            buf[(*pos)++] = (char)ch;
        } else {
            buf[(*pos)++] = '%';
            buf[(*pos)++] = hex[ch >> 4];
            buf[(*pos)++] = hex[ch & 15];
        }
    }
    buf[*pos] = '\0';
    return 0;
}

static int put_raw(char *buf, size_t len, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos + n >= len)
        return -ENAMETOOLONG;
    memcpy(buf + *pos, s, n + 1);
    *pos += n;
    return 0;
}

static bool empty(const char *s)
{
    return !s || !*s;
}

int k8s_path_build(char *buf, size_t len, const k8s_resource_ref *ref)
{
    if (!buf || !len || !ref || empty(ref->version) || empty(ref->resource))
        return -EINVAL;
    if (!empty(ref->subresource) && empty(ref->name))
        return -EINVAL;
    size_t pos = 0;
    int rc = 0;
    buf[0] = '\0';
    if (empty(ref->group)) {
        rc = put_raw(buf, len, &pos, "/api/");
    } else {
        rc = put_raw(buf, len, &pos, "/apis/");
        rc = rc ? rc : put_escaped(buf, len, &pos, ref->group);
        rc = rc ? rc : put_raw(buf, len, &pos, "/");
    }
    rc = rc ? rc : put_escaped(buf, len, &pos, ref->version);
    if (!empty(ref->namespace)) {
        rc = rc ? rc : put_raw(buf, len, &pos, "/namespaces/");
        rc = rc ? rc : put_escaped(buf, len, &pos, ref->namespace);
    }
    rc = rc ? rc : put_raw(buf, len, &pos, "/");
    rc = rc ? rc : put_escaped(buf, len, &pos, ref->resource);
    if (!empty(ref->name)) {
        rc = rc ? rc : put_raw(buf, len, &pos, "/");
        rc = rc ? rc : put_escaped(buf, len, &pos, ref->name);
    }
    if (!empty(ref->subresource)) {
        rc = rc ? rc : put_raw(buf, len, &pos, "/");
        rc = rc ? rc : put_escaped(buf, len, &pos, ref->subresource);
    }
    return rc ? rc : (int)pos;
}

static int query_add(char *buf, size_t len, size_t *pos, bool *first, const char *key,
                     const char *value)
{
    if (empty(value))
        return 0;
    int rc = put_raw(buf, len, pos, *first ? "?" : "&");
    *first = false;
    rc = rc ? rc : put_raw(buf, len, pos, key);
    rc = rc ? rc : put_raw(buf, len, pos, "=");
    return rc ? rc : put_escaped(buf, len, pos, value);
}

int k8s_request_url(const char *server, const k8s_request_opts *o, char **out)
{
    if (!server || !o || !out)
        return -EINVAL;
    *out = NULL;
    bool collection =
        o->verb == K8S_VERB_LIST || o->verb == K8S_VERB_WATCH || o->verb == K8S_VERB_CREATE;
    if (collection && !empty(o->ref.name))
        return -EINVAL;
    if (!collection && empty(o->ref.name))
        return -EINVAL;
    size_t len = strlen(server) + 4096;
    const char *long_values[] = {o->label_selector, o->field_selector, o->continue_token,
                                 o->resource_version, o->field_manager};
    for (size_t i = 0; i < sizeof(long_values) / sizeof(long_values[0]); i++)
        len += long_values[i] ? 3 * strlen(long_values[i]) : 0;
    len += 3 * (strlen(o->ref.namespace ? o->ref.namespace : "") +
                strlen(o->ref.name ? o->ref.name : "") + strlen(o->ref.group ? o->ref.group : ""));
    char *buf = malloc(len);
    if (!buf)
        return -ENOMEM;
    size_t pos = 0;
    int rc = put_raw(buf, len, &pos, server);
    while (pos && buf[pos - 1] == '/')
        buf[--pos] = '\0';
    if (rc == 0) {
        int n = k8s_path_build(buf + pos, len - pos, &o->ref);
        rc = n < 0 ? n : 0;
        if (n > 0)
            pos += (size_t)n;
    }
    bool first = true;
    char num[32];
    switch (o->verb) {
    case K8S_VERB_WATCH:
        rc = rc ? rc : query_add(buf, len, &pos, &first, "watch", "true");
        if (o->allow_watch_bookmarks)
            rc = rc ? rc : query_add(buf, len, &pos, &first, "allowWatchBookmarks", "true");
        if (o->send_initial_events)
            rc = rc ? rc : query_add(buf, len, &pos, &first, "sendInitialEvents", "true");
        /* fall through */
    case K8S_VERB_LIST:
        rc = rc ? rc : query_add(buf, len, &pos, &first, "labelSelector", o->label_selector);
        rc = rc ? rc : query_add(buf, len, &pos, &first, "fieldSelector", o->field_selector);
        rc = rc ? rc : query_add(buf, len, &pos, &first, "resourceVersion", o->resource_version);
        rc = rc ? rc
                : query_add(buf, len, &pos, &first, "resourceVersionMatch",
                            o->resource_version_match);
        rc = rc ? rc : query_add(buf, len, &pos, &first, "continue", o->continue_token);
        if (o->limit > 0) {
            snprintf(num, sizeof(num), "%ld", o->limit);
            rc = rc ? rc : query_add(buf, len, &pos, &first, "limit", num);
        }
        if (o->timeout_seconds > 0) {
            snprintf(num, sizeof(num), "%ld", o->timeout_seconds);
            rc = rc ? rc : query_add(buf, len, &pos, &first, "timeoutSeconds", num);
        }
        break;
    case K8S_VERB_GET:
        rc = rc ? rc : query_add(buf, len, &pos, &first, "resourceVersion", o->resource_version);
        break;
    case K8S_VERB_PATCH:
        if (o->patch_type == K8S_PATCH_APPLY && empty(o->field_manager))
            rc = rc ? rc : -EINVAL;
        if (o->patch_type == K8S_PATCH_APPLY && o->force)
            rc = rc ? rc : query_add(buf, len, &pos, &first, "force", "true");
        /* fall through */
    case K8S_VERB_CREATE:
    case K8S_VERB_UPDATE:
        rc = rc ? rc : query_add(buf, len, &pos, &first, "fieldManager", o->field_manager);
        /* fall through */
    case K8S_VERB_DELETE:
        rc = rc ? rc : query_add(buf, len, &pos, &first, "dryRun", o->dry_run);
        break;
    default:
        rc = rc ? rc : -EINVAL;
    }
    if (rc) {
        free(buf);
        return rc == -ENAMETOOLONG ? -EINVAL : rc;
    }
    /* Built in a generous buffer; keep only what is used: a reconcile can queue thousands of
     * requests at once, and 4 KiB each was most of the daemon's peak memory. */
    char *fit = realloc(buf, pos + 1);
    *out = fit ? fit : buf;
    return 0;
}

/* ---- bodies ---------------------------------------------------------------------------- */

static cJSON *delete_options(const k8s_request_opts *o)
{
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return NULL;
    cJSON_AddStringToObject(d, "kind", "DeleteOptions");
    cJSON_AddStringToObject(d, "apiVersion", "v1");
    if (!empty(o->propagation_policy))
        cJSON_AddStringToObject(d, "propagationPolicy", o->propagation_policy);
    if (o->has_grace_period && o->grace_period_seconds >= 0)
        cJSON_AddNumberToObject(d, "gracePeriodSeconds", (double)o->grace_period_seconds);
    if (!empty(o->precondition_uid) || !empty(o->precondition_resource_version)) {
        cJSON *p = cJSON_AddObjectToObject(d, "preconditions");
        if (p && !empty(o->precondition_uid))
            cJSON_AddStringToObject(p, "uid", o->precondition_uid);
        if (p && !empty(o->precondition_resource_version))
            cJSON_AddStringToObject(p, "resourceVersion", o->precondition_resource_version);
    }
    return d;
}

/* Serialises the body the verb needs; *out NULL means no body. Returns 0 or negative errno. */
static int build_body(const k8s_request_opts *o, char **out, const char **ctype)
{
    *out = NULL;
    *ctype = NULL;
    cJSON *owned = NULL;
    const cJSON *body = o->body;
    switch (o->verb) {
    case K8S_VERB_CREATE:
    case K8S_VERB_UPDATE:
        if (!cJSON_IsObject(body))
            return -EINVAL;
        if (o->verb == K8S_VERB_UPDATE && !empty(o->resource_version)) {
            owned = cJSON_Duplicate(body, 1);
            if (!owned)
                return -ENOMEM;
            cJSON *md = cJSON_GetObjectItemCaseSensitive(owned, "metadata");
            if (!cJSON_IsObject(md)) {
                cJSON_DeleteItemFromObjectCaseSensitive(owned, "metadata");
                md = cJSON_AddObjectToObject(owned, "metadata");
            }
            cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
            if (!md || !cJSON_AddStringToObject(md, "resourceVersion", o->resource_version)) {
                cJSON_Delete(owned);
                return -ENOMEM;
            }
            body = owned;
        }
        *ctype = "Content-Type: application/json";
        break;
    case K8S_VERB_PATCH:
        if (!body)
            return -EINVAL;
        *ctype = o->patch_type == K8S_PATCH_MERGE  ? "Content-Type: application/merge-patch+json"
                 : o->patch_type == K8S_PATCH_JSON ? "Content-Type: application/json-patch+json"
                 : o->patch_type == K8S_PATCH_APPLY
                     ? "Content-Type: application/apply-patch+yaml"
                     : "Content-Type: application/strategic-merge-patch+json";
        break;
    case K8S_VERB_DELETE:
        if (!body) {
            owned = delete_options(o);
            if (!owned)
                return -ENOMEM;
            body = owned;
        }
        *ctype = "Content-Type: application/json";
        break;
    default:
        return 0;
    }
    *out = cJSON_PrintUnformatted(body);
    cJSON_Delete(owned);
    return *out ? 0 : -ENOMEM;
}

/* ---- request lifecycle ----------------------------------------------------------------- */

static const char *verb_method(k8s_verb v)
{
    switch (v) {
    case K8S_VERB_CREATE:
        return "POST";
    case K8S_VERB_UPDATE:
        return "PUT";
    case K8S_VERB_PATCH:
        return "PATCH";
    case K8S_VERB_DELETE:
        return "DELETE";
    default:
        return "GET";
    }
}

static void client_maybe_close_http(k8s_client *c);

static void on_req_timer_closed(uv_handle_t *handle)
{
    k8s_request *r = handle->data;
    k8s_client *c = r->c;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    k8s_error_clear(&r->pending_err);
    k8s_error_clear(&r->res.err);
    cJSON_Delete(r->res.body);
    free(r->method);
    free(r->url);
    free(r->body);
    free(r);
    client_maybe_close_http(c);
}

static void on_req_timer(uv_timer_t *t);

static void schedule(k8s_request *r, req_state st, uint64_t delay_ms)
{
    r->state = st;
    uv_timer_start(&r->timer, on_req_timer, delay_ms, 0);
}

static bool counted(const k8s_request *r)
{
    return !r->on_data && !r->exempt;
}

static void slot_unlink(k8s_client *c, k8s_request *r)
{
    if (r->slot_prev)
        r->slot_prev->slot_next = r->slot_next;
    else if (c->slot_head == r)
        c->slot_head = r->slot_next;
    if (r->slot_next)
        r->slot_next->slot_prev = r->slot_prev;
    else if (c->slot_tail == r)
        c->slot_tail = r->slot_prev;
    r->slot_prev = r->slot_next = NULL;
}

/* Takes one of max_in_flight for r, or queues it (false). */
static bool slot_acquire(k8s_client *c, k8s_request *r)
{
    if (!counted(r) || r->holds_slot)
        return true;
    if (c->in_flight < c->opts.max_in_flight) {
        c->in_flight++;
        r->holds_slot = true;
        return true;
    }
    r->state = RS_WAIT_SLOT;
    r->slot_prev = c->slot_tail;
    if (c->slot_tail)
        c->slot_tail->slot_next = r;
    else
        c->slot_head = r;
    c->slot_tail = r;
    return false;
}

/* An attempt of r ended: its slot goes straight to the oldest waiting request. */
static void slot_release(k8s_client *c, k8s_request *r)
{
    if (!r->holds_slot)
        return;
    r->holds_slot = false;
    k8s_request *next = c->slot_head;
    if (!next) {
        c->in_flight--;
        return;
    }
    slot_unlink(c, next);
    next->holds_slot = true;
    schedule(next, RS_WAIT_SLOT, 0);
}

/* Delivers on_done exactly once, then frees r via its timer's close callback. */
static void req_finish(k8s_request *r)
{
    if (r->state == RS_WAIT_SLOT && !r->holds_slot)
        slot_unlink(r->c, r);
    slot_release(r->c, r);
    r->state = RS_DONE;
    r->hreq = NULL;
    uv_timer_stop(&r->timer);
    r->res.attempts = r->attempts;
    r->on_done(r, &r->res, r->data);
    uv_close((uv_handle_t *)&r->timer, on_req_timer_closed);
}

static void on_http_data(k8s_http_req *hreq, int status, const char *buf, size_t len, void *data)
{
    k8s_request *r = data;
    r->streamed = true;
    if (!r->cancelled)
        r->on_data(r, buf, len, r->data);
}

/* Whether a 2xx answer's Content-Type may hold our JSON: application/json with any
 * parameters, or none at all (a proxy may drop it; the parser decides then). */
static bool json_media_type(const char *ct)
{
    if (!ct || !*ct)
        return true;
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;
    return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Turns one HTTP attempt into r->res. */
static void decode_attempt(k8s_request *r, const k8s_http_result *hr)
{
    k8s_response *res = &r->res;
    cJSON_Delete(res->body);
    res->body = NULL;
    k8s_error_clear(&res->err);
    res->http_status = hr->status;
    res->http_version = hr->http_version;
    if (hr->err != K8S_OK) {
        if (k8s_error_set(&res->err, hr->err, hr->status, "%s %s: %s", r->method, r->url,
                          hr->err_text) == 0 &&
            hr->err == K8S_ERR_TRANSPORT && hr->status >= 300 && !hr->streamed) {
            /* A failure status whose body could not be read completely still has a meaning. */
            res->err.code = k8s_err_from_http(hr->status);
        }
        return;
    }
    if (hr->status >= 200 && hr->status < 300) {
        if (hr->streamed || hr->body_len == 0)
            return;
        if (!json_media_type(hr->content_type)) {
            /* A login page from a proxy, or protobuf we never asked for: say which. */
            k8s_error_set(&res->err, K8S_ERR_DECODE, hr->status,
                          "%s %s: answer is %.64s, not application/json", r->method, r->url,
                          hr->content_type);
            return;
        }
        if (!k8s__utf8_valid(hr->body, hr->body_len)) {
            k8s_error_set(&res->err, K8S_ERR_DECODE, hr->status, "%s %s: body is not valid UTF-8",
                          r->method, r->url);
            return;
        }
        res->body = cJSON_ParseWithLength(hr->body, hr->body_len);
        if (!res->body)
            k8s_error_set(&res->err, K8S_ERR_DECODE, hr->status,
                          "%s %s: body is not JSON (or nested too deep)", r->method, r->url);
        return;
    }
    /* A Status message with bad bytes would travel on into logs and conditions we write. */
    bool utf8 = k8s__utf8_valid(hr->body, hr->body_len);
    k8s_error_from_response(&res->err, hr->status, utf8 ? hr->body : "", utf8 ? hr->body_len : 0,
                            hr->retry_after);
    if (res->err.code == K8S_OK)
        res->err.code = K8S_ERR_UNKNOWN;
}

/* The class of a failed attempt, or -1 for answers that are a controller's ordinary business. */
static int failure_class(const k8s_http_result *hr)
{
    if (hr->err == K8S_ERR_CANCELLED || hr->err == K8S_ERR_NOMEM)
        return -1;
    if (hr->err == K8S_ERR_TIMEOUT)
        return K8S_FAILURE_TIMEOUT;
    if (hr->err != K8S_OK)
        return hr->tls_failed ? K8S_FAILURE_TLS : K8S_FAILURE_TRANSPORT;
    if (hr->status == 401 || hr->status == 403)
        return K8S_FAILURE_AUTH;
    if (hr->status == 429)
        return K8S_FAILURE_THROTTLED;
    if (hr->status >= 500)
        return K8S_FAILURE_SERVER;
    return -1;
}

/* The path (and query) of a URL: what a log line needs to name the resource. */
static const char *url_target(const char *url)
{
    const char *p = url ? strstr(url, "://") : NULL;
    p = p ? strchr(p + 3, '/') : NULL;
    return p ? p : (url ? url : "");
}

/* Counts and times one attempt, and reports it when it failed in a way worth a log line. */
static void record_attempt(k8s_request *r, const k8s_http_result *hr)
{
    k8s_client *c = r->c;
    if (hr->status <= 0 && hr->err == K8S_ERR_CANCELLED)
        return; /* our own doing before any answer: nothing the server did to count */
    /* A stream we ended ourselves (a watch) was still answered: count it as the server did. */
    if (c->opts.metrics)
        k8s_metrics_record_request(c->opts.metrics, r->method, c->host, hr->status,
                                   (double)(uv_hrtime() - r->attempt_ns) / 1e9);
    int cls = r->cancelled || c->closing ? -1 : failure_class(hr);
    if (cls < 0)
        return;
    const char *cause = hr->err != K8S_OK ? hr->err_text : r->res.err.message;
    k8s_client_report_failure(c, (k8s_failure_class)cls, r->method, url_target(r->url), hr->status,
                              cause ? cause : "");
}

static void on_http_done(k8s_http_req *hreq, const k8s_http_result *hr, void *data)
{
    k8s_request *r = data;
    k8s_client *c = r->c;
    r->hreq = NULL;
    slot_release(c, r);
    decode_attempt(r, hr);
    record_attempt(r, hr);
    k8s_error *e = &r->res.err;
    if (r->cancelled || c->closing) {
        if (e->code != K8S_OK || hr->streamed)
            k8s_error_set(e, K8S_ERR_CANCELLED, hr->status, "%s %s: cancelled", r->method, r->url);
        req_finish(r);
        return;
    }
    /* A stream that was answered 2xx belongs to its caller from then on (it may have been
     * idle, not failed): only failures before the answer are retried here. */
    bool stream_started = r->on_data && hr->status >= 200 && hr->status < 300;
    if (e->code == K8S_OK || r->streamed || stream_started) {
        req_finish(r);
        return;
    }
    if (e->code == K8S_ERR_UNAUTHORIZED && c->cfg->token_file && !r->token_refreshed) {
        /* Bound tokens rotate; the kubelet may have written a new one since our last read.
         * A 401 is decided before the server acts, so a new token is worth one more attempt
         * even for a single-attempt call: a Lease renewal is often the first request to meet
         * an invalidated token, and failing it loses leadership until the periodic re-read. */
        r->token_refreshed = true;
        unsigned changes = c->cfg->token_changes;
        const char *tok;
        k8s_config_token(c->cfg, uv_now(c->loop), true, &tok);
        if (r->attempts < r->max_attempts || c->cfg->token_changes != changes) {
            schedule(r, RS_WAIT_TOKEN, 0);
            return;
        }
    }
    if (r->attempts >= r->max_attempts) {
        req_finish(r);
        return;
    }
    if (e->code == K8S_ERR_TRANSPORT)
        k8s_config_refresh_ca(c->cfg, uv_now(c->loop), true); /* the CA may have rotated */
    if (!k8s_err_retriable(e)) {
        req_finish(r);
        return;
    }
    uint64_t delay = k8s_backoff_next(&r->backoff);
    if (e->retry_after_s >= 0 &&
        (e->code == K8S_ERR_TOO_MANY_REQUESTS || e->code == K8S_ERR_SERVICE_UNAVAILABLE ||
         e->code == K8S_ERR_TIMEOUT || e->code == K8S_ERR_SERVER_TIMEOUT ||
         e->code == K8S_ERR_INTERNAL)) {
        delay = (uint64_t)e->retry_after_s * 1000u;
        if (delay > REQUEST_MAX_RETRY_AFTER_MS)
            delay = REQUEST_MAX_RETRY_AFTER_MS;
    }
    schedule(r, RS_WAIT_RETRY, delay);
}

static void start_attempt(k8s_request *r)
{
    k8s_client *c = r->c;
    const k8s_config *cfg = c->cfg;
    const char *tok = NULL;
    k8s_config_token(c->cfg, uv_now(c->loop), false, &tok);
    k8s_config_refresh_ca(c->cfg, uv_now(c->loop), false);
    char *auth = NULL;
    const char *headers[4];
    size_t n = 0;
    headers[n++] = "Accept: application/json";
    if (r->content_type)
        headers[n++] = r->content_type;
    if (tok) {
        size_t alen = strlen(tok) + 32;
        auth = malloc(alen);
        if (!auth) {
            k8s_error_set(&r->res.err, K8S_ERR_NOMEM, 0, "out of memory");
            req_finish(r);
            return;
        }
        snprintf(auth, alen, "Authorization: Bearer %s", tok);
        headers[n++] = auth;
    }
    k8s_http_tls tls = {.ca_pem = cfg->ca_pem,
                        .ca_len = cfg->ca_len,
                        .cert_pem = cfg->cert_pem,
                        .cert_len = cfg->cert_len,
                        .key_pem = cfg->key_pem,
                        .key_len = cfg->key_len,
                        .server_name = cfg->tls_server_name};
    k8s_http_req_opts ho = {
        .method = r->method,
        .url = r->url,
        .headers = headers,
        .nheaders = n,
        .body = r->body,
        .body_len = r->body_len,
        .tls = &tls,
        .timeout_ms = r->timeout_ms,
        .idle_timeout_s = r->idle_timeout_s,
        .max_body = r->max_body,
        .on_data = r->on_data ? on_http_data : NULL,
        .on_done = on_http_done,
        .data = r,
    };
    r->attempts++;
    r->attempt_ns = uv_hrtime();
    r->state = RS_IN_FLIGHT;
    int rc = k8s_http_start(c->http, &ho, &r->hreq);
    free(auth);
    if (rc < 0) {
        k8s_error_set(&r->res.err, rc == -ESHUTDOWN ? K8S_ERR_CANCELLED : K8S_ERR_TRANSPORT, 0,
                      "%s %s: cannot start transfer (%d)", r->method, r->url, rc);
        req_finish(r);
    }
}

static void on_req_timer(uv_timer_t *t)
{
    k8s_request *r = t->data;
    k8s_client *c = r->c;
    if (r->cancelled || c->closing) {
        k8s_error_set(&r->res.err, K8S_ERR_CANCELLED, r->res.http_status, "%s %s: cancelled",
                      r->method ? r->method : "request", r->url ? r->url : "");
        req_finish(r);
        return;
    }
    if (r->pending_err.code != K8S_OK) {
        k8s_error_move(&r->res.err, &r->pending_err);
        req_finish(r);
        return;
    }
    if (r->state == RS_WAIT_RETRY && !r->exempt) {
        /* Every attempt, retries included, pays for a token like client-go does. */
        uint64_t wait =
            k8s_ratelimit_reserve(r->events_budget ? &c->rl_events : &c->rl, uv_now(c->loop));
        if (wait > 0) {
            schedule(r, RS_WAIT_TOKEN, wait);
            return;
        }
    }
    if (!slot_acquire(c, r))
        return; /* slot_release schedules it */
    start_attempt(r);
}

int k8s_request_start(k8s_client *c, const k8s_request_opts *o, k8s_request **out)
{
    if (out)
        *out = NULL;
    if (!c || !o || !o->on_done)
        return -EINVAL;
    if (c->closing)
        return -ESHUTDOWN;
    k8s_request *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->c = c;
    k8s_error_init(&r->pending_err);
    k8s_error_init(&r->res.err);
    r->on_data = o->on_data;
    r->exempt = o->exempt;
    r->events_budget = o->events_budget;
    r->on_done = o->on_done;
    r->data = o->data;
    r->max_attempts = o->max_attempts > 0 ? o->max_attempts : c->opts.max_attempts;
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : (o->on_data ? 0 : c->opts.timeout_ms);
    r->idle_timeout_s = o->idle_timeout_s;
    r->max_body = o->max_body;
    k8s_backoff_init(&r->backoff, &c->opts.retry);
    r->method = strdup(verb_method(o->verb));
    if (!r->method) {
        free(r);
        return -ENOMEM;
    }
    int rc = k8s_request_url(c->cfg->server, o, &r->url);
    if (rc == 0)
        rc = build_body(o, &r->body, &r->content_type);
    if (rc == -ENOMEM) {
        free(r->url);
        free(r->body);
        free(r->method);
        free(r);
        return -ENOMEM;
    }
    if (rc < 0)
        k8s_error_set(&r->pending_err, K8S_ERR_BAD_REQUEST, 0, "%s: invalid request options (%s)",
                      r->method, o->ref.resource ? o->ref.resource : "no resource");
    r->body_len = r->body ? strlen(r->body) : 0;
    uv_timer_init(c->loop, &r->timer);
    r->timer.data = r;
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    schedule(r, RS_WAIT_RETRY, 0);
    if (out)
        *out = r;
    return 0;
}

void k8s_request_cancel(k8s_request *r)
{
    if (!r || r->cancelled || r->state == RS_DONE)
        return;
    r->cancelled = true;
    if (r->state == RS_IN_FLIGHT && r->hreq)
        k8s_http_req_cancel(r->hreq);
    else
        schedule(r, r->state, 0);
}

void *k8s_request_data(const k8s_request *r)
{
    return r->data;
}

/* ---- client ---------------------------------------------------------------------------- */

/* host[:port] of the server URL, for the host label client-go also uses. */
static void server_host(const char *server, char *buf, size_t size)
{
    const char *h = strstr(server, "://");
    h = h ? h + 3 : server;
    size_t n = strcspn(h, "/?#");
    if (n >= size)
        n = size - 1;
    memcpy(buf, h, n);
    buf[n] = '\0';
}

const char *k8s_failure_class_name(k8s_failure_class cls)
{
    static const char *const names[K8S_FAILURE_NCLASSES] = {
        [K8S_FAILURE_TLS] = "tls",
        [K8S_FAILURE_TRANSPORT] = "transport",
        [K8S_FAILURE_TIMEOUT] = "timeout",
        [K8S_FAILURE_AUTH] = "auth",
        [K8S_FAILURE_THROTTLED] = "throttled",
        [K8S_FAILURE_SERVER] = "server-error",
        [K8S_FAILURE_WATCH_STREAM] = "watch-stream",
    };
    return (unsigned)cls < K8S_FAILURE_NCLASSES ? names[cls] : "unknown";
}

void k8s_client_report_failure(k8s_client *c, k8s_failure_class cls, const char *verb,
                               const char *target, int http_status, const char *cause)
{
    if (!c || (unsigned)cls >= K8S_FAILURE_NCLASSES)
        return;
    uint64_t now = uv_now(c->loop);
    char code[16] = "none";
    if (http_status > 0)
        snprintf(code, sizeof(code), "%d", http_status);
    snprintf(c->last_failure, sizeof(c->last_failure), "%s failure: %s %s: code %s: %s",
             k8s_failure_class_name(cls), verb ? verb : "", target ? target : "", code,
             cause ? cause : "");
    c->last_failure_ms = now;

    failure_log *fl = &c->failures[cls];
    if (fl->logged && now - fl->last_ms < K8S_FAILURE_LOG_INTERVAL_MS) {
        fl->suppressed++;
        return;
    }
    char suppressed[24];
    snprintf(suppressed, sizeof(suppressed), "%lu", fl->suppressed);
    fl->logged = true;
    fl->last_ms = now;
    fl->suppressed = 0;
    if (c->opts.log)
        k8s_log_warn(c->opts.log, "API request failed", "class", k8s_failure_class_name(cls),
                     "verb", verb ? verb : "", "target", target ? target : "", "code", code,
                     "error", cause ? cause : "", "suppressed", suppressed);
}

int k8s_client_last_failure(const k8s_client *c, char *buf, size_t size)
{
    if (!buf || size == 0)
        return 0;
    buf[0] = '\0';
    if (!c || !c->last_failure[0])
        return 0;
    uint64_t age = (uv_now(c->loop) - c->last_failure_ms) / 1000u;
    snprintf(buf, size, "%s (%llus ago)", c->last_failure, (unsigned long long)age);
    return 1;
}

k8s_metrics *k8s_client_metrics(const k8s_client *c)
{
    return c ? c->opts.metrics : NULL;
}

int k8s_client_new(uv_loop_t *loop, k8s_config *cfg, const k8s_client_opts *opts, k8s_client **out)
{
    if (out)
        *out = NULL;
    if (!loop || !cfg || !out || empty(cfg->server)) {
        k8s_config_free(cfg);
        return -EINVAL;
    }
    k8s_client *c = calloc(1, sizeof(*c));
    if (!c) {
        k8s_config_free(cfg);
        return -ENOMEM;
    }
    if (opts)
        c->opts = *opts;
    if (c->opts.qps == 0)
        c->opts.qps = CLIENT_DEFAULT_QPS;
    if (c->opts.burst <= 0)
        c->opts.burst = CLIENT_DEFAULT_BURST;
    if (c->opts.max_in_flight <= 0)
        c->opts.max_in_flight = CLIENT_DEFAULT_IN_FLIGHT;
    if (c->opts.max_attempts <= 0)
        c->opts.max_attempts = CLIENT_DEFAULT_ATTEMPTS;
    if (c->opts.timeout_ms <= 0)
        c->opts.timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
    if (c->opts.retry.base_ms == 0 && c->opts.retry.cap_ms == 0 && c->opts.retry.jitter == 0) {
        c->opts.retry.base_ms = 200;
        c->opts.retry.cap_ms = 10000;
        c->opts.retry.jitter = 0.5;
    }
    k8s_http_opts hopts = c->opts.http;
    if (!hopts.user_agent)
        hopts.user_agent = cfg->user_agent;
    int rc = k8s_http_new(loop, &hopts, &c->http);
    if (rc < 0) {
        k8s_config_free(cfg);
        free(c);
        return rc;
    }
    c->opts.http.user_agent = NULL; /* borrowed from the caller; the transport has its copy */
    c->loop = loop;
    c->cfg = cfg;
    server_host(cfg->server, c->host, sizeof(c->host));
    k8s_ratelimit_init(&c->rl, c->opts.qps, c->opts.burst, uv_now(loop));
    k8s_ratelimit_init(&c->rl_events, c->opts.qps, c->opts.burst, uv_now(loop));
    *out = c;
    return 0;
}

static void on_http_closed(void *data)
{
    k8s_client *c = data;
    void (*cb)(void *) = c->close_cb;
    void *cb_data = c->close_data;
    k8s_config_free(c->cfg);
    free(c);
    if (cb)
        cb(cb_data);
}

static void client_maybe_close_http(k8s_client *c)
{
    if (c->closing && !c->reqs && c->http) {
        k8s_http *h = c->http;
        c->http = NULL;
        k8s_http_close(h, on_http_closed, c);
    }
}

void k8s_client_close(k8s_client *c, void (*cb)(void *data), void *data)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    c->close_cb = cb;
    c->close_data = data;
    for (k8s_request *r = c->reqs; r; r = r->next)
        k8s_request_cancel(r);
    client_maybe_close_http(c);
}

const k8s_config *k8s_client_config(const k8s_client *c)
{
    return c->cfg;
}

uv_loop_t *k8s_client_loop(const k8s_client *c)
{
    return c->loop;
}

void k8s_client_http_stats(const k8s_client *c, k8s_http_stats *out)
{
    if (c->http)
        k8s_http_get_stats(c->http, out);
    else
        memset(out, 0, sizeof(*out));
}
