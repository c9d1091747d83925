/*
 * A watch stream the client cannot take (issue 18.4) leaves a trace, against the test API
 * server: a watcher whose line limit is smaller than a ConfigMap that then arrives on its
 * watch logs one warn line with class=watch-stream, verb WATCH, the resource and the parser's
 * reason, keeps it as the client's last failure, and counts the watch it had to restart in
 * <prefix>_watch_restarts_total{resource="configmaps"} (issue 14.8). The same ConfigMap keeps
 * coming back on every new watch, so this is also a storm: still one line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "itest.h"
#include "k8s/log.h"
#include "k8s/metrics.h"
#include "k8s/watch.h"
#include "memlog.h"

static void drop_event(k8s_watcher *w, k8s_watcher_event ev, cJSON *obj, void *data)
{
    (void)w;
    (void)ev;
    (void)data;
    cJSON_Delete(obj);
}

typedef struct {
    k8s_watcher *w;
} waiter;

static bool failed_twice(void *ctx)
{
    waiter *wt = ctx;
    k8s_watcher_stats st;
    k8s_watcher_get_stats(wt->w, &st);
    return st.failures >= 2;
}

static bool listed(void *ctx)
{
    waiter *wt = ctx;
    return k8s_watcher_resource_version(wt->w)[0] != '\0';
}

static void on_stopped(k8s_watcher *w, void *data)
{
    (void)w;
    *(bool *)data = true;
}

static bool is_true(void *ctx)
{
    return *(bool *)ctx;
}

static void test_oversized_watch_line_is_reported(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    memlog ml;
    memlog_open(&ml, K8S_LOG_INFO);
    k8s_metrics *m = k8s_metrics_new();
    assert_int_equal(k8s_metrics_register_standard(m, "t", "0"), 0);

    k8s_client *probe = itest_client(&loop); /* for its config only */
    k8s_config *cfg = NULL;
    char err[512] = "";
    assert_int_equal(k8s_config_from_kubeconfig(NULL, NULL, &cfg, err, sizeof(err)), 0);
    k8s_client_opts co = {.qps = -1, .log = ml.log, .metrics = m};
    k8s_client *c = NULL;
    assert_int_equal(k8s_client_new(&loop, cfg, &co, &c), 0);

    k8s_watcher_opts wo = {
        .ref = {.version = "v1", .resource = "configmaps", .namespace = "default"},
        .max_line = 512,
        .on_event = drop_event,
        .backoff = {.base_ms = 10, .cap_ms = 50, .factor = 2.0},
    };
    waiter wt = {0};
    assert_int_equal(k8s_watcher_new(c, &wo, &wt.w), 0);
    assert_int_equal(k8s_watcher_start(wt.w), 0);
    assert_true(itest_wait(&loop, listed, &wt, 20000));

    /* 2 KiB of data: one watch line of more than 512 bytes. */
    cJSON *cm = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                            "\"metadata\":{\"name\":\"too-big-for-the-watch\"},\"data\":{}}");
    char big[2048];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cJSON_AddStringToObject(cJSON_GetObjectItem(cm, "data"), "v", big);
    k8s_request_opts o = {
        .verb = K8S_VERB_CREATE,
        .ref = {.version = "v1", .resource = "configmaps", .namespace = "default"},
        .body = cm};
    assert_int_equal(itest_call(&loop, probe, &o, NULL), K8S_OK);
    cJSON_Delete(cm);

    assert_true(itest_wait(&loop, failed_twice, &wt, 20000));
    const char *text = memlog_text(&ml);
    assert_int_equal(
        (int)(strstr(text, "class=watch-stream") != NULL) +
            (int)(strstr(strstr(text, "class=watch-stream") + 1, "class=watch-stream") != NULL),
        1);
    assert_non_null(strstr(text, "level=warn msg=\"API request failed\" class=watch-stream "
                                 "verb=WATCH target=configmaps code=200 error="));
    char last[512];
    assert_int_equal(k8s_client_last_failure(c, last, sizeof(last)), 1);
    assert_non_null(strstr(last, "watch-stream failure: WATCH configmaps"));
    double restarts = 0;
    assert_int_equal(k8s_metric_get(k8s_metrics_find(m, "t_watch_restarts_total"),
                                    (const char *[]){"configmaps"}, &restarts),
                     0);
    assert_true(restarts >= 1);

    bool stopped = false;
    k8s_watcher_close(wt.w, on_stopped, &stopped);
    assert_true(itest_wait(&loop, is_true, &stopped, 10000));
    k8s_watcher_free(wt.w);
    k8s_client_close(c, NULL, NULL);
    itest_close(&loop, probe);
    k8s_metrics_free(m);
    memlog_close(&ml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oversized_watch_line_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
