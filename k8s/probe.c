/*
 * Reachability probes; see probe.h. An HTTP probe is one k8s_http transfer classified by how it
 * ended. A TCP probe owns a resolver request, a timer and a socket: it finishes at the first of
 * connect, failure, timeout or cancel, then waits until libuv has released all three before it
 * calls back and frees itself, so nothing of it is touched after the callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/probe.h"

#define PROBE_DEFAULT_TIMEOUT_MS 5000
#define PROBE_MAX_BODY           (64 * 1024) /* a readiness answer is a few bytes */

struct k8s_probe {
    uv_loop_t *loop;
    k8s_probe_cb cb;
    void *data;
    uint64_t started_ns;
    k8s_probe_result res;
    char detail[256];
    int finished;
    /* HTTP */
    k8s_http_req *req;
    /* TCP: each of these that is live counts in pending; the probe is freed at zero. */
    int pending;
    uv_getaddrinfo_t gai;
    uv_timer_t timer;
    uv_tcp_t tcp;
    uv_connect_t conn;
    int gai_running, tcp_open;
    char host[256], port[8];
};

const char *k8s_probe_failure_name(k8s_probe_failure f)
{
    static const char *const names[K8S_PROBE_NFAILURES] = {
        "ok", "resolve", "connect", "tls", "timeout", "http", "transport", "cancelled",
    };
    return f >= 0 && f < K8S_PROBE_NFAILURES ? names[f] : "unknown";
}

static void record(k8s_probe *p, k8s_probe_failure f, int status, const char *detail)
{
    p->res.failure = f;
    p->res.status = status;
    p->res.seconds = (double)(uv_hrtime() - p->started_ns) / 1e9;
    snprintf(p->detail, sizeof(p->detail), "%s", detail ? detail : "");
    p->res.detail = p->detail;
}

static void deliver(k8s_probe *p)
{
    p->cb(&p->res, p->data);
    free(p);
}

/* ---- HTTP ---- */

static k8s_probe_failure http_failure(const k8s_http_result *hr)
{
    if (hr->err == K8S_ERR_CANCELLED)
        return K8S_PROBE_CANCELLED;
    if (hr->err == K8S_ERR_TIMEOUT)
        return K8S_PROBE_TIMEOUT;
    if (hr->err != K8S_OK)
        return hr->resolve_failed   ? K8S_PROBE_RESOLVE
               : hr->connect_failed ? K8S_PROBE_CONNECT
               : hr->tls_failed     ? K8S_PROBE_TLS
                                    : K8S_PROBE_TRANSPORT;
    return hr->status >= 200 && hr->status < 400 ? K8S_PROBE_OK : K8S_PROBE_HTTP;
}

static void http_done(k8s_http_req *req, const k8s_http_result *hr, void *data)
{
    (void)req;
    k8s_probe *p = data;
    k8s_probe_failure f = http_failure(hr);
    char detail[64];
    snprintf(detail, sizeof(detail), "HTTP %d", hr->status);
    record(p, f, hr->err == K8S_OK ? hr->status : 0,
           f == K8S_PROBE_OK     ? ""
           : f == K8S_PROBE_HTTP ? detail
                                 : hr->err_text);
    deliver(p);
}

/* A token goes into a header line: anything but visible ASCII would split or forge lines. */
static int token_printable(const char *t)
{
    for (; *t; t++)
        if (*t <= ' ' || *t > '~')
            return 0;
    return 1;
}

int k8s_probe_http(k8s_http *h, const k8s_probe_http_opts *o, k8s_probe_cb cb, void *data,
                   k8s_probe **out)
{
    if (!o->url || !cb || (o->bearer_token && !token_printable(o->bearer_token)))
        return -EINVAL;
    k8s_probe *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->cb = cb;
    p->data = data;
    p->started_ns = uv_hrtime();
    char *auth = NULL;
    if (o->bearer_token) {
        size_t n = strlen(o->bearer_token) + sizeof("Authorization: Bearer ");
        auth = malloc(n);
        if (!auth) {
            free(p);
            return -ENOMEM;
        }
        snprintf(auth, n, "Authorization: Bearer %s", o->bearer_token);
    }
    const char *headers[] = {auth};
    k8s_http_req_opts ro = {
        .method = "GET",
        .url = o->url,
        .headers = headers,
        .nheaders = auth ? 1 : 0,
        .tls = o->tls,
        .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : PROBE_DEFAULT_TIMEOUT_MS,
        .max_body = PROBE_MAX_BODY,
        .on_done = http_done,
        .data = p,
        .connect_to = o->connect_to,
        .nconnect_to = o->nconnect_to,
    };
    int rc = k8s_http_start(h, &ro, &p->req);
    if (auth) {
        memset(auth, 0, strlen(auth)); /* the transfer keeps its own copy */
        free(auth);
    }
    if (rc != 0) {
        free(p);
        return rc;
    }
    if (out)
        *out = p;
    return 0;
}

/* ---- TCP ---- */

static void release(k8s_probe *p)
{
    if (--p->pending == 0)
        deliver(p);
}

static void on_handle_closed(uv_handle_t *h)
{
    release(h->data);
}

