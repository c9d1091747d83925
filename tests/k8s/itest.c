/* Helpers for the k8s/ transport integration tests; see itest.h. */
#include "itest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

k8s_config *it_config(void)
{
    k8s_config *cfg = NULL;
    char err[512] = "";
    int rc = k8s_config_from_kubeconfig(NULL, NULL, &cfg, err, sizeof(err));
    if (rc != 0)
        fail_msg("cannot load $KUBECONFIG: %s", err);
    return cfg;
}

k8s_client *it_client(uv_loop_t *loop, k8s_config *cfg, const k8s_client_opts *opts)
{
    k8s_client *c = NULL;
    k8s_client_opts o = {.qps = -1};
    if (opts)
        o = *opts;
    assert_int_equal(k8s_client_new(loop, cfg, &o, &c), 0);
    return c;
}

static void on_closed(void *data)
{
    *(bool *)data = true;
}

void it_close(uv_loop_t *loop, k8s_client *c)
{
    bool closed = false;
    k8s_client_close(c, on_closed, &closed);
    assert_true(it_run_until(loop, &closed, 10000));
    /* Nothing may be left: every handle was closed and freed. */
    assert_int_equal(uv_run(loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void on_tick(uv_timer_t *t)
{
}

bool it_run_until(uv_loop_t *loop, const bool *flag, uint64_t timeout_ms)
{
    /* The tick makes UV_RUN_ONCE return regularly so the deadline is checked. */
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 50, 50);
    uv_update_time(loop);
    uint64_t deadline = uv_now(loop) + timeout_ms;
    while (!*flag && uv_now(loop) < deadline)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void it_on_done(k8s_request *req, k8s_response *res, void *data)
{
    it_result *r = data;
    r->done = true;
    r->code = res->err.code;
    r->http_status = res->http_status;
    r->attempts = res->attempts;
    r->http_version = res->http_version;
    r->message = dup_or_null(res->err.message);
    r->reason = dup_or_null(res->err.reason);
    r->details_name = dup_or_null(res->err.details_name);
    r->body = res->body;
    res->body = NULL;
}

void it_result_clear(it_result *r)
{
    free(r->message);
    free(r->reason);
    free(r->details_name);
    cJSON_Delete(r->body);
    memset(r, 0, sizeof(*r));
}

void it_call(uv_loop_t *loop, k8s_client *c, k8s_request_opts o, it_result *r)
{
    memset(r, 0, sizeof(*r));
    o.on_done = it_on_done;
    o.data = r;
    assert_int_equal(k8s_request_start(c, &o, NULL), 0);
    r->inside_start = r->done;
    assert_false(r->inside_start);
    if (!it_run_until(loop, &r->done, 60000))
        fail_msg("request did not finish within 60 s");
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    return s * n;
}

void it_control(const char *path, const char *json)
{
    const char *base = getenv("MC_APISERVER_CONTROL");
    assert_non_null(base);
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base, path);
    CURL *e = curl_easy_init();
    assert_non_null(e);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, json ? json : "{}");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    CURLcode cc = curl_easy_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (cc != CURLE_OK || code < 200 || code >= 300)
        fail_msg("control %s failed: curl %d, HTTP %ld", path, (int)cc, code);
}

cJSON *it_json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("bad test JSON: %s", text);
    return j;
}

const char *it_str(const cJSON *obj, const char *dotted)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", dotted);
    const cJSON *cur = obj;
    for (char *save = NULL, *p = strtok_r(buf, ".", &save); p && cur;
         p = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, p);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}
