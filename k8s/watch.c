/*
 * List+watch state machine; see watch.h.
 */
#include "k8s/watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    W_NEW,
    W_LISTING,
    W_WATCHING,
    W_WAITING, /* backing off (or about to start) on the timer */
    W_STOPPING,
    W_STOPPED,
} w_state;

/* Parser callback results that stop the stream. */
#define STOP_RELIST  1
#define STOP_FAILED  2
#define STOP_STOPPED 3

struct k8s_watcher {
    k8s_client *client;
    uv_loop_t *loop;
    k8s_watcher_opts opts; /* string fields point at the copies below */
    char *group, *version, *resource, *namespace, *label_selector, *field_selector;

    w_state state;
    k8s_request *req;
    uv_timer_t timer;
    int timer_open;
    k8s_watch_parser parser;

    char *rv; /* last seen resourceVersion, "" when a list is needed */
    size_t rv_cap;
    char *continue_token;
    int list_begun;   /* RESTART_BEGIN delivered for the current list */
    int list_unpaged; /* a continue token expired: list once without limit */

    /* Outcome of the current watch stream, decided in the data path. */
    int stream_stop;
    k8s_error stream_err;
    uint64_t watch_started_ms;
    unsigned long watch_events;

    k8s_backoff backoff;
    int expired_before;       /* a 410 was seen at last_expired_ms */
    uint64_t last_expired_ms; /* when the last 410 (or ResourceVersionTooLarge) came */
    uint64_t last_failure_ms;
    int failed_before;
    uint64_t rng;

    void (*stop_cb)(k8s_watcher *w, void *data);
    void *stop_data;
    k8s_watcher_stats stats;
};

static void next_step(k8s_watcher *w);
static void begin_list(k8s_watcher *w);
static void start_watch(k8s_watcher *w);
static void on_timer(uv_timer_t *t);

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */
/* ------------------------------------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int set_rv(k8s_watcher *w, const char *rv)
{
    size_t n = strlen(rv);
    if (n + 1 > w->rv_cap) {
        char *p = realloc(w->rv, n + 1);
        if (!p)
            return -ENOMEM;
        w->rv = p;
        w->rv_cap = n + 1;
    }
    memcpy(w->rv, rv, n + 1);
    return 0;
}

static uint64_t next_random(k8s_watcher *w)
{
    return k8s_backoff_xorshift(&w->rng);
}

static long random_timeout(k8s_watcher *w)
{
    long lo = w->opts.min_timeout_s, hi = w->opts.max_timeout_s;
    return lo + (long)(next_random(w) % (uint64_t)(hi - lo + 1));
}

static int stopping(const k8s_watcher *w)
{
    return w->state == W_STOPPING || w->state == W_STOPPED;
}

static void emit(k8s_watcher *w, k8s_watcher_event ev, cJSON *obj)
{
    w->opts.on_event(w, ev, obj, w->opts.data);
}

static void maybe_finish_stop(k8s_watcher *w)
{
    if (w->state != W_STOPPING || w->req || w->timer_open)
        return;
    w->state = W_STOPPED;
    if (w->stop_cb)
        w->stop_cb(w, w->stop_data);
}

/*
 * A failed attempt: report it, back off, and resume with whatever the resourceVersion allows
 * (a watch if we still have one, else a list).
 */
static void fail(k8s_watcher *w, const k8s_error *err)
{
    w->stats.failures++;
    if (w->opts.on_error)
        w->opts.on_error(w, err, w->opts.data);
    if (stopping(w))
        return;
    uint64_t now = uv_now(w->loop);
    if (w->failed_before && now - w->last_failure_ms >= w->opts.healthy_reset_ms)
        k8s_backoff_reset(&w->backoff);
    w->failed_before = 1;
    w->last_failure_ms = now;
    uint64_t delay = k8s_backoff_next(&w->backoff);
    if (err && err->retry_after_s > 0 && (uint64_t)err->retry_after_s * 1000u > delay)
        delay = (uint64_t)err->retry_after_s * 1000u;
    w->state = W_WAITING;
    uv_timer_start(&w->timer, on_timer, delay, 0);
}

static void fail_code(k8s_watcher *w, k8s_err code, const char *msg)
{
    k8s_error e = K8S_ERROR_INIT;
    k8s_error_set(&e, code, 0, "%s", msg);
    fail(w, &e);
    k8s_error_clear(&e);
}

/*
 * The resourceVersion is gone (410) or ahead of the server: relist. The first time in a while
 * at once; a 410 again within healthy_reset_ms goes through the backoff, as client-go's
 * reflector does between ListAndWatch rounds. Otherwise a server (or a proxy) that answers
 * every watch with 410 gets list+watch in a tight loop, limited only by the client's QPS.
 */
