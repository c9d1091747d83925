/*
 * Proves controller/prober.c on a loop against the test API server (a remote's API server,
 * with its CA and token) and a loopback stand-in for a remote's east-west gateway (TCP on the
 * tls port, HTTP /healthz/ready on the status port), reached through connect_to lines as
 * names only cluster DNS would know. Both paths go Up and then report no change while nothing
 * changes (probing is not writing); a bad token turns the API path Down for an HTTP reason
 * after two failures, a gateway answering 503 turns the gateway path Down and back Up when it
 * recovers; metrics carry the peer's series while it is a target and drop them after; close
 * leaves nothing on the loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../k8s/itest.h"
#include "controller/prober.h"

#define GW "tokyo-istio-eastwestgateway.istio-system.svc.cluster.local"

/* ---- a gateway stand-in: answers every connection with one HTTP response ---- */

struct gateway {
    uv_tcp_t server;
    int port;
    int status; /* what /healthz/ready answers */
};

struct conn {
    uv_tcp_t tcp;
    uv_write_t w;
    char reply[128];
};

static void on_conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    struct conn *c = w->data;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
    (void)h;
    static char scratch[4096]; /* the request is read and dropped */
    *buf = uv_buf_init(scratch, (unsigned)(n < sizeof(scratch) ? n : sizeof(scratch)));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct conn *c = s->data;
    if (n == 0)
        return;
    uv_read_stop(s);
    if (n < 0) { /* a bare TCP probe connects and closes */
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    uv_buf_t b = uv_buf_init(c->reply, (unsigned)strlen(c->reply));
    c->w.data = c;
    uv_write(&c->w, s, &b, 1, on_written);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct gateway *g = server->data;
    assert_int_equal(status, 0);
    struct conn *c = calloc(1, sizeof(*c));
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    snprintf(c->reply, sizeof(c->reply),
             "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", g->status);
    assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void gateway_start(uv_loop_t *loop, struct gateway *g)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &g->server);
    g->server.data = g;
    assert_int_equal(uv_tcp_bind(&g->server, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&g->server, 64, on_connection), 0);
    int len = sizeof(a);
    uv_tcp_getsockname(&g->server, (struct sockaddr *)&a, &len);
    g->port = ntohs(a.sin_port);
    g->status = 200;
}

/* ---- what the prober reports ---- */

struct seen {
    int changes[MC_PROBE_NKINDS];
    enum mc_probe_change last[MC_PROBE_NKINDS];
    k8s_probe_failure reason[MC_PROBE_NKINDS];
    bool up[MC_PROBE_NKINDS], down[MC_PROBE_NKINDS];
};

static void on_change(const char *cluster, enum mc_probe_kind kind,
                      const struct mc_probe_state *state, enum mc_probe_change change, void *data)
{
    struct seen *s = data;
    assert_string_equal(cluster, "tokyo");
    s->changes[kind]++;
    s->last[kind] = change;
    s->reason[kind] = state->reason;
    s->up[kind] = state->status == MC_PROBE_UP;
    s->down[kind] = state->status == MC_PROBE_DOWN;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void on_closed(void *data)
{
    *(bool *)data = true;
}

static void on_handle_closed(uv_handle_t *h)
{
    on_closed(h->data);
}

/* Runs the loop for ms milliseconds. */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
    bool never = false, closed = false;
    uv_timer_t stop;
    uv_timer_init(loop, &stop);
    uv_timer_start(&stop, on_tick, ms, 0);
    (void)it_run_until(loop, &never, ms);
    stop.data = &closed;
    uv_close((uv_handle_t *)&stop, on_handle_closed);
    assert_true(it_run_until(loop, &closed, 1000)); /* stop lives on this stack */
}

