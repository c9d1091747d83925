/*
 * Proves k8s/request + k8s/http against the test API server: a create/get/list(limit,
 * continue)/update/patch(merge, json, apply)/status/delete round trip with typed errors
 * (AlreadyExists, Conflict from a stale resourceVersion and from a failed delete precondition,
 * NotFound, refused options), that done callbacks never run inside the starting call, that a
 * 429 with Retry-After (plain text like priority-and-fairness, and as a Status) is waited out,
 * that 500s are retried until success and give up after max_attempts, that a client-side
 * timeout, a silent watch past its idle timeout and a dead port surface as Timeout/Transport,
 * that a watch streams events and can be
 * cancelled mid-stream, that closing the client cancels what is in flight and leaves no libuv
 * handle behind, that a rotated token is re-read from the token file after a 401, and that
 * at most max_in_flight non-streaming calls run at once while an exempt call (leader
 * election) never waits behind them, and that an Event's call (events_budget) draws on a rate
 * limit of its own instead of waiting behind the shared one. kubeconfig's tls-server-name is
 * the name TLS checks while the connection goes to the server's address: a name the test
 * server's certificate lists connects, one it does not list is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

static k8s_resource_ref cm(const char *name)
{
    return (k8s_resource_ref){
        .version = "v1", .resource = "configmaps", .namespace = "default", .name = name};
}

static cJSON *configmap(const char *name, const char *key, const char *value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", "ConfigMap");
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", name);
    cJSON_AddStringToObject(md, "namespace", "default");
    cJSON *labels = cJSON_AddObjectToObject(md, "labels");
    cJSON_AddStringToObject(labels, "suite", "k8s-transport");
    cJSON *data = cJSON_AddObjectToObject(o, "data");
    cJSON_AddStringToObject(data, key, value);
    return o;
}

static void create_cm(uv_loop_t *loop, k8s_client *c, const char *name)
{
    it_result r;
    cJSON *body = configmap(name, "k", "v");
    it_call(loop, c, (k8s_request_opts){.verb = K8S_VERB_CREATE, .ref = cm(NULL), .body = body},
            &r);
    cJSON_Delete(body);
    if (r.code != K8S_OK)
        fail_msg("create %s: %s %s", name, k8s_err_name(r.code), r.message);
    it_result_clear(&r);
}

static void test_crud_round_trip(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = it_client(&loop, it_config(), NULL);
    it_result r;

    cJSON *body = configmap("crud-a", "k", "v1");
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_CREATE, .ref = cm(NULL), .body = body},
            &r);
    assert_int_equal(r.code, K8S_OK);
    assert_int_equal(r.http_status, 201);
    assert_int_equal(r.attempts, 1);
    char *rv1 = strdup(it_str(r.body, "metadata.resourceVersion"));
    it_result_clear(&r);

    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_CREATE, .ref = cm(NULL), .body = body},
            &r);
    assert_int_equal(r.code, K8S_ERR_ALREADY_EXISTS);
    assert_int_equal(r.http_status, 409);
    assert_string_equal(r.details_name, "crud-a");
    it_result_clear(&r);

    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("crud-a")}, &r);
    assert_int_equal(r.code, K8S_OK);
    assert_string_equal(it_str(r.body, "data.k"), "v1");
    it_result_clear(&r);

    /* Update with the right resourceVersion, then again with the now stale one. */
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(body, "data"), "k", cJSON_CreateString("v2"));
    it_call(
        &loop, c,
        (k8s_request_opts){
            .verb = K8S_VERB_UPDATE, .ref = cm("crud-a"), .body = body, .resource_version = rv1},
        &r);
    assert_int_equal(r.code, K8S_OK);
    assert_string_equal(it_str(r.body, "data.k"), "v2");
    assert_string_not_equal(it_str(r.body, "metadata.resourceVersion"), rv1);
    it_result_clear(&r);
    it_call(
        &loop, c,
        (k8s_request_opts){
            .verb = K8S_VERB_UPDATE, .ref = cm("crud-a"), .body = body, .resource_version = rv1},
        &r);
    assert_int_equal(r.code, K8S_ERR_CONFLICT);
    assert_int_equal(r.attempts, 1); /* a Conflict is the caller's to resolve, never retried */
    assert_non_null(strstr(r.message, "the object has been modified"));
    it_result_clear(&r);
    cJSON_Delete(body);
    free(rv1);

    cJSON *patch = it_json("{\"data\":{\"merged\":\"m\"}}");
    it_call(&loop, c,
            (k8s_request_opts){.verb = K8S_VERB_PATCH,
                               .ref = cm("crud-a"),
                               .patch_type = K8S_PATCH_MERGE,
                               .body = patch},
            &r);
    cJSON_Delete(patch);
    assert_int_equal(r.code, K8S_OK);
    assert_string_equal(it_str(r.body, "data.merged"), "m");
    assert_string_equal(it_str(r.body, "data.k"), "v2");
    it_result_clear(&r);

    patch = it_json("[{\"op\":\"add\",\"path\":\"/data/json\",\"value\":\"j\"}]");
    it_call(&loop, c,
            (k8s_request_opts){.verb = K8S_VERB_PATCH,
                               .ref = cm("crud-a"),
                               .patch_type = K8S_PATCH_JSON,
                               .body = patch},
            &r);
    cJSON_Delete(patch);
    assert_int_equal(r.code, K8S_OK);
    assert_string_equal(it_str(r.body, "data.json"), "j");
    it_result_clear(&r);

    /* Server-side apply creates a missing object and then owns its fields. */
    patch = configmap("crud-b", "applied", "yes");
    it_call(&loop, c,
            (k8s_request_opts){.verb = K8S_VERB_PATCH,
                               .ref = cm("crud-b"),
                               .patch_type = K8S_PATCH_APPLY,
                               .field_manager = "k8s-transport-test",
                               .force = true,
                               .body = patch},
            &r);
    assert_int_equal(r.code, K8S_OK);
    assert_int_equal(r.http_status, 201);
    assert_string_equal(it_str(r.body, "data.applied"), "yes");
    it_result_clear(&r);
    /* Apply without a field manager is refused locally, still through a later done callback. */
    it_call(&loop, c,
            (k8s_request_opts){.verb = K8S_VERB_PATCH,
                               .ref = cm("crud-b"),
                               .patch_type = K8S_PATCH_APPLY,
                               .body = patch},
            &r);
    assert_int_equal(r.code, K8S_ERR_BAD_REQUEST);
    assert_int_equal(r.attempts, 0);
    it_result_clear(&r);
    cJSON_Delete(patch);

    /* Paging: two labelled objects, one per page. */
    it_call(&loop, c,
            (k8s_request_opts){.verb = K8S_VERB_LIST,
                               .ref = cm(NULL),
                               .label_selector = "suite=k8s-transport",
                               .limit = 1},
            &r);
    assert_int_equal(r.code, K8S_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.body, "items")), 1);
    const char *cont = it_str(r.body, "metadata.continue");
    assert_non_null(cont);
    assert_true(cont[0] != '\0');
    char *cont_copy = strdup(cont);
    it_result_clear(&r);
    it_call(&loop, c,
            (k8s_request_opts){.verb = K8S_VERB_LIST,
                               .ref = cm(NULL),
                               .label_selector = "suite=k8s-transport",
                               .limit = 1,
                               .continue_token = cont_copy},
            &r);
    free(cont_copy);
    assert_int_equal(r.code, K8S_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.body, "items")), 1);
    const char *last = it_str(r.body, "metadata.continue");
    assert_true(!last || !last[0]);
    it_result_clear(&r);

    /* Delete with a failing precondition, then for real, then it is gone. */
    it_call(&loop, c,
            (k8s_request_opts){.verb = K8S_VERB_DELETE,
                               .ref = cm("crud-a"),
                               .precondition_resource_version = "1",
                               .propagation_policy = "Background"},
            &r);
    assert_int_equal(r.code, K8S_ERR_CONFLICT);
    it_result_clear(&r);
    it_call(&loop, c,
            (k8s_request_opts){
                .verb = K8S_VERB_DELETE, .ref = cm("crud-a"), .propagation_policy = "Background"},
            &r);
    assert_int_equal(r.code, K8S_OK);
    it_result_clear(&r);
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("crud-a")}, &r);
    assert_int_equal(r.code, K8S_ERR_NOT_FOUND);
    assert_int_equal(r.http_status, 404);
    assert_string_equal(r.reason, "NotFound");
    it_result_clear(&r);
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_DELETE, .ref = cm("crud-b")}, &r);
    assert_int_equal(r.code, K8S_OK);
    it_result_clear(&r);

    it_close(&loop, c);
}