/* Ends a TCP probe with f (the first call wins) and lets go of the timer and the socket. */
static void tcp_finish(k8s_probe *p, k8s_probe_failure f, const char *detail)
{
    if (p->finished)
        return;
    p->finished = 1;
    record(p, f, 0, detail);
    uv_close((uv_handle_t *)&p->timer, on_handle_closed);
    if (p->tcp_open)
        uv_close((uv_handle_t *)&p->tcp, on_handle_closed);
    if (p->gai_running)
        uv_cancel((uv_req_t *)&p->gai); /* its callback still comes, with a cancel status */
}

static void on_connected(uv_connect_t *c, int status)
{
    k8s_probe *p = c->data;
    if (status == 0)
        tcp_finish(p, K8S_PROBE_OK, "");
    else if (status != UV_ECANCELED)
        tcp_finish(p, K8S_PROBE_CONNECT, uv_strerror(status));
    release(p); /* the connect request */
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai)
{
    k8s_probe *p = g->data;
    p->gai_running = 0;
    if (p->finished) {
        /* Cancelled or timed out while resolving. */
    } else if (status < 0 || !ai) {
        tcp_finish(p, K8S_PROBE_RESOLVE, status < 0 ? uv_strerror(status) : "no address");
    } else if (uv_tcp_init(p->loop, &p->tcp) != 0) {
        tcp_finish(p, K8S_PROBE_TRANSPORT, "cannot create a socket");
    } else {
        p->tcp_open = 1;
        p->pending++;
        p->tcp.data = p;
        p->conn.data = p;
        int rc = uv_tcp_connect(&p->conn, &p->tcp, ai->ai_addr, on_connected);
        if (rc == 0)
            p->pending++;
        else
            tcp_finish(p, K8S_PROBE_CONNECT, uv_strerror(rc));
    }
    uv_freeaddrinfo(ai);
    release(p); /* the resolver request */
}

static void free_on_close(uv_handle_t *h)
{
    free(h->data);
}

static void on_timeout(uv_timer_t *t)
{
    tcp_finish(t->data, K8S_PROBE_TIMEOUT, "no connection within the probe's timeout");
}

int k8s_probe_map(const char *const *lines, size_t n, const char *host, int port, char *buf,
                  size_t buflen, int *to_port)
{
    char want[300];
    int w = snprintf(want, sizeof(want), "%s:%d:", host, port);
    if (w < 0 || (size_t)w >= sizeof(want))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(lines[i], want, (size_t)w) != 0)
            continue;
        const char *to = lines[i] + w, *colon = strrchr(to, ':');
        char *end = NULL;
        long tp = colon ? strtol(colon + 1, &end, 10) : 0;
        size_t hl = colon ? (size_t)(colon - to) : 0;
        if (!colon || hl == 0 || hl >= buflen || *end || tp <= 0 || tp > 65535)
            continue;
        memcpy(buf, to, hl);
        buf[hl] = '\0';
        *to_port = (int)tp;
        return 1;
    }
    return 0;
}

int k8s_probe_tcp(uv_loop_t *loop, const k8s_probe_tcp_opts *o, k8s_probe_cb cb, void *data,
                  k8s_probe **out)
{
    if (!o->host || strlen(o->host) >= sizeof(((k8s_probe *)0)->host) || o->port <= 0 ||
        o->port > 65535 || !cb)
        return -EINVAL;
    k8s_probe *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->loop = loop;
    p->cb = cb;
    p->data = data;
    p->started_ns = uv_hrtime();
    int port = o->port;
    if (!k8s_probe_map(o->connect_to, o->nconnect_to, o->host, o->port, p->host, sizeof(p->host),
                       &port))
        snprintf(p->host, sizeof(p->host), "%s", o->host);
    snprintf(p->port, sizeof(p->port), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    p->gai.data = p;
    p->timer.data = p;
    uv_timer_init(loop, &p->timer); /* cannot fail */
    int rc = uv_getaddrinfo(loop, &p->gai, on_resolved, p->host, p->port, &hints);
    if (rc != 0) {
        /* The timer is the loop's now: only its close callback may free p; cb is not called. */
        uv_close((uv_handle_t *)&p->timer, free_on_close);
        return rc;
    }
    p->gai_running = 1;
    p->pending = 2; /* the timer handle and the resolver request */
    uv_timer_start(&p->timer, on_timeout,
                   (uint64_t)(o->timeout_ms > 0 ? o->timeout_ms : PROBE_DEFAULT_TIMEOUT_MS), 0);
    if (out)
        *out = p;
    return 0;
}

void k8s_probe_cancel(k8s_probe *p)
{
    if (p->req)
        k8s_http_req_cancel(p->req);
    else
        tcp_finish(p, K8S_PROBE_CANCELLED, "cancelled");
}

int k8s_probe_plain_url(char *buf, size_t len, const char *host, int port, const char *path)
{
    if (!host || !host[0] || strpbrk(host, "/@?#[] ") || port <= 0 || port > 65535 || !path ||
        path[0] != '/')
        return -EINVAL;
    int v6 = strchr(host, ':') != NULL;
    int n =
        snprintf(buf, len, "http://%s%s%s:%d%s", v6 ? "[" : "", host, v6 ? "]" : "", port, path);
    return n > 0 && (size_t)n < len ? 0 : -EINVAL;
}
