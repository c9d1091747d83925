/*
 * The prober; see prober.h. One struct peer per remote holds, for each kind of probe, a timer,
 * the probe in flight and its state. A peer lets go of its memory only when its timers are
 * closed and its probes have called back (a cancelled probe still calls back), counted in refs;
 * the prober's own handle closes last, so close's callback always comes from the loop.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/prober.h"
#include "k8s/probe.h"

#define GATEWAY_READY_PATH "/healthz/ready" /* Envoy's readiness on an Istio gateway */

struct peer {
    struct mc_prober *p;
    struct mc_probe_target t; /* every string owned */
    uv_timer_t timer[MC_PROBE_NKINDS];
    k8s_probe *inflight[MC_PROBE_NKINDS];
    double gateway_connect_s; /* the TCP stage's latency, added to the HTTP stage's */
    struct mc_probe_state state[MC_PROBE_NKINDS];
    int refs; /* open timers + probes in flight */
    int removed;
    struct peer *next;
};

struct mc_prober {
    k8s_http *http;
    uv_loop_t *loop;
    struct mc_prober_opts o;
    uint64_t rng;
    struct peer *peers;    /* the current targets */
    struct peer **by_name; /* the same, sorted by cluster: every status pass looks each up */
    size_t nby_name;
    size_t live; /* peers allocated, current or removed and still releasing */
    k8s_metric *duration, *failures;
    uv_timer_t self; /* closed last: its close callback ends mc_prober_close */
    int closing;
    void (*close_cb)(void *data);
    void *close_data;
};

const char *mc_probe_kind_name(enum mc_probe_kind k)
{
    return k == MC_PROBE_API ? "api" : k == MC_PROBE_GATEWAY ? "gateway" : "unknown";
}

