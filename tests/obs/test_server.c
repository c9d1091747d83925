/*
 * Proves k8s/obs_server on a real libuv loop over loopback: it binds 127.0.0.1:0 and reports the
 * real port; a libcurl client (in its own thread, while the loop runs) gets /healthz 200 "ok",
 * /readyz 503 with the callback's reason and then 200 once the callback says ready, /metrics
 * 200 with the 0.0.4 Content-Type and the registry's text (larger than one write chunk, so the
 * chunked writing is exercised), 404 for other paths and no answer for other methods, one request
 * per connection ("connection: close"); closing the server while a client holds a connection open
 * in the middle of a request still lets uv_run return and the loop has no open handles left
 * (uv_loop_close returns 0). Also: malformed addresses are refused, a port already in use gives
 * -EADDRINUSE, and a never-started server closes asynchronously.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>

#include "k8s/metrics.h"
#include "k8s/obs_server.h"

typedef struct {
    uv_loop_t loop;
    uv_async_t done;
    uv_timer_t guard; /* fails the test instead of hanging if the client or the close stalls */
    k8s_obs_server *srv;
    atomic_int ready;
    int port;
    int closed;
    int client_failures;
    int idle_fd;
    char failure[512];
} fixture;

typedef struct {
    long status;
    char ctype[128];
    char *body;
    size_t len;
} response;

static size_t on_curl_body(char *p, size_t size, size_t n, void *data)
{
    response *r = data;
    char *grown = realloc(r->body, r->len + size * n + 1);
    if (!grown)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, p, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

/* One request on the given easy handle (reused, so the connection is kept alive). */
static int fetch(CURL *h, int port, const char *method, const char *path, response *r)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    memset(r, 0, sizeof(*r));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_curl_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK)
        return -1;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
    if (!r->body)
        r->body = calloc(1, 1);
    return 0;
}

