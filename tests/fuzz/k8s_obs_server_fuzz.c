/*
 * Fuzzes the health/metrics server's request handling end to end: libwebsockets' HTTP parser,
 * our routing and response writing, and the per-connection state across every callback
 * reason. Each input is sent as the bytes of one connection: a socketpair's far end is handed
 * to a started server (k8s_obs_server_adopt), the input is written and our side half-closed,
 * and the loop runs until the server has closed the connection. Any crash, leak or sanitizer
 * report is a bug; so is a connection the server never releases (it would count against the
 * connection cap for ever), and so is an answer shorter than its Content-Length when the
 * server closed before we half-closed (the server closes after each answer; with the server's send
 * buffer at its minimum and a ~90 KB /metrics page, that answer leaves in many partial writes that
 * must all go out first).
 *
 * The server is started once per process on 127.0.0.1:0 (its listener is not used), with a
 * registry and a readiness callback so every route has something to render, and an authorizer
 * for /metrics (as --metrics-secure has) whose answer the bearer token picks: none → 200 at
 * once (so inputs without a token get the big page, as before), "d..." → 200 from a later
 * loop turn (a deferred answer, then the big page), "x..." → 403, anything else → 401. A
 * withdrawn decision that is still answered, or one left pending after its connection is
 * gone, is a bug. (No "never answers" case: lws reads nothing more from a connection whose
 * answer is pending, so a client gone meanwhile is noticed at the write or the timeout,
 * K8S_OBS_AUTH_TIMEOUT_S; tests/obs/test_server_auth.c covers that withdrawal.)
 */
/* strcasestr() */
#define _GNU_SOURCE

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "k8s/metrics.h"
#include "k8s/obs_server.h"

/* Loop turns allowed for one connection: far more than any request needs. */
#define MAX_TURNS 20000
/* Loop turns a complete request gets before we half-close (an answer takes a handful). */
#define SETTLE_TURNS 200

typedef struct {
    uv_loop_t loop;
    k8s_metrics *metrics;
    k8s_obs_server *srv;
    int ready;
    /* The one pending authorization (one connection at a time). */
    uv_timer_t auth_timer;
    k8s_obs_auth_done_fn auth_done;
    void *auth_req;
    int auth_pending;
} harness;

static void on_auth_timer(uv_timer_t *t)
{
    harness *h = t->data;
    if (!h->auth_pending)
        abort(); /* the timer is stopped when the decision is withdrawn */
    h->auth_pending = 0;
    h->auth_done(h->auth_req, 200);
}

static int fuzz_authorize(void *data, const char *token, const char *path,
                          k8s_obs_auth_done_fn done, void *req, void **handle)
{
    harness *h = data;
    if (strcmp(path, "/metrics") != 0 || h->auth_pending)
        abort(); /* asked only for /metrics, and once per connection */
    if (!token)
        return 200;
    if (!token[0] || strchr(token, ' ') == token)
        abort(); /* the server passes NULL, never an empty or padded token */
    switch (token[0]) {
    case 'd':
        uv_timer_start(&h->auth_timer, on_auth_timer, 0, 0);
        h->auth_pending = 1;
        h->auth_done = done;
        h->auth_req = req;
        *handle = h;
        return 0;
    case 'x':
        return 403;
    default:
        return 401;
    }
}

static void fuzz_auth_cancel(void *data, void *handle)
{
    harness *h = data;
    if (handle != h || !h->auth_pending)
        abort(); /* only a pending decision is withdrawn, and only once */
    h->auth_pending = 0;
    uv_timer_stop(&h->auth_timer);
}

static int flip_ready(void *data, char *reason, size_t size)
{
    harness *h = data;
    h->ready = !h->ready;
    if (!h->ready)
        snprintf(reason, size, "fuzz: not ready on every other call");
    return h->ready;
}