/* xorshift64*: the jitter needs no more, and a seed makes tests reproducible. */
static double next_unit(mc_prober *p)
{
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;
    return (double)((p->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void maybe_finish_close(mc_prober *p);

static void target_free(struct mc_probe_target *t)
{
    free((char *)t->cluster);
    free((char *)t->api_url);
    if (t->ca_pem)
        free((char *)t->ca_pem);
    if (t->token) {
        memset((char *)t->token, 0, strlen(t->token));
        free((char *)t->token);
    }
    free((char *)t->gateway_host);
}

static char *dup_or_null(const char *s, int *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = 1;
    return d;
}

static int target_copy(struct mc_probe_target *dst, const struct mc_probe_target *src)
{
    int oom = 0;
    *dst = *src;
    dst->cluster = dup_or_null(src->cluster, &oom);
    dst->api_url = dup_or_null(src->api_url, &oom);
    dst->token = dup_or_null(src->token, &oom);
    dst->gateway_host = dup_or_null(src->gateway_host, &oom);
    dst->ca_pem = NULL;
    if (src->ca_pem && src->ca_len) {
        char *ca = malloc(src->ca_len);
        if (ca)
            memcpy(ca, src->ca_pem, src->ca_len);
        else
            oom = 1;
        dst->ca_pem = ca;
    }
    if (oom || !dst->cluster) {
        target_free(dst);
        return -ENOMEM;
    }
    return 0;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int target_equal(const struct mc_probe_target *a, const struct mc_probe_target *b)
{
    return same_str(a->cluster, b->cluster) && same_str(a->api_url, b->api_url) &&
           same_str(a->token, b->token) && same_str(a->gateway_host, b->gateway_host) &&
           a->gateway_tls_port == b->gateway_tls_port &&
           a->gateway_status_port == b->gateway_status_port && a->ca_len == b->ca_len &&
           (a->ca_len == 0 || memcmp(a->ca_pem, b->ca_pem, a->ca_len) == 0);
}

/* ---- metrics ---- */

static void record_metrics(struct peer *e, enum mc_probe_kind k, const k8s_probe_result *r)
{
    mc_prober *p = e->p;
    const char *series[] = {e->t.cluster, mc_probe_kind_name(k), NULL};
    if (p->duration)
        (void)k8s_metric_observe(p->duration, series, r->seconds);
    const char *failed[] = {e->t.cluster, mc_probe_kind_name(k), k8s_probe_failure_name(r->failure),
                            NULL};
    if (p->failures && r->failure != K8S_PROBE_OK)
        (void)k8s_metric_inc(p->failures, failed);
}

static void forget_metrics(struct peer *e)
{
    for (int k = 0; k < MC_PROBE_NKINDS; k++) {
        const char *series[] = {e->t.cluster, mc_probe_kind_name(k), NULL};
        if (e->p->duration)
            (void)k8s_metric_remove(e->p->duration, series);
        for (int f = K8S_PROBE_RESOLVE; f < K8S_PROBE_NFAILURES; f++) {
            const char *failed[] = {e->t.cluster, mc_probe_kind_name(k), k8s_probe_failure_name(f),
                                    NULL};
            if (e->p->failures)
                (void)k8s_metric_remove(e->p->failures, failed);
        }
    }
}

/* ---- a peer's life ---- */

static void peer_release(struct peer *e)
{
    if (--e->refs > 0)
        return;
    mc_prober *p = e->p;
    target_free(&e->t);
    free(e);
    p->live--;
    maybe_finish_close(p);
}

static void on_timer_closed(uv_handle_t *h)
{
    peer_release(h->data);
}

static void schedule(struct peer *e, enum mc_probe_kind k, uint64_t delay_ms);

/* Ends one probe round of kind k with r: state, metrics, a change report, the next round. */
static void round_done(struct peer *e, enum mc_probe_kind k, const k8s_probe_result *r)
{
    e->inflight[k] = NULL;
    if (!e->removed && r->failure != K8S_PROBE_CANCELLED) {
        record_metrics(e, k, r);
        enum mc_probe_change ch = mc_probe_state_observe(&e->state[k], r);
        if (ch != MC_PROBE_SAME)
            e->p->o.on_change(e->t.cluster, k, &e->state[k], ch, e->p->o.data);
        if (!e->removed) /* on_change may have replaced the targets */
            schedule(e, k,
                     mc_probe_next_delay_ms(&e->state[k], e->p->o.interval_ms, next_unit(e->p)));
    }
    peer_release(e);
}

static void on_api_done(const k8s_probe_result *r, void *data)
{
    round_done(data, MC_PROBE_API, r);
}

static void on_gateway_http_done(const k8s_probe_result *r, void *data)
{
    struct peer *e = data;
    k8s_probe_result total = *r;
    total.seconds += e->gateway_connect_s;
    round_done(e, MC_PROBE_GATEWAY, &total);
}

static int start_gateway_http(struct peer *e)
{
    char url[512];
    if (k8s_probe_plain_url(url, sizeof(url), e->t.gateway_host, e->t.gateway_status_port,
                            GATEWAY_READY_PATH) != 0)
        return -EINVAL;
    k8s_probe_http_opts o = {.url = url,
                             .timeout_ms = e->p->o.timeout_ms,
                             .connect_to = e->p->o.connect_to,
                             .nconnect_to = e->p->o.nconnect_to};
    return k8s_probe_http(e->p->http, &o, on_gateway_http_done, e, &e->inflight[MC_PROBE_GATEWAY]);
}

static void on_gateway_tcp_done(const k8s_probe_result *r, void *data)
{
    struct peer *e = data;
    if (r->failure != K8S_PROBE_OK || e->removed) {
        round_done(e, MC_PROBE_GATEWAY, r);
        return;
    }
    e->gateway_connect_s = r->seconds;
    if (start_gateway_http(e) != 0) {
        k8s_probe_result bad = {.failure = K8S_PROBE_TRANSPORT, .detail = "bad gateway address"};
        round_done(e, MC_PROBE_GATEWAY, &bad);
    }
    /* else the HTTP stage holds the reference the TCP stage had */
}

static int start_round(struct peer *e, enum mc_probe_kind k)
{
    mc_prober *p = e->p;
    if (k == MC_PROBE_API) {
        k8s_http_tls tls = {.ca_pem = e->t.ca_pem, .ca_len = e->t.ca_len};
        char url[1024];
        if (!e->t.api_url || snprintf(url, sizeof(url), "%s" K8S_APISERVER_READY_PATH,
                                      e->t.api_url) >= (int)sizeof(url))
            return -EINVAL;
        k8s_probe_http_opts o = {.url = url,
                                 .tls = &tls,
                                 .bearer_token = e->t.token,
                                 .timeout_ms = p->o.timeout_ms,
                                 .connect_to = p->o.connect_to,
                                 .nconnect_to = p->o.nconnect_to};
        return k8s_probe_http(p->http, &o, on_api_done, e, &e->inflight[k]);
    }
    if (!e->t.gateway_host)
        return -EINVAL;
    k8s_probe_tcp_opts o = {.host = e->t.gateway_host,
                            .port = e->t.gateway_tls_port,
                            .timeout_ms = p->o.timeout_ms,
                            .connect_to = p->o.connect_to,
                            .nconnect_to = p->o.nconnect_to};
    return k8s_probe_tcp(p->loop, &o, on_gateway_tcp_done, e, &e->inflight[k]);
}

static void on_timer(uv_timer_t *t)
{
    struct peer *e = t->data;
    enum mc_probe_kind k = t == &e->timer[MC_PROBE_API] ? MC_PROBE_API : MC_PROBE_GATEWAY;
    e->refs++;
    if (start_round(e, k) != 0) {
        /* A target that cannot be probed at all (no gateway alias yet, an URL too long) is
         * left Unknown and tried again next interval. */
        e->refs--;
        schedule(e, k, e->p->o.interval_ms);
    }
}

static void schedule(struct peer *e, enum mc_probe_kind k, uint64_t delay_ms)
{
    uv_timer_start(&e->timer[k], on_timer, delay_ms, 0);
}

static struct peer *peer_new(mc_prober *p, const struct mc_probe_target *t)
{
    struct peer *e = calloc(1, sizeof(*e));
    if (!e || target_copy(&e->t, t) != 0) {
        free(e);
        return NULL;
    }
    e->p = p;
    p->live++;
    for (int k = 0; k < MC_PROBE_NKINDS; k++) {
        uv_timer_init(p->loop, &e->timer[k]);
        e->timer[k].data = e;
        e->refs++;
        /* The first round soon, spread over a tenth of the interval so that a set of many
         * remotes is not probed in one burst. */
        schedule(e, (enum mc_probe_kind)k,
                 (uint64_t)(next_unit(p) * (double)p->o.interval_ms / 10));
    }
    return e;
}

/* Stops a peer. forget: it is no longer a target at all (a target whose details changed keeps
 * its series: its counters go on under the same peer). */
static void peer_remove(struct peer *e, bool forget)
{
    e->removed = 1;
    if (forget)
        forget_metrics(e);
    for (int k = 0; k < MC_PROBE_NKINDS; k++) {
        if (e->inflight[k])
            k8s_probe_cancel(e->inflight[k]);
        uv_close((uv_handle_t *)&e->timer[k], on_timer_closed);
    }
}

/* ---- the prober ---- */

int mc_prober_new(k8s_http *http, uv_loop_t *loop, const struct mc_prober_opts *opts,
                  mc_prober **out)
{
    if (!http || !loop || !opts || !opts->on_change || opts->interval_ms == 0 ||
        (opts->metrics && !opts->metrics_prefix))
        return -EINVAL;
    mc_prober *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->http = http;
    p->loop = loop;
    p->o = *opts;
    p->rng = opts->seed ? opts->seed : 0x9e3779b97f4a7c15ULL;
    if (opts->metrics) {
        char name[128];
        static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
        const char *labels[] = {"peer", "target", NULL};
        const char *flabels[] = {"peer", "target", "reason", NULL};
        snprintf(name, sizeof(name), "%s_probe_duration_seconds", opts->metrics_prefix);
        p->duration = k8s_metrics_histogram(opts->metrics, name,
                                            "Time a probe of a peer's API server or gateway took.",
                                            labels, buckets, sizeof(buckets) / sizeof(buckets[0]));
        snprintf(name, sizeof(name), "%s_probe_failures_total", opts->metrics_prefix);
        p->failures = k8s_metrics_counter(
            opts->metrics, name, "Probes of a peer that failed, by failure class.", flabels);
        if (!p->duration || !p->failures) {
            free(p);
            return -ENOMEM;
        }
    }
    uv_timer_init(loop, &p->self);
    p->self.data = p;
    *out = p;
    return 0;
}

static int cmp_peer(const void *a, const void *b)
{
    return strcmp((*(struct peer *const *)a)->t.cluster, (*(struct peer *const *)b)->t.cluster);
}

/* Rebuilds by_name from the list. Out of memory, the index is emptied (never left pointing at
 * peers that are going): lookups then read as not probed until the next set_targets. */
static int index_peers(mc_prober *p)
{
    size_t n = 0;
    for (struct peer *e = p->peers; e; e = e->next)
        n++;
    struct peer **idx = malloc((n ? n : 1) * sizeof(*idx));
    if (!idx) {
        free(p->by_name);
        p->by_name = NULL;
        p->nby_name = 0;
        return -ENOMEM;
    }
    n = 0;
    for (struct peer *e = p->peers; e; e = e->next)
        idx[n++] = e;
    qsort(idx, n, sizeof(*idx), cmp_peer);
    free(p->by_name);
    p->by_name = idx;
    p->nby_name = n;
    return 0;
}

int mc_prober_set_targets(mc_prober *p, const struct mc_probe_target *targets, size_t n)
{
    if (p->closing)
        return -ESHUTDOWN;
    /* Build the new list first, so that running out of memory leaves the old one. */
    struct peer *keep = NULL, *fresh = NULL;
    int oom = 0;
    for (size_t i = 0; i < n && !oom; i++) {
        struct peer **pp = &p->peers;
        while (*pp && !target_equal(&(*pp)->t, &targets[i]))
            pp = &(*pp)->next;
        struct peer *e = *pp;
        if (e) {
            *pp = e->next; /* unchanged: move it over, state and timers as they are */
            e->next = keep;
            keep = e;
        } else if ((e = peer_new(p, &targets[i])) != NULL) {
            e->next = fresh;
            fresh = e;
        } else {
            oom = 1;
        }
    }
    struct peer *gone = p->peers;
    if (oom) {
        gone = fresh; /* undo: the new peers go, the old list returns */
        while (keep) {
            struct peer *e = keep;
            keep = e->next;
            e->next = p->peers;
            p->peers = e;
        }
    } else {
        p->peers = keep;
        while (fresh) {
            struct peer *e = fresh;
            fresh = e->next;
            e->next = p->peers;
            p->peers = e;
        }
    }
    int rc = oom ? -ENOMEM : index_peers(p);
    while (gone) {
        struct peer *e = gone;
        gone = e->next;
        bool still = false;
        for (size_t i = 0; !oom && i < n; i++)
            still = still || same_str(targets[i].cluster, e->t.cluster);
        peer_remove(e, !oom && !still); /* undone new peers share names with kept ones */
    }
    return rc;
}

const struct mc_probe_state *mc_prober_state(const mc_prober *p, const char *cluster,
                                             enum mc_probe_kind kind)
{
    size_t lo = 0, hi = p->nby_name;
    while (lo < hi && kind < MC_PROBE_NKINDS) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p->by_name[mid]->t.cluster, cluster);
        if (c == 0)
            return &p->by_name[mid]->state[kind];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void on_self_closed(uv_handle_t *h)
{
    mc_prober *p = h->data;
    void (*cb)(void *) = p->close_cb;
    void *data = p->close_data;
    free(p->by_name);
    free(p);
    if (cb)
        cb(data);
}

/* A removed peer lives on until its probes called back: the prober waits for every one. */
static void maybe_finish_close(mc_prober *p)
{
    if (p->closing == 1 && p->live == 0) {
        p->closing = 2;
        uv_close((uv_handle_t *)&p->self, on_self_closed);
    }
}

void mc_prober_close(mc_prober *p, void (*cb)(void *data), void *data)
{
    if (p->closing)
        return;
    p->closing = 1;
    p->close_cb = cb;
    p->close_data = data;
    struct peer *e = p->peers;
    p->peers = NULL;
    p->nby_name = 0;
    while (e) {
        struct peer *next = e->next;
        peer_remove(e, true);
        e = next;
    }
    maybe_finish_close(p);
}