static void test_status_subresource(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = it_client(&loop, it_config(), NULL);
    it_result r;
    k8s_resource_ref svc = {
        .version = "v1", .resource = "services", .namespace = "default", .name = "st-svc"};
    cJSON *body = it_json("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
                          "\"st-svc\"},\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":"
                          "80}],\"selector\":{\"app\":\"x\"}}}");
    k8s_resource_ref coll = svc;
    coll.name = NULL;
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_CREATE, .ref = coll, .body = body}, &r);
    cJSON_Delete(body);
    assert_int_equal(r.code, K8S_OK);
    it_result_clear(&r);

    k8s_resource_ref status = svc;
    status.subresource = "status";
    cJSON *patch =
        it_json("{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"100.64.0.7\"}]}}}");
    it_call(
        &loop, c,
        (k8s_request_opts){
            .verb = K8S_VERB_PATCH, .ref = status, .patch_type = K8S_PATCH_MERGE, .body = patch},
        &r);
    cJSON_Delete(patch);
    assert_int_equal(r.code, K8S_OK);
    it_result_clear(&r);
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_GET, .ref = svc}, &r);
    assert_int_equal(r.code, K8S_OK);
    const cJSON *ing = cJSON_GetArrayItem(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(r.body, "status"), "loadBalancer"), "ingress"),
        0);
    assert_string_equal(it_str(ing, "ip"), "100.64.0.7");
    /* PUT to /status with the fetched object keeps working with the RV precondition. */
    char *rv = strdup(it_str(r.body, "metadata.resourceVersion"));
    cJSON *obj = r.body;
    r.body = NULL;
    it_result_clear(&r);
    it_call(&loop, c,
            (k8s_request_opts){
                .verb = K8S_VERB_UPDATE, .ref = status, .body = obj, .resource_version = rv},
            &r);
    assert_int_equal(r.code, K8S_OK);
    it_result_clear(&r);
    cJSON_Delete(obj);
    free(rv);
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_DELETE, .ref = svc}, &r);
    assert_int_equal(r.code, K8S_OK);
    it_result_clear(&r);
    it_close(&loop, c);
}

