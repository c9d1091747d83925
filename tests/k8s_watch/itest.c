/* Integration test helpers; see itest.h. */
#include "itest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "k8s/config.h"

k8s_client *itest_client(uv_loop_t *loop)
{
    char err[256] = "";
    k8s_config *cfg = NULL;
    int rc = k8s_config_load(getenv("KUBECONFIG"), NULL, &cfg, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "config: %s\n", err);
    assert_int_equal(rc, 0);
    k8s_client_opts o = {.qps = -1};
    k8s_client *c = NULL;
    assert_int_equal(k8s_client_new(loop, cfg, &o, &c), 0);
    return c;
}

static void on_client_closed(void *data)
{
    *(int *)data = 1;
}

void itest_close(uv_loop_t *loop, k8s_client *c)
{
    int closed = 0;
    k8s_client_close(c, on_client_closed, &closed);
    for (int i = 0; i < 100000 && !closed; i++)
        uv_run(loop, UV_RUN_ONCE);
    assert_true(closed);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0); /* nothing left open */
}

typedef struct {
    char *buf;
    size_t len;
} membuf;

static size_t on_curl_write(char *ptr, size_t size, size_t n, void *data)
{
    membuf *m = data;
    char *p = realloc(m->buf, m->len + size * n + 1);
    if (!p)
        return 0;
    memcpy(p + m->len, ptr, size * n);
    m->len += size * n;
    p[m->len] = '\0';
    m->buf = p;
    return size * n;
}

static char *control(const char *method, const char *path, const char *json)
{
    const char *base = getenv("MC_APISERVER_CONTROL");
    assert_non_null(base);
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base, path);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    membuf m = {0};
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_curl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json ? json : "{}");
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK || code != 200)
        fprintf(stderr, "control %s %s: curl %d http %ld: %s\n", method, path, (int)rc, code,
                m.buf ? m.buf : "");
    assert_int_equal(rc, CURLE_OK);
    assert_int_equal(code, 200);
    return m.buf;
}

void itest_control(const char *path, const char *json)
{
    free(control("POST", path, json));
}

cJSON *itest_requests(void)
{
    char *text = control("GET", "/requests", NULL);
    cJSON *log = cJSON_Parse(text);
    free(text);
    assert_non_null(log);
    return log;
}

int itest_count_method(const char *method, const char *path_part, const char *query_part,
                       int watches)
{
    cJSON *log = itest_requests();
    int n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, log)
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(r, "path");
        const cJSON *query = cJSON_GetObjectItemCaseSensitive(r, "query");
        if (!cJSON_IsString(m) || strcmp(m->valuestring, method) != 0 || !cJSON_IsString(path) ||
            !strstr(path->valuestring, path_part))
            continue;
        const char *q = cJSON_IsString(query) ? query->valuestring : "";
        if (query_part && !strstr(q, query_part))
            continue;
        bool is_watch = strstr(q, "watch=true") || strstr(q, "watch=1");
        if (watches < 0 || is_watch == (watches > 0))
            n++;
    }
    cJSON_Delete(log);
    return n;
}

int itest_count_requests(const char *path_part, const char *query_part, bool watches)
{
    return itest_count_method("GET", path_part, query_part, watches ? 1 : 0);
}

typedef struct {
    int done;
    int err;
    cJSON *body;
} call_state;

static void on_call_done(k8s_request *req, k8s_response *res, void *data)
{
    call_state *st = data;
    st->done = 1;
    st->err = res->err.code;
    if (res->err.code != K8S_OK && res->err.code != K8S_ERR_NOT_FOUND &&
        res->err.code != K8S_ERR_CONFLICT && res->err.code != K8S_ERR_ALREADY_EXISTS)
        fprintf(stderr, "call failed: %s %d %s\n", k8s_err_name(res->err.code),
                res->err.http_status, res->err.message ? res->err.message : "");
    st->body = res->body;
    res->body = NULL;
}

int itest_call(uv_loop_t *loop, k8s_client *c, k8s_request_opts *o, cJSON **body)
{
    call_state st = {0};
    o->on_done = on_call_done;
    o->data = &st;
    assert_int_equal(k8s_request_start(c, o, NULL), 0);
    for (int i = 0; i < 1000000 && !st.done; i++)
        uv_run(loop, UV_RUN_ONCE);
    assert_true(st.done);
    if (body)
        *body = st.body;
    else
        cJSON_Delete(st.body);
    return st.err;
}

static void on_tick(uv_timer_t *t)
{
}

bool itest_wait(uv_loop_t *loop, bool (*pred)(void *ctx), void *ctx, uint64_t timeout_ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10); /* makes UV_RUN_ONCE return regularly */
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + timeout_ms;
    bool ok = pred(ctx);
    while (!ok && uv_now(loop) < end) {
        uv_run(loop, UV_RUN_ONCE);
        ok = pred(ctx);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static bool never(void *ctx)
{
    return false;
}

void itest_sleep(uv_loop_t *loop, uint64_t ms)
{
    itest_wait(loop, never, NULL, ms);
}
