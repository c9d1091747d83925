/*
 * Proves HTTP/2 multiplexing for real: Debian's nghttpx (a real HTTP/2 reverse proxy) is put in
 * front of the test API server (TLS + ALPN h2 frontend with its own certificate, HTTP/1.1 TLS
 * backend verified against the server's CA). Through it, 16 watches and 16 creates run at the
 * same time; every create succeeds over HTTP/2, every watch receives its ADDED event streamed
 * through the proxy, and the transport opened exactly ONE connection for all of them
 * (CURLINFO_NUM_CONNECTS summed over every transfer). Cancelling the watches and closing the
 * client leaves no libuv handle behind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

#define N 16

extern char **environ;

static char tmpdir[64];
static pid_t proxy_pid;
static int proxy_port;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static int start_proxy(void **state)
{
    strcpy(tmpdir, "/tmp/k8s-h2.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem "
             "-out %s/cert.pem 2>/dev/null",
             tmpdir, tmpdir);
    assert_int_equal(system(cmd), 0);

    /* Backend = the test API server from $MC_APISERVER_URL (https://127.0.0.1:PORT). */
    const char *url = getenv("MC_APISERVER_URL");
    assert_non_null(url);
    const char *colon = strrchr(url, ':');
    assert_non_null(colon);
    int backend_port = atoi(colon + 1);
    k8s_config *cfg = it_config();
    char ca_path[128];
    snprintf(ca_path, sizeof(ca_path), "%s/backend-ca.pem", tmpdir);
    FILE *f = fopen(ca_path, "wb");
    fwrite(cfg->ca_pem, 1, cfg->ca_len, f);
    fclose(f);
    k8s_config_free(cfg);

    proxy_port = free_port();
    char front[64], back[96], cacert[160], key[128], cert[128], errlog[128];
    snprintf(front, sizeof(front), "--frontend=127.0.0.1,%d", proxy_port);
    snprintf(back, sizeof(back), "--backend=127.0.0.1,%d;;tls;sni=localhost", backend_port);
    snprintf(cacert, sizeof(cacert), "--cacert=%s", ca_path);
    snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
    snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
    snprintf(errlog, sizeof(errlog), "--errorlog-file=%s/nghttpx.log", tmpdir);
    char *argv[] = {"nghttpx",
                    "--conf=/dev/null",
                    front,
                    back,
                    cacert,
                    "--workers=1",
                    "--no-ocsp",
                    errlog,
                    "--backend-read-timeout=5m",
                    "--frontend-http2-read-timeout=5m",
                    key,
                    cert,
                    NULL};
    int rc = posix_spawnp(&proxy_pid, "nghttpx", NULL, NULL, argv, environ);
    if (rc != 0)
        fail_msg("cannot start nghttpx (install nghttp2-proxy): %s", strerror(rc));
    for (int i = 0; i < 100 && !port_open(proxy_port); i++)
        usleep(100000);
    assert_true(port_open(proxy_port));
    return 0;
}

