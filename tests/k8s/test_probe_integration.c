/*
 * Proves k8s/probe.c against the test API server (HTTPS with its own CA and tokens) and
 * loopback sockets: a GET of /readyz with the server's CA and token is OK with a latency; the
 * same without the CA is a TLS failure; a wrong token is an HTTP failure carrying 401; a port
 * nobody listens on is a connect failure; a listener that never answers is a timeout; a
 * connect_to line sends a name no DNS knows to the server (TCP: OK; HTTPS: the certificate does
 * not name it, so TLS fails, not resolution); cancelling either kind reports CANCELLED; and
 * nothing is left on the loop afterwards.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"
#include "k8s/probe.h"

typedef struct outcome {
    bool done;
    k8s_probe_result res;
    char detail[256];
} outcome;

static void on_probe(const k8s_probe_result *res, void *data)
{
    outcome *o = data;
    o->res = *res;
    snprintf(o->detail, sizeof(o->detail), "%s", res->detail);
    o->res.detail = o->detail;
    o->done = true;
}

/* A loopback listener that accepts (the kernel does) but never answers; returns its fd. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int closed_port(void)
{
    int port, fd = silent_listener(&port);
    close(fd);
    return port;
}

/* The API server's port, from its URL. */
static int server_port(const k8s_config *cfg)
{
    const char *colon = strrchr(cfg->server, ':');
    assert_non_null(colon);
    return atoi(colon + 1);
}

typedef struct fixture {
    uv_loop_t loop;
    k8s_config *cfg;
    k8s_http *http;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    f->cfg = it_config();
    assert_int_equal(k8s_http_new(&f->loop, &(k8s_http_opts){0}, &f->http), 0);
    *state = f;
    return 0;
}

static void on_http_closed(void *data)
{
    *(bool *)data = true;
}

static int teardown(void **state)
{
    fixture *f = *state;
    bool closed = false;
    k8s_http_close(f->http, on_http_closed, &closed);
    assert_true(it_run_until(&f->loop, &closed, 10000));
    assert_int_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0); /* no probe left a handle behind */
    k8s_config_free(f->cfg);
    free(f);
    return 0;
}

static outcome http_probe(fixture *f, const char *url, bool with_ca, const char *token,
                          long timeout_ms, const char *const *map, size_t nmap)
{
    k8s_http_tls tls = {.ca_pem = f->cfg->ca_pem, .ca_len = f->cfg->ca_len};
    k8s_probe_http_opts o = {.url = url,
                             .tls = with_ca ? &tls : NULL,
                             .bearer_token = token,
                             .timeout_ms = timeout_ms,
                             .connect_to = map,
                             .nconnect_to = nmap};
    outcome out = {0};
    assert_int_equal(k8s_probe_http(f->http, &o, on_probe, &out, NULL), 0);
    assert_false(out.done); /* never called back from inside the start call */
    assert_true(it_run_until(&f->loop, &out.done, 20000));
    out.res.detail = NULL; /* pointed into the callee's copy; read out.detail */
    return out;
}

static void test_http_outcomes(void **state)
{
    fixture *f = *state;
    char url[512];
    snprintf(url, sizeof(url), "%s/readyz", f->cfg->server);
    outcome ok = http_probe(f, url, true, f->cfg->token, 0, NULL, 0);
    assert_int_equal(ok.res.failure, K8S_PROBE_OK);
    assert_int_equal(ok.res.status, 200);
    assert_true(ok.res.seconds > 0);
    assert_string_equal(ok.detail, "");

    assert_int_equal(http_probe(f, url, false, f->cfg->token, 0, NULL, 0).res.failure,
                     K8S_PROBE_TLS);

    snprintf(url, sizeof(url), "%s/api/v1/namespaces", f->cfg->server);
    outcome denied = http_probe(f, url, true, "not-a-valid-token", 0, NULL, 0);
    assert_int_equal(denied.res.failure, K8S_PROBE_HTTP);
    assert_int_equal(denied.res.status, 401);
    assert_string_equal(denied.detail, "HTTP 401");

    snprintf(url, sizeof(url), "https://127.0.0.1:%d/readyz", closed_port());
    outcome refused = http_probe(f, url, true, NULL, 0, NULL, 0);
    assert_int_equal(refused.res.failure, K8S_PROBE_CONNECT);
    assert_true(refused.detail[0] != '\0');

    int port, fd = silent_listener(&port);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/readyz", port);
    assert_int_equal(http_probe(f, url, true, NULL, 300, NULL, 0).res.failure, K8S_PROBE_TIMEOUT);
    close(fd);

    /* A peer's name mapped to the server: the connection is made, the certificate does not
     * name the peer, so TLS fails (without the map it could not even resolve). */
    char line[128];
    snprintf(line, sizeof(line), "peer-api.tailnet.test:443:127.0.0.1:%d", server_port(f->cfg));
    const char *map[] = {line};
    assert_int_equal(
        http_probe(f, "https://peer-api.tailnet.test/readyz", true, NULL, 0, map, 1).res.failure,
        K8S_PROBE_TLS);
}

