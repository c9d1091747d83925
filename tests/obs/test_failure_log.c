/*
 * The client's failure reports (k8s_client_report_failure, issue 18.4), with no server: a
 * storm of one class writes one warn line naming class, verb, target, code and cause; another
 * class still gets its own line (a storm cannot hide a different failure); nothing is written
 * below warn's level filter; k8s_client_last_failure() describes the latest report whatever
 * was logged; a client without a logger only keeps the last failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "k8s/config.h"
#include "k8s/log.h"
#include "k8s/request.h"
#include "memlog.h"

static const char kubeconfig[] = "{\"apiVersion\":\"v1\",\"kind\":\"Config\","
                                 "\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":"
                                 "\"https://127.0.0.1:6443\"}}],"
                                 "\"users\":[{\"name\":\"u\",\"user\":{\"token\":\"t\"}}],"
                                 "\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\","
                                 "\"user\":\"u\"}}],\"current-context\":\"x\"}";

static k8s_client *new_client(uv_loop_t *loop, k8s_log *log)
{
    k8s_config *cfg = NULL;
    char err[256] = "";
    assert_int_equal(k8s_config_from_kubeconfig_buf(kubeconfig, sizeof(kubeconfig) - 1, NULL, NULL,
                                                    &cfg, err, sizeof(err)),
                     0);
    k8s_client_opts o = {.qps = -1, .log = log};
    k8s_client *c = NULL;
    assert_int_equal(k8s_client_new(loop, cfg, &o, &c), 0);
    return c;
}

static void close_client(uv_loop_t *loop, k8s_client *c)
{
    k8s_client_close(c, NULL, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_storm_is_one_line_per_class(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    memlog ml;
    memlog_open(&ml, K8S_LOG_DEBUG);
    k8s_client *c = new_client(&loop, ml.log);

    char buf[512];
    assert_int_equal(k8s_client_last_failure(c, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");

    for (int i = 0; i < 200; i++)
        k8s_client_report_failure(c, K8S_FAILURE_THROTTLED, "GET", "/api/v1/secrets", 429,
                                  "Too many requests, please try again later.");
    k8s_client_report_failure(c, K8S_FAILURE_TLS, "GET", "/api/v1/services", 0,
                              "SSL certificate problem: unable to get local issuer certificate");
    k8s_client_report_failure(c, K8S_FAILURE_THROTTLED, "PATCH", "/api/v1/configmaps/x", 429,
                              "slow down");
    const char *text = memlog_text(&ml);

    assert_int_equal(count(text, "msg=\"API request failed\""), 2);
    assert_int_equal(count(text, "level=warn"), 2);
    assert_non_null(strstr(text, "class=throttled verb=GET target=/api/v1/secrets code=429 "
                                 "error=\"Too many requests, please try again later.\""));
    assert_non_null(strstr(text, "class=tls verb=GET target=/api/v1/services code=none "
                                 "error=\"SSL certificate problem: unable to get local issuer "
                                 "certificate\" suppressed=0"));

    /* The last failure is the latest report, logged or not. */
    assert_int_equal(k8s_client_last_failure(c, buf, sizeof(buf)), 1);
    assert_non_null(strstr(buf, "throttled failure: PATCH /api/v1/configmaps/x: code 429: slow "
                                "down ("));
    assert_string_equal(k8s_failure_class_name(K8S_FAILURE_WATCH_STREAM), "watch-stream");
    assert_string_equal(k8s_failure_class_name(K8S_FAILURE_NCLASSES), "unknown");

    close_client(&loop, c);
    memlog_close(&ml);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_without_logger_keeps_last_failure(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = new_client(&loop, NULL);
    k8s_client_report_failure(c, K8S_FAILURE_AUTH, "GET", "/apis/x", 403, "Forbidden");
    char small[16];
    assert_int_equal(k8s_client_last_failure(c, small, sizeof(small)), 1);
    assert_int_equal(strlen(small), sizeof(small) - 1); /* truncated, terminated */
    close_client(&loop, c);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storm_is_one_line_per_class),
        cmocka_unit_test(test_without_logger_keeps_last_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