static void test_429_retry_after(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = it_client(&loop, it_config(), NULL);
    create_cm(&loop, c, "r429");
    it_result r;

    /* Plain-text priority-and-fairness answers, twice, each asking for 1 s. */
    it_control("/fail", "{\"count\":2,\"code\":429,\"retryAfter\":1,\"plain_text\":true,"
                        "\"path_regex\":\"configmaps/r429\"}");
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("r429")}, &r);
    uv_update_time(&loop);
    uint64_t waited = uv_now(&loop) - t0;
    assert_int_equal(r.code, K8S_OK);
    assert_int_equal(r.attempts, 3);
    /* The default backoff (200 ms, 400 ms) would be far below this: Retry-After was obeyed. */
    if (waited < 1900)
        fail_msg("Retry-After not honoured: retried after %llu ms", (unsigned long long)waited);
    it_result_clear(&r);

    /* A Status 429 with retryAfterSeconds, and a call that gives up first. */
    it_control("/fail", "{\"count\":1,\"code\":429,\"retryAfter\":1,"
                        "\"path_regex\":\"configmaps/r429\"}");
    it_call(&loop, c,
            (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("r429"), .max_attempts = 1}, &r);
    assert_int_equal(r.code, K8S_ERR_TOO_MANY_REQUESTS);
    assert_int_equal(r.http_status, 429);
    assert_int_equal(r.attempts, 1);
    it_result_clear(&r);
    it_close(&loop, c);
}

struct bounded {
    uv_loop_t *loop;
    k8s_client *c;
    int done, max_active;
    bool all_done;
};