#define CHECK(fx, cond)                                                                            \
    do {                                                                                           \
        if (!(cond) && !(fx)->client_failures++)                                                   \
            snprintf((fx)->failure, sizeof((fx)->failure), "line %d: %s", __LINE__, #cond);        \
    } while (0)

static void *client_main(void *arg)
{
    fixture *fx = arg;
    CURL *h = curl_easy_init();
    response r;
    long connects = 0, total_connects = 0;

    CHECK(fx, fetch(h, fx->port, "GET", "/healthz", &r) == 0);
    CHECK(fx, r.status == 200 && strcmp(r.body, "ok") == 0);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    total_connects += connects;
    free(r.body);

    CHECK(fx, fetch(h, fx->port, "GET", "/readyz", &r) == 0);
    CHECK(fx, r.status == 503 && strcmp(r.body, "caches not synced: meshclusters") == 0);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    total_connects += connects;
    free(r.body);

    atomic_store(&fx->ready, 1);
    CHECK(fx, fetch(h, fx->port, "GET", "/readyz", &r) == 0);
    CHECK(fx, r.status == 200 && strcmp(r.body, "ok") == 0);
    free(r.body);

    CHECK(fx, fetch(h, fx->port, "GET", "/metrics", &r) == 0);
    CHECK(fx, r.status == 200);
    CHECK(fx, strcmp(r.ctype, "text/plain; version=0.0.4; charset=utf-8") == 0);
    CHECK(fx, r.len > 8192);
    CHECK(fx, strstr(r.body, "meshcluster_build_info{version=\"9.9.9\"} 1\n") != NULL);
    CHECK(fx, strstr(r.body, "# TYPE workqueue_depth gauge\n") != NULL);
    CHECK(fx, r.len > 0 && r.body[r.len - 1] == '\n');
    free(r.body);

    CHECK(fx, fetch(h, fx->port, "GET", "/nope", &r) == 0);
    CHECK(fx, r.status == 404);
    free(r.body);

    /* Not a GET: dropped unanswered (obs_server.h), curl sees an empty reply. */
    CHECK(fx, fetch(h, fx->port, "POST", "/healthz", &r) == -1);
    free(r.body);

    /*
     * One request per connection (obs_server.c, the libwebsockets 4.1 spin): the server said
     * "connection: close", so the client opened a new connection for the second request, and
     * closing right after the last write still delivered all of /metrics (checked above).
     */
    CHECK(fx, total_connects == 2);

    curl_easy_cleanup(h);

    /* Leave a connection open mid-request: closing the server must cope with a live client. */
    fx->idle_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx->port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(fx, connect(fx->idle_fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    CHECK(fx, write(fx->idle_fd, "GET /healthz HTTP/1.1\r\n", 24) == 24);
    /* A complete request on that connection proves it reached the server before close. */
    char reply[64] = "";
    const char *more = "Host: x\r\n\r\nGET /readyz HTTP/1.1\r\n";
    CHECK(fx, write(fx->idle_fd, more, strlen(more)) == (ssize_t)strlen(more));
    CHECK(fx, read(fx->idle_fd, reply, sizeof(reply) - 1) > 12);
    CHECK(fx, strncmp(reply, "HTTP/1.1 200", 12) == 0);
    uv_async_send(&fx->done);
    return NULL;
}

static int is_ready(void *data, char *reason, size_t size)
{
    fixture *fx = data;
    if (atomic_load(&fx->ready))
        return 1;
    snprintf(reason, size, "caches not synced: meshclusters");
    return 0;
}

static void on_server_closed(k8s_obs_server *srv, void *data)
{
    fixture *fx = data;
    fx->closed = 1;
    uv_timer_stop(&fx->guard);
    uv_close((uv_handle_t *)&fx->guard, NULL);
}

static void on_client_done(uv_async_t *a)
{
    fixture *fx = a->data;
    uv_close((uv_handle_t *)&fx->done, NULL);
    k8s_obs_server_close(fx->srv, on_server_closed, fx);
}

static void on_guard_expired(uv_timer_t *t)
{
    fail_msg("the client or the server's close did not finish within the guard time");
}

static void test_serves_and_closes_cleanly(void **state)
{
    fixture fx;
    memset(&fx, 0, sizeof(fx));
    assert_int_equal(uv_loop_init(&fx.loop), 0);

    k8s_metrics *m = k8s_metrics_new();
    assert_int_equal(k8s_metrics_register_standard(m, "meshcluster", "9.9.9"), 0);
    assert_int_equal(k8s_metrics_register_workqueue(m, "meshcluster"), 0);
    assert_int_equal(k8s_metrics_register_controller(m, "meshcluster"), 0);

    k8s_obs_server_opts o = {
        .addr = "127.0.0.1:0", .metrics = m, .ready = is_ready, .ready_data = &fx};
    fx.srv = k8s_obs_server_new(&fx.loop, &o);
    assert_non_null(fx.srv);
    assert_int_equal(k8s_obs_server_port(fx.srv), -1);
    assert_int_equal(k8s_obs_server_start(fx.srv), 0);
    assert_int_equal(k8s_obs_server_start(fx.srv), -EALREADY);
    fx.port = k8s_obs_server_port(fx.srv);
    assert_true(fx.port > 0 && fx.port < 65536);

    /* A second server on the same port must fail with the real error. */
    char busy[32];
    snprintf(busy, sizeof(busy), "127.0.0.1:%d", fx.port);
    k8s_obs_server_opts o2 = {.addr = busy};
    k8s_obs_server *other = k8s_obs_server_new(&fx.loop, &o2);
    assert_int_equal(k8s_obs_server_start(other), -EADDRINUSE);
    k8s_obs_server_free(other);

    uv_async_init(&fx.loop, &fx.done, on_client_done);
    fx.done.data = &fx;
    uv_timer_init(&fx.loop, &fx.guard);
    uv_timer_start(&fx.guard, on_guard_expired, 30000, 0);

    pthread_t client;
    assert_int_equal(pthread_create(&client, NULL, client_main, &fx), 0);
    assert_int_equal(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    pthread_join(client, NULL);
    close(fx.idle_fd);
    if (fx.client_failures)
        fail_msg("client: %d failed checks, first at %s", fx.client_failures, fx.failure);
    assert_true(fx.closed);
    k8s_obs_server_free(fx.srv);
    assert_int_equal(uv_loop_close(&fx.loop), 0);
    k8s_metrics_free(m);
}

static void test_bad_addresses(void **state)
{
    char host[64];
    int port = -1;
    assert_int_equal(k8s_obs_parse_addr(":8081", host, sizeof(host), &port), 0);
    assert_string_equal(host, "");
    assert_int_equal(port, 8081);
    assert_int_equal(k8s_obs_parse_addr("[::1]:0", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    static const char *const bad[] = {
        "8081",    "localhost:80", "1.2.3.4:", "1.2.3.4:65536", "::1:80",
        "[::1]80", ":-1",          ":80a",     "1.2.3:80",      ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (k8s_obs_parse_addr(bad[i], host, sizeof(host), &port) != -EINVAL)
            fail_msg("accepted %s", bad[i]);

    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_obs_server_opts o = {.addr = "localhost:8081"};
    k8s_obs_server *srv = k8s_obs_server_new(&loop, &o);
    assert_int_equal(k8s_obs_server_start(srv), -EINVAL);
    k8s_obs_server_free(srv);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_unstarted_closed(k8s_obs_server *srv, void *data)
{
    (*(int *)data)++;
}

static void test_close_without_start_is_async(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_obs_server_opts o = {.addr = "127.0.0.1:0"};
    k8s_obs_server *srv = k8s_obs_server_new(&loop, &o);
    int calls = 0;
    k8s_obs_server_close(srv, on_unstarted_closed, &calls);
    assert_int_equal(calls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(calls, 1);
    k8s_obs_server_free(srv);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_close_without_start_is_async),
        cmocka_unit_test(test_serves_and_closes_cleanly),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