static void test_prober(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_config *cfg = it_config();
    k8s_http *http = NULL;
    assert_int_equal(k8s_http_new(&loop, &(k8s_http_opts){0}, &http), 0);
    k8s_metrics *metrics = k8s_metrics_new();
    struct gateway gw;
    gateway_start(&loop, &gw);
    char tls_line[160], status_line[160];
    snprintf(tls_line, sizeof(tls_line), GW ":15443:127.0.0.1:%d", gw.port);
    snprintf(status_line, sizeof(status_line), GW ":15021:127.0.0.1:%d", gw.port);
    const char *map[] = {tls_line, status_line};

    struct seen seen = {0};
    struct mc_prober_opts o = {.interval_ms = 100,
                               .timeout_ms = 2000,
                               .connect_to = map,
                               .nconnect_to = 2,
                               .seed = 7,
                               .metrics = metrics,
                               .metrics_prefix = "mctest",
                               .on_change = on_change,
                               .data = &seen};
    mc_prober *p = NULL;
    assert_int_equal(mc_prober_new(http, &loop, &o, &p), 0);
    struct mc_probe_target t = {.cluster = "tokyo",
                                .api_url = cfg->server,
                                .ca_pem = cfg->ca_pem,
                                .ca_len = cfg->ca_len,
                                .token = cfg->token,
                                .gateway_host = GW,
                                .gateway_tls_port = 15443,
                                .gateway_status_port = 15021};
    assert_int_equal(mc_prober_set_targets(p, &t, 1), 0);
    assert_int_equal(seen.changes[MC_PROBE_API], 0); /* never from inside a prober call */
    assert_true(it_run_until(&loop, &seen.up[MC_PROBE_API], 10000));
    assert_true(it_run_until(&loop, &seen.up[MC_PROBE_GATEWAY], 10000));

    /* Steady: ten intervals of passing probes change nothing. */
    int before = seen.changes[MC_PROBE_API] + seen.changes[MC_PROBE_GATEWAY];
    run_for(&loop, 1000);
    assert_int_equal(seen.changes[MC_PROBE_API] + seen.changes[MC_PROBE_GATEWAY], before);
    const char *series[] = {"tokyo", "api", NULL};
    double probes = 0;
    assert_int_equal(
        k8s_metric_get(k8s_metrics_find(metrics, "mctest_probe_duration_seconds"), series, &probes),
        0);
    assert_true(probes >= 5);

    /* The gateway fails readiness: Down (HTTP) after two rounds, Up again once it recovers. */
    gw.status = 503;
    assert_true(it_run_until(&loop, &seen.down[MC_PROBE_GATEWAY], 10000));
    assert_int_equal(seen.reason[MC_PROBE_GATEWAY], K8S_PROBE_HTTP);
    gw.status = 200;
    assert_true(it_run_until(&loop, &seen.up[MC_PROBE_GATEWAY], 10000));

    /* A token the server refuses: the target changed, so its API path starts over and goes
     * Down for an HTTP reason (401). */
    t.token = "not-a-valid-token";
    assert_int_equal(mc_prober_set_targets(p, &t, 1), 0);
    assert_int_equal(mc_prober_state(p, "tokyo", MC_PROBE_API)->status, MC_PROBE_UNKNOWN);
    assert_true(it_run_until(&loop, &seen.down[MC_PROBE_API], 10000));
    assert_int_equal(seen.reason[MC_PROBE_API], K8S_PROBE_HTTP);
    assert_int_equal(mc_prober_state(p, "tokyo", MC_PROBE_API)->http_status, 401);

    /* No longer a target: no state, no metric series. */
    assert_int_equal(mc_prober_set_targets(p, NULL, 0), 0);
    assert_null(mc_prober_state(p, "tokyo", MC_PROBE_API));
    assert_int_not_equal(
        k8s_metric_get(k8s_metrics_find(metrics, "mctest_probe_duration_seconds"), series, &probes),
        0);

    bool closed = false;
    mc_prober_close(p, on_closed, &closed);
    assert_false(closed);
    assert_true(it_run_until(&loop, &closed, 10000));
    uv_close((uv_handle_t *)&gw.server, NULL);
    bool http_closed = false;
    k8s_http_close(http, on_closed, &http_closed);
    assert_true(it_run_until(&loop, &http_closed, 10000));
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    k8s_metrics_free(metrics);
    k8s_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prober),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