static outcome tcp_probe(fixture *f, const char *host, int port, const char *const *map,
                         size_t nmap)
{
    k8s_probe_tcp_opts o = {.host = host, .port = port, .connect_to = map, .nconnect_to = nmap};
    outcome out = {0};
    assert_int_equal(k8s_probe_tcp(&f->loop, &o, on_probe, &out, NULL), 0);
    assert_false(out.done);
    assert_true(it_run_until(&f->loop, &out.done, 20000));
    out.res.detail = NULL;
    return out;
}

static void test_tcp_outcomes(void **state)
{
    fixture *f = *state;
    assert_int_equal(tcp_probe(f, "127.0.0.1", server_port(f->cfg), NULL, 0).res.failure,
                     K8S_PROBE_OK);
    assert_int_equal(tcp_probe(f, "127.0.0.1", closed_port(), NULL, 0).res.failure,
                     K8S_PROBE_CONNECT);
    char line[128];
    snprintf(line, sizeof(line), "gw.tailnet.test:15443:127.0.0.1:%d", server_port(f->cfg));
    const char *map[] = {"other.tailnet.test:15443:127.0.0.1:1", line};
    assert_int_equal(tcp_probe(f, "gw.tailnet.test", 15443, map, 2).res.failure, K8S_PROBE_OK);
    k8s_probe_tcp_opts bad = {.host = "x", .port = 0};
    assert_int_equal(k8s_probe_tcp(&f->loop, &bad, on_probe, NULL, NULL), -EINVAL);
}

static void test_cancel(void **state)
{
    fixture *f = *state;
    outcome t = {0}, h = {0};
    k8s_probe *tp = NULL, *hp = NULL;
    k8s_probe_tcp_opts to = {.host = "127.0.0.1", .port = server_port(f->cfg)};
    assert_int_equal(k8s_probe_tcp(&f->loop, &to, on_probe, &t, &tp), 0);
    k8s_probe_cancel(tp);
    int port, fd = silent_listener(&port);
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/readyz", port);
    k8s_probe_http_opts ho = {.url = url};
    assert_int_equal(k8s_probe_http(f->http, &ho, on_probe, &h, &hp), 0);
    k8s_probe_cancel(hp);
    assert_true(it_run_until(&f->loop, &t.done, 10000));
    assert_true(it_run_until(&f->loop, &h.done, 10000));
    assert_int_equal(t.res.failure, K8S_PROBE_CANCELLED);
    assert_int_equal(h.res.failure, K8S_PROBE_CANCELLED);
    close(fd);
}

static void test_map_lines(void **state)
{
    (void)state;
    char host[64];
    int port = 0;
    const char *lines[] = {"a.test:443:", "a.test:443:10.0.0.1:x", "a.test:443:[::1]:8443"};
    assert_int_equal(k8s_probe_map(lines, 3, "a.test", 443, host, sizeof(host), &port), 1);
    assert_string_equal(host, "[::1]");
    assert_int_equal(port, 8443);
    assert_int_equal(k8s_probe_map(lines, 3, "a.test", 80, host, sizeof(host), &port), 0);
    assert_string_equal(k8s_probe_failure_name(K8S_PROBE_TLS), "tls");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test(test_map_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
