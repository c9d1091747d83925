/*
 * Proves k8s/obs_server's HTTPS listener and its deferred authorization of /metrics on a real
 * libuv loop over loopback, with a libcurl client (in its own thread) that verifies the
 * server's certificate (self-signed by pki_serving_self_signed for IP 127.0.0.1) as its CA:
 *   - no bearer token: 401 with a Bearer challenge; another scheme: 401 too;
 *   - an authorizer that answers at once: 200 with the registry, or 503 as it says;
 *   - one that answers later from a timer: 403, or 200 with the registry, once it has;
 *   - one that never answers: the client gives up, and the pending decision is cancelled
 *     exactly once (never answered into a freed session);
 *   - /healthz is served without a token; cleartext HTTP to the TLS port gets no answer;
 * and the server closes with no handle left on the loop. Without authorize set the secure
 * listener would serve /metrics to anyone: the first check fails.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>

#include "k8s/metrics.h"
#include "k8s/obs_server.h"
#include "pki/pki.h"

#define MAX_PENDING 8

typedef struct fixture fixture;

/* One decision the fake authorizer holds; answered by its timer unless cancelled. */
typedef struct {
    fixture *fx;
    uv_timer_t timer;
    k8s_obs_auth_done_fn done;
    void *req;
    int status;
    int in_use, cancelled, answered;
} pending;

struct fixture {
    uv_loop_t loop;
    uv_async_t done;
    uv_timer_t guard;
    k8s_obs_server *srv;
    int port;
    int closed;
    char *cert_pem;
    size_t cert_len;
    pending pend[MAX_PENDING];
    int asked, cancels, late_answers;
    int client_failures;
    char failure[512];
};

static void on_pending_timer(uv_timer_t *t)
{
    pending *p = t->data;
    if (p->cancelled) {
        p->fx->late_answers++; /* cannot happen: cancel stops the timer */
        return;
    }
    p->answered = 1;
    p->done(p->req, p->status);
}

/*
 * Tokens name the behaviour: "allow"/"down" answer 200/503 at once, "later-deny"/"later-allow"
 * answer 403/200 from a timer, "never" never answers.
 */
static int fake_authorize(void *data, const char *token, const char *path,
                          k8s_obs_auth_done_fn done, void *req, void **handle)
{
    fixture *fx = data;
    fx->asked++;
    if (strcmp(path, "/metrics") != 0)
        return 500;
    if (!token)
        return 401;
    if (strcmp(token, "allow") == 0)
        return 200;
    if (strcmp(token, "down") == 0)
        return 503;
    int status = strcmp(token, "later-deny") == 0    ? 403
                 : strcmp(token, "later-allow") == 0 ? 200
                 : strcmp(token, "never") == 0       ? -1
                                                     : 0;
    if (status == 0)
        return 401;
    for (int i = 0; i < MAX_PENDING; i++) {
        pending *p = &fx->pend[i];
        if (p->in_use)
            continue;
        memset(p, 0, sizeof(*p));
        p->in_use = 1;
        p->fx = fx;
        p->done = done;
        p->req = req;
        p->status = status;
        uv_timer_init(&fx->loop, &p->timer);
        p->timer.data = p;
        if (status > 0)
            uv_timer_start(&p->timer, on_pending_timer, 20, 0);
        *handle = p;
        return 0;
    }
    return 503;
}

static void fake_cancel(void *data, void *handle)
{
    fixture *fx = data;
    pending *p = handle;
    fx->cancels++;
    p->cancelled = 1;
    uv_timer_stop(&p->timer);
}

/* ---- the client ------------------------------------------------------------------------- */

typedef struct {
    long status;
    char *body;
    size_t len;
    char challenge[128];
} response;

static size_t on_body(char *p, size_t size, size_t n, void *data)
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

static size_t on_header(char *p, size_t size, size_t n, void *data)
{
    response *r = data;
    size_t len = size * n;
    if (len > 18 && strncasecmp(p, "www-authenticate: ", 18) == 0)
        snprintf(r->challenge, sizeof(r->challenge), "%.*s", (int)(len - 18), p + 18);
    return len;
}