static int stop_proxy(void **state)
{
    if (proxy_pid > 0) {
        kill(proxy_pid, SIGTERM);
        waitpid(proxy_pid, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct watch {
    char name[32];
    char buf[8192];
    size_t len;
    bool saw_added;
    k8s_request *req;
    it_result res;
} watch;

static void on_watch_data(k8s_request *req, const char *buf, size_t len, void *data)
{
    watch *w = data;
    size_t n = len < sizeof(w->buf) - 1 - w->len ? len : sizeof(w->buf) - 1 - w->len;
    memcpy(w->buf + w->len, buf, n);
    w->len += n;
    w->buf[w->len] = '\0';
    if (strstr(w->buf, "\"ADDED\"") && strstr(w->buf, w->name))
        w->saw_added = true;
}

static void on_watch_done(k8s_request *req, k8s_response *res, void *data)
{
    watch *w = data;
    it_on_done(req, res, &w->res);
}

typedef struct all_state {
    watch *w;
    it_result *creates;
} all_state;

static bool everything_seen(const all_state *s)
{
    for (int i = 0; i < N; i++)
        if (!s->w[i].saw_added || !s->creates[i].done)
            return false;
    return true;
}

static void test_many_streams_one_connection(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_config *cfg = it_config();
    size_t len;
    char path[128];
    snprintf(path, sizeof(path), "%s/cert.pem", tmpdir);
    free(cfg->ca_pem);
    cfg->ca_pem = read_all(path, &len);
    cfg->ca_len = len;
    free(cfg->server);
    char server[64];
    snprintf(server, sizeof(server), "https://127.0.0.1:%d", proxy_port);
    cfg->server = strdup(server);
    k8s_client *c = it_client(&loop, cfg, NULL);

    watch *w = calloc(N, sizeof(*w));
    it_result *creates = calloc(N, sizeof(*creates));
    cJSON *bodies[N];
    char selector[N][64];
    for (int i = 0; i < N; i++) {
        snprintf(w[i].name, sizeof(w[i].name), "h2-cm-%d", i);
        snprintf(selector[i], sizeof(selector[i]), "metadata.name=%s", w[i].name);
        k8s_request_opts o = {
            .verb = K8S_VERB_WATCH,
            .ref = {.version = "v1", .resource = "configmaps", .namespace = "default"},
            .field_selector = selector[i],
            .timeout_seconds = 120,
            .on_data = on_watch_data,
            .on_done = on_watch_done,
            .data = &w[i]};
        assert_int_equal(k8s_request_start(c, &o, &w[i].req), 0);
    }
    for (int i = 0; i < N; i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\"},"
                 "\"data\":{\"i\":\"%d\"}}",
                 w[i].name, i);
        bodies[i] = it_json(json);
        k8s_request_opts o = {
            .verb = K8S_VERB_CREATE,
            .ref = {.version = "v1", .resource = "configmaps", .namespace = "default"},
            .body = bodies[i],
            .on_done = it_on_done,
            .data = &creates[i]};
        assert_int_equal(k8s_request_start(c, &o, NULL), 0);
        cJSON_Delete(bodies[i]);
    }
    /* Poll the combined condition with bounded waits. */
    all_state st = {w, creates};
    bool all = false;
    for (int round = 0; round < 300 && !all; round++) {
        bool never = false;
        it_run_until(&loop, &never, 100);
        all = everything_seen(&st);
    }
    if (!all) {
        for (int i = 0; i < N; i++)
            if (!w[i].saw_added || !creates[i].done)
                fail_msg("stream %d: added=%d create done=%d (%s) watch done=%d (%s)", i,
                         w[i].saw_added, creates[i].done, k8s_err_name(creates[i].code),
                         w[i].res.done, w[i].res.message ? w[i].res.message : "");
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(creates[i].code, K8S_OK);
        assert_int_equal(creates[i].http_version, 20);
        assert_false(w[i].res.done); /* still streaming */
    }
    for (int i = 0; i < N; i++)
        k8s_request_cancel(w[i].req);
    for (int i = 0; i < N; i++) {
        assert_true(it_run_until(&loop, &w[i].res.done, 10000));
        assert_int_equal(w[i].res.code, K8S_ERR_CANCELLED);
        assert_int_equal(w[i].res.http_version, 20);
    }
    k8s_http_stats stats;
    k8s_client_http_stats(c, &stats);
    assert_int_equal(stats.finished, 2 * N);
    assert_int_equal(stats.active, 0);
    if (stats.connections != 1)
        fail_msg("expected every transfer on one HTTP/2 connection, saw %lu connections",
                 stats.connections);
    for (int i = 0; i < N; i++) {
        it_result_clear(&creates[i]);
        it_result_clear(&w[i].res);
    }
    free(creates);
    free(w);
    it_close(&loop, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_many_streams_one_connection, start_proxy, stop_proxy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