static void on_bounded_tick(uv_timer_t *t)
{
    struct bounded *b = t->data;
    k8s_http_stats st;
    k8s_client_http_stats(b->c, &st);
    if ((int)st.active > b->max_active)
        b->max_active = (int)st.active;
}

struct tagged {
    struct bounded *b;
    int id;
    uint64_t at;
};

static void on_tagged_done(k8s_request *req, k8s_response *res, void *data)
{
    struct tagged *t = data;
    (void)req;
    assert_int_equal(res->err.code, K8S_OK);
    t->at = uv_now(t->b->loop);
    t->b->done++;
    t->b->all_done = t->b->done == 7;
}

/* With max_in_flight 2, six calls run two at a time while an exempt one (leader election)
 * starts at once beside them. */
static void test_in_flight_bound(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client_opts o = {.qps = -1, .max_in_flight = 2};
    k8s_client *c = it_client(&loop, it_config(), &o);
    create_cm(&loop, c, "bounded");
    struct bounded b = {.loop = &loop, .c = c};
    struct tagged t[7];
    it_control("/latency", "{\"ms\": 200}");
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    tick.data = &b;
    uv_timer_start(&tick, on_bounded_tick, 5, 5);
    for (int i = 0; i < 7; i++) {
        t[i] = (struct tagged){&b, i, 0};
        k8s_request_opts ro = {.verb = K8S_VERB_GET,
                               .ref = cm("bounded"),
                               .exempt = i == 6,
                               .on_done = on_tagged_done,
                               .data = &t[i]};
        assert_int_equal(k8s_request_start(c, &ro, NULL), 0);
    }
    bool ok = it_run_until(&loop, &b.all_done, 20000);
    it_control("/latency", "{\"ms\": 0}");
    uv_close((uv_handle_t *)&tick, NULL);
    assert_true(ok);
    /* Two counted calls plus the exempt one at most, and that many were seen. */
    assert_int_equal(b.max_active, 3);
    /* Three rounds of two: the last counted call ends at least two latencies after the
     * first; the exempt one ends in the first round. */
    uint64_t first = t[0].at, last = t[0].at;
    for (int i = 0; i < 6; i++) {
        first = t[i].at < first ? t[i].at : first;
        last = t[i].at > last ? t[i].at : last;
    }
    if (last - first < 350)
        fail_msg("counted calls were not held back: %llu ms from first to last",
                 (unsigned long long)(last - first));
    if (t[6].at > first + 150)
        fail_msg("the exempt call waited: ended %llu ms after the first counted one",
                 (unsigned long long)(t[6].at - first));
    it_close(&loop, c);
}

struct budget_call {
    uv_loop_t *loop;
    int *done;
    bool *all_done;
    uint64_t at;
};

static void on_budget_done(k8s_request *req, k8s_response *res, void *data)
{
    struct budget_call *b = data;
    (void)req;
    assert_int_equal(res->err.code, K8S_OK);
    b->at = uv_now(b->loop);
    *b->all_done = ++*b->done == 4;
}

/* With qps 2 and burst 1, three calls on the shared budget run half a second apart; an Event's
 * call (events_budget), started after them, draws on a bucket of its own and goes at once. */
static void test_events_budget(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client_opts o = {.qps = 2, .burst = 1};
    k8s_client *c = it_client(&loop, it_config(), &o);
    create_cm(&loop, c, "budget");
    int done = 0;
    bool all_done = false;
    struct budget_call b[4];
    uint64_t t0 = uv_now(&loop);
    for (int i = 0; i < 4; i++) {
        b[i] = (struct budget_call){&loop, &done, &all_done, 0};
        k8s_request_opts ro = {.verb = K8S_VERB_GET,
                               .ref = cm("budget"),
                               .events_budget = i == 3,
                               .on_done = on_budget_done,
                               .data = &b[i]};
        assert_int_equal(k8s_request_start(c, &ro, NULL), 0);
    }
    assert_true(it_run_until(&loop, &all_done, 20000));
    if (b[2].at - t0 < 800)
        fail_msg("the shared budget did not hold calls back: the third ended after %llu ms",
                 (unsigned long long)(b[2].at - t0));
    if (b[3].at >= b[1].at)
        fail_msg("the Event's call waited behind the shared budget (%llu ms)",
                 (unsigned long long)(b[3].at - t0));
    it_close(&loop, c);
}