/* One GET; auth is a whole Authorization header value or NULL. Returns curl's code. */
static CURLcode get(fixture *fx, const char *scheme, const char *path, const char *auth,
                    long timeout_ms, response *r)
{
    char url[128], hdr[256];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", scheme, fx->port, path);
    memset(r, 0, sizeof(*r));
    CURL *h = curl_easy_init();
    struct curl_slist *headers = NULL;
    if (auth) {
        snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
        headers = curl_slist_append(headers, hdr);
    }
    struct curl_blob ca = {.data = fx->cert_pem, .len = fx->cert_len, .flags = CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    if (!r->body)
        r->body = calloc(1, 1);
    return rc;
}

#define CHECK(fx, cond)                                                                            \
    do {                                                                                           \
        if (!(cond) && !(fx)->client_failures++)                                                   \
            snprintf((fx)->failure, sizeof((fx)->failure), "line %d: %s", __LINE__, #cond);        \
    } while (0)

/* GET /metrics with auth; checks status and, for 200, that the registry came. */
static void expect(fixture *fx, const char *auth, long status)
{
    response r;
    CHECK(fx, get(fx, "https", "/metrics", auth, 10000, &r) == CURLE_OK);
    CHECK(fx, r.status == status);
    if (status == 200)
        CHECK(fx, strstr(r.body, "meshcluster_build_info{version=\"9.9.9\"} 1\n") != NULL);
    else
        CHECK(fx, strstr(r.body, "build_info") == NULL);
    if (status == 401)
        CHECK(fx, strncmp(r.challenge, "Bearer", 6) == 0);
    free(r.body);
}

static void *client_main(void *arg)
{
    fixture *fx = arg;
    response r;
    expect(fx, NULL, 401);
    expect(fx, "Basic YWRtaW46YWRtaW4=", 401);
    expect(fx, "Bearer allow", 200);
    expect(fx, "Bearer down", 503);
    expect(fx, "Bearer later-deny", 403);
    expect(fx, "bearer   later-allow  ", 200);

    /* Never answered: the client gives up; the server must withdraw the decision. */
    CHECK(fx, get(fx, "https", "/metrics", "Bearer never", 300, &r) == CURLE_OPERATION_TIMEDOUT);
    free(r.body);

    CHECK(fx, get(fx, "https", "/healthz", NULL, 10000, &r) == CURLE_OK);
    CHECK(fx, r.status == 200 && strcmp(r.body, "ok") == 0);
    free(r.body);

    /* Cleartext to the TLS port: no HTTP answer. */
    CHECK(fx, get(fx, "http", "/healthz", NULL, 5000, &r) != CURLE_OK);
    CHECK(fx, r.status == 0);
    free(r.body);

    uv_async_send(&fx->done);
    return NULL;
}

/* ---- the loop --------------------------------------------------------------------------- */

static void on_server_closed(k8s_obs_server *srv, void *data)
{
    (void)srv;
    fixture *fx = data;
    fx->closed = 1;
    for (int i = 0; i < MAX_PENDING; i++)
        if (fx->pend[i].in_use)
            uv_close((uv_handle_t *)&fx->pend[i].timer, NULL);
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
    (void)t;
    fail_msg("the client or the server's close did not finish within the guard time");
}

static void make_cert(fixture *fx, char **key_pem, size_t *key_len)
{
    char err[256];
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    struct pki_ca_opts o = {.cn = "obs-test", .days = 1};
    assert_int_equal(pki_key_generate(PKI_KEY_EC_P256, &key, err, sizeof(err)), 0);
    assert_int_equal(pki_serving_self_signed(key, &o, "IP:127.0.0.1", &cert, err, sizeof(err)), 0);
    assert_int_equal(pki_pem_encode_cert(cert, &fx->cert_pem, &fx->cert_len), 0);
    assert_int_equal(pki_pem_encode_key(key, key_pem, key_len), 0);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void test_https_with_deferred_authorization(void **state)
{
    (void)state;
    static fixture fx;
    memset(&fx, 0, sizeof(fx));
    assert_int_equal(uv_loop_init(&fx.loop), 0);
    k8s_metrics *m = k8s_metrics_new();
    assert_int_equal(k8s_metrics_register_standard(m, "meshcluster", "9.9.9"), 0);

    char *key_pem = NULL;
    size_t key_len = 0;
    make_cert(&fx, &key_pem, &key_len);
    k8s_obs_server_opts o = {
        .addr = "127.0.0.1:0",
        .metrics = m,
        .tls_cert_pem = fx.cert_pem,
        .tls_cert_len = fx.cert_len,
        .tls_key_pem = key_pem,
        .tls_key_len = key_len,
        .authorize = fake_authorize,
        .authorize_cancel = fake_cancel,
        .authorize_data = &fx,
    };
    fx.srv = k8s_obs_server_new(&fx.loop, &o);
    assert_int_equal(k8s_obs_server_start(fx.srv), 0);
    free(key_pem); /* borrowed until start() returned */
    fx.port = k8s_obs_server_port(fx.srv);

    uv_async_init(&fx.loop, &fx.done, on_client_done);
    fx.done.data = &fx;
    uv_timer_init(&fx.loop, &fx.guard);
    uv_timer_start(&fx.guard, on_guard_expired, 60000, 0);
    pthread_t client;
    assert_int_equal(pthread_create(&client, NULL, client_main, &fx), 0);
    assert_int_equal(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    pthread_join(client, NULL);
    if (fx.client_failures)
        fail_msg("client: %d failed checks, first at %s", fx.client_failures, fx.failure);
    assert_true(fx.closed);
    assert_int_equal(fx.asked, 7); /* every /metrics request, nothing else */
    assert_int_equal(fx.cancels, 1);
    assert_int_equal(fx.late_answers, 0);
    int answered = 0;
    for (int i = 0; i < MAX_PENDING; i++)
        answered += fx.pend[i].answered;
    assert_int_equal(answered, 2);
    k8s_obs_server_free(fx.srv);
    assert_int_equal(uv_loop_close(&fx.loop), 0);
    k8s_metrics_free(m);
    free(fx.cert_pem);
}

/* Half a pair, or authorize without cancel, is a programming error caught at start. */
static void test_bad_tls_and_auth_options(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    k8s_obs_server_opts o = {.addr = "127.0.0.1:0", .tls_cert_pem = "x", .tls_cert_len = 1};
    k8s_obs_server *srv = k8s_obs_server_new(&loop, &o);
    assert_int_equal(k8s_obs_server_start(srv), -EINVAL);
    k8s_obs_server_free(srv);
    k8s_obs_server_opts o2 = {.addr = "127.0.0.1:0", .authorize = fake_authorize};
    srv = k8s_obs_server_new(&loop, &o2);
    assert_int_equal(k8s_obs_server_start(srv), -EINVAL);
    k8s_obs_server_free(srv);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_tls_and_auth_options),
        cmocka_unit_test(test_https_with_deferred_authorization),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