static void relist_after_expiry(k8s_watcher *w, const k8s_error *err)
{
    uint64_t now = uv_now(w->loop);
    int repeated = w->expired_before && now - w->last_expired_ms < w->opts.healthy_reset_ms;
    w->expired_before = 1;
    w->last_expired_ms = now;
    w->rv[0] = '\0'; /* whatever comes next, it starts with a list */
    if (repeated)
        fail(w, err);
    else
        begin_list(w);
}

/* ------------------------------------------------------------------------------------------ */
/* Listing                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void on_list_done(k8s_request *req, k8s_response *res, void *data);

static void start_list_page(k8s_watcher *w)
{
    k8s_request_opts o = {
        .verb = K8S_VERB_LIST,
        .ref = w->opts.ref,
        .label_selector = w->label_selector,
        .field_selector = w->field_selector,
        .limit = w->list_unpaged ? 0 : w->opts.page_size,
        .continue_token = w->continue_token,
        .on_done = on_list_done,
        .data = w,
    };
    w->state = W_LISTING;
    w->stats.lists++;
    int rc = k8s_request_start(w->client, &o, &w->req);
    if (rc != 0) {
        w->req = NULL;
        fail_code(w, rc == -ENOMEM ? K8S_ERR_NOMEM : K8S_ERR_CANCELLED,
                  "could not start a list request");
    }
}

/* Adds one to a per-resource counter of the runtime's own, when the client has metrics. */
static void count_own(k8s_watcher *w, const char *suffix)
{
    k8s_metric *f = k8s_metrics_find_own(k8s_client_metrics(w->client), suffix);
    if (f)
        k8s_metric_inc(f, (const char *[]){w->opts.ref.resource});
}

/* A full list from the most recent state; any earlier resourceVersion is forgotten. */
static void begin_list(k8s_watcher *w)
{
    if (w->stats.relists > 0)
        count_own(w, K8S_M_RELISTS); /* the first list is not a relist */
    w->rv[0] = '\0';
    free(w->continue_token);
    w->continue_token = NULL;
    w->list_begun = 0;
    w->stats.relists++;
    start_list_page(w);
}

static void on_list_done(k8s_request *req, k8s_response *res, void *data)
{
    k8s_watcher *w = data;
    w->req = NULL;
    if (stopping(w)) {
        maybe_finish_stop(w);
        return;
    }
    if (res->err.code != K8S_OK) {
        if (res->err.code == K8S_ERR_EXPIRED && w->continue_token && !w->list_unpaged) {
            /* The continue token outlived its snapshot: one full, unpaged list (client-go). */
            w->list_unpaged = 1;
            begin_list(w);
            return;
        }
        fail(w, &res->err);
        return;
    }
    cJSON *items = cJSON_GetObjectItemCaseSensitive(res->body, "items");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(res->body, "metadata");
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(md, "continue");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
    if (!cJSON_IsString(rv) || rv->valuestring[0] == '\0' || (items && !cJSON_IsArray(items))) {
        fail_code(w, K8S_ERR_DECODE, "list answer without items or metadata.resourceVersion");
        return;
    }
    if (!w->list_begun) {
        w->list_begun = 1;
        emit(w, K8S_WATCHER_RESTART_BEGIN, NULL);
    }
    while (items && items->child && !stopping(w)) {
        cJSON *item = cJSON_DetachItemViaPointer(items, items->child);
        emit(w, K8S_WATCHER_RESTART_ITEM, item);
    }
    if (stopping(w)) {
        maybe_finish_stop(w);
        return;
    }
    free(w->continue_token);
    w->continue_token = NULL;
    if (cJSON_IsString(cont) && cont->valuestring[0] != '\0') {
        w->continue_token = strdup(cont->valuestring);
        if (!w->continue_token) {
            fail_code(w, K8S_ERR_NOMEM, "out of memory");
            return;
        }
        start_list_page(w);
        return;
    }
    if (set_rv(w, rv->valuestring) != 0) {
        fail_code(w, K8S_ERR_NOMEM, "out of memory");
        return;
    }
    w->list_unpaged = 0;
    emit(w, K8S_WATCHER_RESTART_DONE, NULL);
    if (stopping(w)) {
        maybe_finish_stop(w);
        return;
    }
    start_watch(w);
}