static void test_500_backoff(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = it_client(&loop, it_config(), NULL);
    create_cm(&loop, c, "r500");
    it_result r;
    it_control("/fail", "{\"count\":3,\"code\":500,\"path_regex\":\"configmaps/r500\"}");
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("r500")}, &r);
    assert_int_equal(r.code, K8S_OK);
    assert_int_equal(r.attempts, 4);
    assert_string_equal(it_str(r.body, "metadata.name"), "r500");
    it_result_clear(&r);

    it_control("/fail", "{\"count\":3,\"code\":503,\"path_regex\":\"configmaps/r500\"}");
    it_call(&loop, c,
            (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("r500"), .max_attempts = 2}, &r);
    assert_int_equal(r.code, K8S_ERR_SERVICE_UNAVAILABLE);
    assert_int_equal(r.attempts, 2);
    it_result_clear(&r);
    /* The third injected failure is absorbed by the next call's retry. */
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("r500")}, &r);
    assert_int_equal(r.code, K8S_OK);
    assert_int_equal(r.attempts, 2);
    it_result_clear(&r);
    it_close(&loop, c);
}

static void on_quiet_data(k8s_request *req, const char *buf, size_t len, void *data)
{
    fail_msg("unexpected watch data: %.*s", (int)len, buf);
}

static void test_timeout_and_dead_port(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = it_client(&loop, it_config(), NULL);
    create_cm(&loop, c, "slow");
    it_result r;
    it_control("/latency", "{\"ms\":1500}");
    it_call(&loop, c,
            (k8s_request_opts){
                .verb = K8S_VERB_GET, .ref = cm("slow"), .timeout_ms = 200, .max_attempts = 1},
            &r);
    it_control("/latency", "{\"ms\":0}");
    assert_int_equal(r.code, K8S_ERR_TIMEOUT);
    assert_int_equal(r.http_status, 0);
    it_result_clear(&r);

    /* A watch that hears nothing (no events, no bookmarks) for idle_timeout_s is given up. */
    it_call(&loop, c,
            (k8s_request_opts){.verb = K8S_VERB_WATCH,
                               .ref = cm(NULL),
                               .field_selector = "metadata.name=nobody-here",
                               .resource_version = "0",
                               .idle_timeout_s = 2,
                               .on_data = on_quiet_data},
            &r);
    assert_int_equal(r.code, K8S_ERR_TIMEOUT);
    assert_int_equal(r.http_status, 200);
    assert_int_equal(r.attempts, 1); /* an answered stream is never retried by the request */
    it_result_clear(&r);
    it_close(&loop, c);

    uv_loop_init(&loop);
    k8s_config *cfg = it_config();
    free(cfg->server);
    cfg->server = strdup("https://127.0.0.1:1");
    k8s_client_opts o = {.qps = -1, .max_attempts = 2, .retry = {.base_ms = 10, .cap_ms = 20}};
    c = it_client(&loop, cfg, &o);
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("x")}, &r);
    assert_int_equal(r.code, K8S_ERR_TRANSPORT);
    assert_int_equal(r.attempts, 2);
    assert_non_null(r.message);
    it_result_clear(&r);
    it_close(&loop, c);
}

static void test_tls_server_name(void **state)
{
    /* The certificate names 127.0.0.1, localhost and kubernetes.default.svc; the URL is by IP. */
    static const char *const names[] = {"kubernetes.default.svc", "wrong.example"};
    for (size_t i = 0; i < 2; i++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        k8s_config *cfg = it_config();
        assert_non_null(strstr(cfg->server, "127.0.0.1"));
        cfg->tls_server_name = strdup(names[i]);
        k8s_client_opts o = {.max_attempts = 1};
        k8s_client *c = it_client(&loop, cfg, &o);
        it_result r;
        it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_LIST, .ref = cm(NULL)}, &r);
        if (i == 0) {
            assert_int_equal(r.code, K8S_OK);
            assert_int_equal(r.http_status, 200);
        } else {
            assert_int_equal(r.code, K8S_ERR_TRANSPORT);
            assert_non_null(r.message);
            assert_non_null(strstr(r.message, "wrong.example"));
        }
        it_result_clear(&r);
        it_close(&loop, c);
    }
}