static harness *get_harness(void)
{
    static harness h; /* one server per process, as a daemon has */
    static int started;
    if (started)
        return &h;
    if (uv_loop_init(&h.loop) != 0)
        abort();
    h.metrics = k8s_metrics_new();
    if (!h.metrics || k8s_metrics_register_standard(h.metrics, "fuzz", "0") != 0)
        abort();
    /* A /metrics page of ~100 KB: many times the socket buffer, so it goes out in pieces. */
    k8s_metric *many = k8s_metrics_counter(h.metrics, "fuzz_series_total", "Padding.",
                                           (const char *const[]){"i", NULL});
    for (int i = 0; many && i < 3000; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        k8s_metric_inc(many, (const char *[]){v});
    }
    uv_timer_init(&h.loop, &h.auth_timer);
    h.auth_timer.data = &h;
    k8s_obs_server_opts o = {.addr = "127.0.0.1:0",
                             .metrics = h.metrics,
                             .ready = flip_ready,
                             .ready_data = &h,
                             .authorize = fuzz_authorize,
                             .authorize_cancel = fuzz_auth_cancel,
                             .authorize_data = &h};
    h.srv = k8s_obs_server_new(&h.loop, &o);
    if (!h.srv || k8s_obs_server_start(h.srv) != 0)
        abort();
    started = 1;
    return &h;
}

/* What came back: the start of the answer (its headers) and how many bytes in all. */
typedef struct {
    char head[2048];
    size_t len; /* bytes kept in head */
    size_t total;
} answer;

/* Runs the loop once and reads what the server sent; returns 1 once it closed its side. */
static int turn(harness *h, int fd, answer *a)
{
    char buf[8192];
    uv_run(&h->loop, UV_RUN_NOWAIT);
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
            size_t room = sizeof(a->head) - 1 - a->len;
            size_t take = room < (size_t)n ? room : (size_t)n;
            memcpy(a->head + a->len, buf, take);
            a->len += take;
            a->head[a->len] = '\0';
            a->total += (size_t)n;
            continue;
        }
        if (n == 0)
            return 1;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
    }
}

/*
 * An answer with a Content-Length must have arrived whole before the server closed: a cut
 * answer is a truncated /metrics page for a scraper.
 */
static void check_complete(const answer *a)
{
    const char *end = strstr(a->head, "\r\n\r\n");
    const char *cl = strcasestr(a->head, "\r\ncontent-length:");
    if (!end || !cl || cl > end)
        return;
    size_t want = (size_t)(end + 4 - a->head) + strtoul(cl + 17, NULL, 10);
    if (a->total != want) {
        fprintf(stderr, "obs fuzz: answer of %zu bytes, headers promised %zu\n", a->total, want);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    harness *h = get_harness();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    if (k8s_obs_server_adopt(h->srv, sv[1]) != 0)
        abort(); /* the previous inputs' connections must all be gone */

    answer a = {.len = 0, .total = 0};
    /*
     * A server-side send buffer as small as the kernel allows, so that answers larger than it
     * (the /metrics page) go out in partial writes, which lws must finish before we close.
     */
    int small = 1;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    size_t off = 0;
    int closed = 0, turns = 0;
    while (off < size && !closed && turns++ < MAX_TURNS) {
        ssize_t n = send(sv[0], data + off, size - off, MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            break; /* the server closed on us mid-request: a fine answer */
        closed = turn(h, sv[0], &a);
    }
    /*
     * Give a complete request the turns it needs to be answered before half-closing: lws
     * closes on reading EOF even with an answer still to write, which a client that shuts
     * down its side early may see cut short. Probes and scrapers do not do that, so only an
     * answer that ended before our shutdown is held to its Content-Length.
     */
    for (int i = 0; i < SETTLE_TURNS && !closed; i++, turns++)
        closed = turn(h, sv[0], &a);
    int closed_first = closed;
    shutdown(sv[0], SHUT_WR);
    while (!closed && turns++ < MAX_TURNS)
        closed = turn(h, sv[0], &a);
    close(sv[0]);
    /* Our close makes the server see EOF or a reset; it must then let the connection go. */
    for (int i = 0; i < MAX_TURNS && k8s_obs_server_connections(h->srv) > 0; i++)
        uv_run(&h->loop, UV_RUN_NOWAIT);
    if (k8s_obs_server_connections(h->srv) != 0) {
        fprintf(stderr, "obs fuzz: the server kept a connection after the client closed\n");
        abort();
    }
    if (h->auth_pending) {
        fprintf(stderr, "obs fuzz: an authorization outlived its connection\n");
        abort();
    }
    if (closed_first)
        check_complete(&a);
    /* The seed corpus starts with this request: a harness that never reached lws fails here. */
    static const char probe[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    if (size == sizeof(probe) - 1 && memcmp(data, probe, size) == 0 &&
        (a.len < 12 || memcmp(a.head, "HTTP/1.1 200", 12) != 0)) {
        fprintf(stderr, "obs fuzz: GET /healthz was not answered 200\n");
        abort();
    }
    return 0;
}
