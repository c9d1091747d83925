/* Polling istiod's /debug/clusterz; see istiod_watch.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/istiod_watch.h"
#include "k8s/probe.h"

#define CLUSTERZ_PATH "/debug/clusterz"
#define MAX_ANSWER    (4 * 1024 * 1024) /* ~4,000 clusters of ~150 bytes, with room */
#define MAX_TOKEN     16384

struct mc_istiod_watch {
    k8s_http *http;
    uv_loop_t *loop;
    char *url, *token_file;
    uint64_t interval_ms;
    long timeout_ms;
    void (*on_change)(void *data);
    void *data;
    uv_timer_t timer;
    k8s_probe *inflight;
    struct mc_istiod_clusters clusters;
    bool known;
    char error[256];
    bool closing, timer_closed;
    void (*close_cb)(void *data);
    void *close_data;
};

/* The token file's first line, or NULL (then no header is sent and istiod says 401). */
static char *read_token(const char *path)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return NULL;
    char *buf = malloc(MAX_TOKEN);
    size_t n = buf ? fread(buf, 1, MAX_TOKEN - 1, f) : 0;
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0]) { /* an empty file (a projection not there yet) is no token */
        free(buf);
        return NULL;
    }
    return buf;
}

static bool same_answer(const struct mc_istiod_clusters *a, const struct mc_istiod_clusters *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i].id, b->items[i].id) ||
            strcmp(a->items[i].sync_status, b->items[i].sync_status) ||
            strcmp(a->items[i].secret_name, b->items[i].secret_name))
            return false;
    return true;
}

static void on_timer(uv_timer_t *t);
static void maybe_free(mc_istiod_watch *w);

static void on_answer(const k8s_probe_result *r, void *data)
{
    mc_istiod_watch *w = data;
    w->inflight = NULL;
    if (w->closing) {
        maybe_free(w); /* the poll was the last thing holding w */
        return;
    }
    if (r->failure == K8S_PROBE_CANCELLED)
        return;
    struct mc_istiod_clusters now = {0};
    bool known =
        r->failure == K8S_PROBE_OK && mc_istiod_clusters_parse(r->body, r->body_len, &now) == 0;
    bool changed = known != w->known || (known && !same_answer(&now, &w->clusters));
    if (!known)
        snprintf(w->error, sizeof(w->error), "%s%s: %s", w->url, CLUSTERZ_PATH,
                 r->failure == K8S_PROBE_OK ? "not a cluster list" : r->detail);
    else
        w->error[0] = '\0';
    mc_istiod_clusters_free(&w->clusters);
    w->clusters = now;
    w->known = known;
    uv_timer_start(&w->timer, on_timer, w->interval_ms, 0);
    if (changed)
        w->on_change(w->data);
}

static void on_timer(uv_timer_t *t)
{
    mc_istiod_watch *w = t->data;
    char url[1024];
    char *token = read_token(w->token_file);
    snprintf(url, sizeof(url), "%s%s", w->url, CLUSTERZ_PATH);
    k8s_probe_http_opts o = {
        .url = url, .bearer_token = token, .timeout_ms = w->timeout_ms, .max_body = MAX_ANSWER};
    int rc = k8s_probe_http(w->http, &o, on_answer, w, &w->inflight);
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    if (rc != 0) /* a token that cannot go into a header, or out of memory: try later */
        uv_timer_start(&w->timer, on_timer, w->interval_ms, 0);
}

int mc_istiod_watch_new(k8s_http *http, uv_loop_t *loop, const struct mc_istiod_watch_opts *o,
                        mc_istiod_watch **out)
{
    if (!http || !loop || !o || !o->url || !o->on_change || !o->interval_ms || strlen(o->url) > 512)
        return -EINVAL;
    mc_istiod_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->http = http;
    w->loop = loop;
    w->url = strdup(o->url);
    w->token_file = o->token_file ? strdup(o->token_file) : NULL;
    w->interval_ms = o->interval_ms;
    w->timeout_ms = o->timeout_ms;
    w->on_change = o->on_change;
    w->data = o->data;
    snprintf(w->error, sizeof(w->error), "istiod has not been asked yet");
    if (!w->url || (o->token_file && !w->token_file)) {
        free(w->url);
        free(w->token_file);
        free(w);
        return -ENOMEM;
    }
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    *out = w;
    return 0;
}

int mc_istiod_watch_start(mc_istiod_watch *w)
{
    return uv_timer_start(&w->timer, on_timer, 0, 0);
}

const struct mc_istiod_clusters *mc_istiod_watch_clusters(const mc_istiod_watch *w)
{
    return w->known ? &w->clusters : NULL;
}

const char *mc_istiod_watch_error(const mc_istiod_watch *w)
{
    return w->known ? "" : w->error;
}

/* Frees w once its timer is closed and its poll (a cancelled one still calls back) is over. */
static void maybe_free(mc_istiod_watch *w)
{
    if (!w->timer_closed || w->inflight)
        return;
    void (*cb)(void *) = w->close_cb;
    void *data = w->close_data;
    mc_istiod_clusters_free(&w->clusters);
    free(w->url);
    free(w->token_file);
    free(w);
    if (cb)
        cb(data);
}

static void on_closed(uv_handle_t *h)
{
    mc_istiod_watch *w = h->data;
    w->timer_closed = true;
    maybe_free(w);
}

void mc_istiod_watch_close(mc_istiod_watch *w, void (*cb)(void *data), void *data)
{
    if (w->closing)
        return;
    w->closing = true;
    w->close_cb = cb;
    w->close_data = data;
    if (w->inflight)
        k8s_probe_cancel(w->inflight);
    uv_close((uv_handle_t *)&w->timer, on_closed);
}