typedef struct watch_ctx {
    char buf[65536];
    size_t len;
    bool saw_added;
    bool cancel_on_added;
    it_result res;
} watch_ctx;

static void on_watch_data(k8s_request *req, const char *buf, size_t len, void *data)
{
    watch_ctx *w = data;
    size_t n = len < sizeof(w->buf) - 1 - w->len ? len : sizeof(w->buf) - 1 - w->len;
    memcpy(w->buf + w->len, buf, n);
    w->len += n;
    w->buf[w->len] = '\0';
    if (strstr(w->buf, "\"ADDED\"") && strstr(w->buf, "w-one")) {
        w->saw_added = true;
        if (w->cancel_on_added)
            k8s_request_cancel(req); /* from inside the data callback */
    }
}

static void on_watch_done(k8s_request *req, k8s_response *res, void *data)
{
    watch_ctx *w = data;
    it_on_done(req, res, &w->res);
}

static void test_watch_stream_and_cancel(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = it_client(&loop, it_config(), NULL);
    watch_ctx *w = calloc(1, sizeof(*w));
    w->cancel_on_added = true;
    k8s_request *req = NULL;
    k8s_request_opts o = {.verb = K8S_VERB_WATCH,
                          .ref = cm(NULL),
                          .field_selector = "metadata.name=w-one",
                          .allow_watch_bookmarks = true,
                          .timeout_seconds = 300,
                          .on_data = on_watch_data,
                          .on_done = on_watch_done,
                          .data = w};
    assert_int_equal(k8s_request_start(c, &o, &req), 0);
    assert_non_null(req);
    create_cm(&loop, c, "w-one");
    assert_true(it_run_until(&loop, &w->res.done, 20000));
    assert_true(w->saw_added);
    assert_int_equal(w->res.code, K8S_ERR_CANCELLED);
    assert_null(w->res.body);
    it_result_clear(&w->res);

    /* A second watch left running is cancelled by closing the client. */
    memset(w, 0, sizeof(*w));
    assert_int_equal(k8s_request_start(c, &o, NULL), 0);
    bool never = false;
    it_run_until(&loop, &never, 300);
    assert_false(w->res.done);
    it_close(&loop, c);
    assert_true(w->res.done);
    assert_int_equal(w->res.code, K8S_ERR_CANCELLED);
    it_result_clear(&w->res);
    free(w);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_token_rotation(void **state)
{
    char dir[] = "/tmp/k8s-token.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/token", dir);

    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_config *cfg = it_config();
    char *original = strdup(cfg->token);
    write_file(path, original);
    cfg->token_file = strdup(path);
    k8s_client *c = it_client(&loop, cfg, NULL);
    it_result r;
    create_cm(&loop, c, "tok");

    it_control("/rotate-token", "{\"token\":\"rotated-token-1\"}");
    write_file(path, "rotated-token-1\n");
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("tok")}, &r);
    assert_int_equal(r.code, K8S_OK);
    assert_int_equal(r.attempts, 2); /* 401, re-read, success */
    it_result_clear(&r);

    /* A single-attempt call (a Lease renewal) that meets the old token still gets one more
     * attempt when the file holds a new token; with nothing new in the file, the 401 is final. */
    it_control("/rotate-token", "{\"token\":\"rotated-token-2\"}");
    write_file(path, "rotated-token-2\n");
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("tok"), .max_attempts = 1},
            &r);
    assert_int_equal(r.code, K8S_OK);
    assert_int_equal(r.attempts, 2);
    it_result_clear(&r);
    it_control("/rotate-token", "{\"token\":\"rotated-token-3\"}");
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("tok"), .max_attempts = 1},
            &r);
    assert_int_equal(r.code, K8S_ERR_UNAUTHORIZED);
    assert_int_equal(r.attempts, 1);
    it_result_clear(&r);

    /* A client with a static token has nothing to re-read: 401 is final, not retried. */
    uv_loop_t loop2;
    uv_loop_init(&loop2);
    k8s_client *c2 = it_client(&loop2, it_config(), NULL);
    it_call(&loop2, c2, (k8s_request_opts){.verb = K8S_VERB_GET, .ref = cm("tok")}, &r);
    assert_int_equal(r.code, K8S_ERR_UNAUTHORIZED);
    assert_int_equal(r.attempts, 1);
    it_result_clear(&r);
    it_close(&loop2, c2);

    char body[512];
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", original);
    it_control("/rotate-token", body);
    free(original);
    it_close(&loop, c);
    unlink(path);
    rmdir(dir);
}