/* ------------------------------------------------------------------------------------------ */
/* Watching                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static int on_stream_event(void *data, k8s_watch_event *ev)
{
    k8s_watcher *w = data;
    const char *rv = k8s_object_resource_version(ev->object);
    switch (ev->type) {
    case K8S_WATCH_ADDED:
    case K8S_WATCH_MODIFIED:
    case K8S_WATCH_DELETED: {
        if (rv && set_rv(w, rv) != 0)
            return STOP_FAILED;
        w->watch_events++;
        w->stats.events++;
        k8s_watcher_event out = ev->type == K8S_WATCH_ADDED      ? K8S_WATCHER_ADDED
                                : ev->type == K8S_WATCH_MODIFIED ? K8S_WATCHER_MODIFIED
                                                                 : K8S_WATCHER_DELETED;
        cJSON *obj = ev->object;
        ev->object = NULL;
        emit(w, out, obj);
        return stopping(w) ? STOP_STOPPED : 0;
    }
    case K8S_WATCH_BOOKMARK:
        /* Bookmarks only move the resourceVersion forward; nothing to deliver. */
        w->watch_events++;
        w->stats.bookmarks++;
        if (rv && rv[0] && set_rv(w, rv) != 0)
            return STOP_FAILED;
        return 0;
    case K8S_WATCH_ERROR:
        k8s_error_from_status_json(&w->stream_err, ev->object);
        if (w->stream_err.code == K8S_ERR_EXPIRED || w->stream_err.http_status == 410) {
            w->stats.expired++;
            return STOP_RELIST;
        }
        return STOP_FAILED;
    }
    return 0;
}

static void on_watch_data(k8s_request *req, const char *buf, size_t len, void *data)
{
    k8s_watcher *w = data;
    if (w->stream_stop)
        return; /* already cancelling; ignore what is still in flight */
    int rc = k8s_watch_parser_feed(&w->parser, buf, len);
    if (rc == 0)
        return;
    if (rc < 0) {
        const char *why = k8s_watch_parser_error(&w->parser);
        k8s_error_set(&w->stream_err, K8S_ERR_DECODE, 0, "%s", why);
        k8s_client_report_failure(w->client, K8S_FAILURE_WATCH_STREAM, "WATCH",
                                  w->opts.ref.resource, 200, why);
        rc = STOP_FAILED;
    }
    w->stream_stop = rc;
    k8s_request_cancel(req);
}

static void on_watch_done(k8s_request *req, k8s_response *res, void *data);

static void start_watch(k8s_watcher *w)
{
    k8s_watch_parser_reset(&w->parser);
    k8s_error_clear(&w->stream_err);
    w->stream_stop = 0;
    w->watch_events = 0;
    w->watch_started_ms = uv_now(w->loop);
    k8s_request_opts o = {
        .verb = K8S_VERB_WATCH,
        .ref = w->opts.ref,
        .label_selector = w->label_selector,
        .field_selector = w->field_selector,
        .resource_version = w->rv,
        .allow_watch_bookmarks = true,
        .timeout_seconds = random_timeout(w),
        .max_attempts = 1, /* our own backoff decides, knowing the resourceVersion */
        .on_data = on_watch_data,
        .on_done = on_watch_done,
        .data = w,
    };
    w->state = W_WATCHING;
    w->stats.watches++;
    int rc = k8s_request_start(w->client, &o, &w->req);
    if (rc != 0) {
        w->req = NULL;
        fail_code(w, rc == -ENOMEM ? K8S_ERR_NOMEM : K8S_ERR_CANCELLED,
                  "could not start a watch request");
    }
}

static void on_watch_done(k8s_request *req, k8s_response *res, void *data)
{
    k8s_watcher *w = data;
    w->req = NULL;
    if (stopping(w)) {
        maybe_finish_stop(w);
        return;
    }
    count_own(w, K8S_M_WATCH_RESTARTS); /* every way on from here watches (or lists) again */
    if (w->stream_stop == 0 && res->err.code == K8S_OK) {
        /* The stream ended cleanly; deliver a last event that had no trailing newline. */
        int rc = k8s_watch_parser_finish(&w->parser);
        if (rc < 0)
            k8s_error_set(&w->stream_err, K8S_ERR_DECODE, 0, "%s",
                          k8s_watch_parser_error(&w->parser));
        w->stream_stop = rc < 0 ? STOP_FAILED : rc;
        if (stopping(w)) {
            maybe_finish_stop(w);
            return;
        }
    }

    int too_large = k8s_error_has_cause(&res->err, "ResourceVersionTooLarge") ||
                    k8s_error_has_cause(&w->stream_err, "ResourceVersionTooLarge");
    if (w->stream_stop == STOP_RELIST || res->err.code == K8S_ERR_EXPIRED || too_large) {
        if (res->err.code == K8S_ERR_EXPIRED)
            w->stats.expired++;
        relist_after_expiry(w, res->err.code != K8S_OK ? &res->err : &w->stream_err);
        return;
    }
    if (w->stream_stop == STOP_FAILED) {
        fail(w, &w->stream_err);
        return;
    }
    if (res->err.code != K8S_OK) {
        fail(w, &res->err);
        return;
    }
    if (w->watch_events == 0 && uv_now(w->loop) - w->watch_started_ms < w->opts.min_watch_ms) {
        fail_code(w, K8S_ERR_TRANSPORT, "watch closed at once without any event");
        return;
    }
    start_watch(w); /* a normal timeout or drop: resume from the last resourceVersion */
}