/* A CA that did not sign the test server's certificate. */
static const char other_ca[] = "-----BEGIN CERTIFICATE-----\n"
                               "MIIBkTCCATegAwIBAgIUHFQo15fCqlLFx2vMQSU82DswgXswCgYIKoZIzj0EAwIw\n"
                               "HTEbMBkGA1UEAwwSbm90LXRoZS1jbHVzdGVyLWNhMCAXDTI2MTIwMjE1MTkwOVoY\n"
                               "DzIxMjYxMTA4MTUxOTA5WjAdMRswGQYDVQQDDBJub3QtdGhlLWNsdXN0ZXItY2Ew\n"
                               "WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATQHyShaoekQ0bRksEx3lHws9JmFwi1\n"
                               "bUMvaVs6WcS8OcR0zKEnFyAZNdk9CiraC7saEespzhw8+neWAsQ5vOk3o1MwUTAd\n"
                               "BgNVHQ4EFgQUS7HJEdnHdkFfotXRxrXAUU1sg9wwHwYDVR0jBBgwFoAUS7HJEdnH\n"
                               "dkFfotXRxrXAUU1sg9wwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF\n"
                               "AiEAjZeXibLsvr7PcysNSo+AGyXSiUuygBSk/LRshlGJsn4CIDQ+yB8sahQMZsyl\n"
                               "VvYs52FSe3ncYhpPzw9X4B8EVM6x\n"
                               "-----END CERTIFICATE-----\n";

/*
 * The CA bundle on disk changes (the cluster's CA rotated, or ca.crt was re-projected): the
 * next connection uses the new one without a restart. A TLS failure makes the client look at
 * the file at once, so the call that meets the new server certificate succeeds on its retry.
 */
static void test_ca_rotation(void **state)
{
    char dir[] = "/tmp/k8s-ca.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/ca.crt", dir);

    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_config *cfg = it_config();
    char *right = strndup(cfg->ca_pem, cfg->ca_len);
    write_file(path, other_ca);
    free(cfg->ca_file);
    cfg->ca_file = strdup(path);
    cfg->ca_file_sig = 0; /* never read: the first call reads the file */
    k8s_client_opts o = {.max_attempts = 2};
    k8s_client *c = it_client(&loop, cfg, &o);
    it_result r;
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_LIST, .ref = cm(NULL)}, &r);
    assert_int_equal(r.code, K8S_ERR_TRANSPORT); /* the bundle on disk does not trust the server */
    it_result_clear(&r);

    write_file(path, right);
    it_call(&loop, c, (k8s_request_opts){.verb = K8S_VERB_LIST, .ref = cm(NULL)}, &r);
    assert_int_equal(r.code, K8S_OK);
    assert_int_equal(r.http_status, 200);
    it_result_clear(&r);
    free(right);
    it_close(&loop, c);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crud_round_trip),
        cmocka_unit_test(test_status_subresource),
        cmocka_unit_test(test_429_retry_after),
        cmocka_unit_test(test_500_backoff),
        cmocka_unit_test(test_in_flight_bound),
        cmocka_unit_test(test_events_budget),
        cmocka_unit_test(test_timeout_and_dead_port),
        cmocka_unit_test(test_tls_server_name),
        cmocka_unit_test(test_watch_stream_and_cancel),
        cmocka_unit_test(test_token_rotation),
        cmocka_unit_test(test_ca_rotation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