/* ------------------------------------------------------------------------------------------ */
/* Timer and lifecycle                                                                         */
/* ------------------------------------------------------------------------------------------ */

static void next_step(k8s_watcher *w)
{
    if (w->rv[0] == '\0')
        begin_list(w);
    else
        start_watch(w);
}

static void on_timer(uv_timer_t *t)
{
    k8s_watcher *w = t->data;
    if (!stopping(w))
        next_step(w);
}

int k8s_watcher_new(k8s_client *c, const k8s_watcher_opts *opts, k8s_watcher **out)
{
    *out = NULL;
    if (!c || !opts || !opts->on_event || !opts->ref.version || !opts->ref.resource ||
        opts->ref.name)
        return -EINVAL;
    k8s_watcher *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->client = c;
    w->loop = k8s_client_loop(c);
    w->opts = *opts;
    w->group = dup_or_null(opts->ref.group);
    w->version = dup_or_null(opts->ref.version);
    w->resource = dup_or_null(opts->ref.resource);
    w->namespace = dup_or_null(opts->ref.namespace);
    w->label_selector = dup_or_null(opts->label_selector);
    w->field_selector = dup_or_null(opts->field_selector);
    w->opts.ref.group = w->group;
    w->opts.ref.version = w->version;
    w->opts.ref.resource = w->resource;
    w->opts.ref.namespace = w->namespace;
    w->opts.ref.subresource = NULL;
    w->opts.label_selector = w->label_selector;
    w->opts.field_selector = w->field_selector;
    if (w->opts.page_size <= 0)
        w->opts.page_size = 500;
    if (w->opts.min_timeout_s <= 0)
        w->opts.min_timeout_s = 300;
    if (w->opts.max_timeout_s < w->opts.min_timeout_s)
        w->opts.max_timeout_s = w->opts.min_timeout_s < 600 ? 600 : w->opts.min_timeout_s;
    if (w->opts.healthy_reset_ms == 0)
        w->opts.healthy_reset_ms = 120000;
    if (w->opts.min_watch_ms == 0)
        w->opts.min_watch_ms = 1000;
    w->rng = opts->seed ? opts->seed : (uv_hrtime() ^ (uint64_t)(uintptr_t)w) | 1u;
    k8s_backoff_opts bo = opts->backoff;
    if (bo.base_ms == 0)
        bo.base_ms = 800;
    if (bo.cap_ms == 0)
        bo.cap_ms = 30000;
    if (bo.jitter == 0.0)
        bo.jitter = 0.5;
    if (bo.seed == 0)
        bo.seed = next_random(w);
    k8s_backoff_init(&w->backoff, &bo);
    k8s_watch_parser_init(&w->parser, opts->max_line, on_stream_event, w);
    k8s_error_init(&w->stream_err);
    if (!w->version || !w->resource || (opts->ref.group && !w->group) ||
        (opts->ref.namespace && !w->namespace) || (opts->label_selector && !w->label_selector) ||
        (opts->field_selector && !w->field_selector) || set_rv(w, "") != 0) {
        k8s_watcher_free(w);
        return -ENOMEM;
    }
    *out = w;
    return 0;
}

int k8s_watcher_start(k8s_watcher *w)
{
    if (w->state != W_NEW)
        return -EINVAL;
    int rc = uv_timer_init(w->loop, &w->timer);
    if (rc != 0)
        return rc;
    w->timer.data = w;
    w->timer_open = 1;
    w->state = W_WAITING;
    uv_timer_start(&w->timer, on_timer, 0, 0);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    k8s_watcher *w = h->data;
    w->timer_open = 0;
    maybe_finish_stop(w);
}

void k8s_watcher_close(k8s_watcher *w, void (*cb)(k8s_watcher *w, void *data), void *data)
{
    if (stopping(w))
        return;
    w->stop_cb = cb;
    w->stop_data = data;
    int started = w->state != W_NEW;
    w->state = W_STOPPING;
    if (!started) {
        w->state = W_STOPPED;
        return;
    }
    if (w->req)
        k8s_request_cancel(w->req);
    if (w->timer_open)
        uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}

void k8s_watcher_free(k8s_watcher *w)
{
    if (!w)
        return;
    k8s_watch_parser_free(&w->parser);
    k8s_error_clear(&w->stream_err);
    free(w->rv);
    free(w->continue_token);
    free(w->group);
    free(w->version);
    free(w->resource);
    free(w->namespace);
    free(w->label_selector);
    free(w->field_selector);
    free(w);
}

const char *k8s_watcher_resource_version(const k8s_watcher *w)
{
    return w->rv ? w->rv : "";
}

void k8s_watcher_get_stats(const k8s_watcher *w, k8s_watcher_stats *out)
{
    *out = w->stats;
}
