/*
 * Proves k8s/log: JSON records are one object a line that a real JSON parser (cJSON) reads back
 * with time (RFC 3339, UTC, ms), level, msg and the fields in order, even with quotes, control
 * characters and invalid UTF-8 in the input; text records have the exact logfmt shape; levels
 * below the minimum are dropped; values of secret-named keys are redacted while look-alikes
 * ("metadata") are not; registered secrets (and their base64 form) never appear anywhere in the
 * output, neither in messages, values nor keys; short secrets are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "k8s/log.h"

/* 2026-11-23T13:03:08.045Z */
static int64_t fixed_clock(void *ctx)
{
    (void)ctx;
    return INT64_C(1795438988045);
}

typedef struct {
    FILE *f;
    char *buf;
    size_t len;
} capture;

static k8s_log *open_log(capture *c, k8s_log_format fmt, k8s_log_level min)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
    k8s_log *log = k8s_log_new(c->f, fmt, min);
    assert_non_null(log);
    k8s_log_set_clock(log, fixed_clock, NULL);
    return log;
}

static char *finish(capture *c, k8s_log *log)
{
    k8s_log_free(log);
    fclose(c->f);
    return c->buf;
}

static void test_json_roundtrip(void **state)
{
    capture c;
    k8s_log *log = open_log(&c, K8S_LOG_JSON, K8S_LOG_INFO);
    k8s_log_info(log, "applied \"remote\" secret\n", "meshcluster", "west", "object",
                 "istio-system/cacerts", "kind", "Secret");
    k8s_log_debug(log, "dropped below the minimum level", "k", "v");
    k8s_log_error(log, "bad bytes", "raw", "ok\x01\xff\xc3\xa9", "nothing", NULL);
    char *out = finish(&c, log);

    char *save = NULL;
    char *line = strtok_r(out, "\n", &save);
    assert_non_null(line);
    assert_string_equal(line, "{\"time\":\"2026-11-23T13:03:08.045Z\",\"level\":\"info\","
                              "\"msg\":\"applied \\\"remote\\\" secret\\n\",\"meshcluster\":"
                              "\"west\",\"object\":\"istio-system/cacerts\",\"kind\":\"Secret\"}");
    cJSON *j = cJSON_Parse(line);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "msg")->valuestring, "applied \"remote\" secret\n");
    assert_string_equal(cJSON_GetObjectItem(j, "kind")->valuestring, "Secret");
    cJSON_Delete(j);

    line = strtok_r(NULL, "\n", &save);
    assert_non_null(line);
    j = cJSON_Parse(line);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring, "error");
    /* \x01 escaped, \xff replaced by U+FFFD, é kept. */
    assert_string_equal(cJSON_GetObjectItem(j, "raw")->valuestring, "ok\x01\xef\xbf\xbd\xc3\xa9");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "nothing")));
    cJSON_Delete(j);
    assert_null(strtok_r(NULL, "\n", &save)); /* the debug record was dropped */
    free(out);
}

static void test_text_format(void **state)
{
    capture c;
    k8s_log *log = open_log(&c, K8S_LOG_TEXT, K8S_LOG_DEBUG);
    k8s_log_warn(log, "lease lost", "lease", "kube-system/meshcluster", "reason", "renew failed",
                 "empty", "", "eq", "a=b");
    char *out = finish(&c, log);
    assert_string_equal(out, "time=2026-11-23T13:03:08.045Z level=warn msg=\"lease lost\" "
                             "lease=kube-system/meshcluster reason=\"renew failed\" empty=\"\" "
                             "eq=\"a=b\"\n");
    free(out);
}

static void test_levels_and_parsing(void **state)
{
    k8s_log_level lvl;
    k8s_log_format fmt;
    assert_int_equal(k8s_log_parse_level("debug", &lvl), 0);
    assert_int_equal(lvl, K8S_LOG_DEBUG);
    assert_int_equal(k8s_log_parse_level("WARNING", &lvl), 0);
    assert_int_equal(lvl, K8S_LOG_WARN);
    assert_int_equal(k8s_log_parse_level("loud", &lvl), -EINVAL);
    assert_int_equal(k8s_log_parse_format("text", &fmt), 0);
    assert_int_equal(fmt, K8S_LOG_TEXT);
    assert_int_equal(k8s_log_parse_format("xml", &fmt), -EINVAL);

    capture c;
    k8s_log *log = open_log(&c, K8S_LOG_TEXT, K8S_LOG_ERROR);
    assert_false(k8s_log_enabled(log, K8S_LOG_WARN));
    assert_true(k8s_log_enabled(log, K8S_LOG_ERROR));
    k8s_log_warn(log, "hidden");
    k8s_log_set_level(log, K8S_LOG_WARN);
    k8s_log_warn(log, "shown");
    char *out = finish(&c, log);
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "msg=shown"));
    free(out);
}

static void test_redaction(void **state)
{
    const char *token = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.sig";
    const char *ca = "-----BEGIN CERTIFICATE-----MIIB";
    /* base64("hunter2-long") = "aHVudGVyMi1sb25n" */
    const char *pw = "hunter2-long";

    for (int fmt = K8S_LOG_JSON; fmt <= K8S_LOG_TEXT; fmt++) {
        capture c;
        k8s_log *log = open_log(&c, (k8s_log_format)fmt, K8S_LOG_DEBUG);
        assert_int_equal(k8s_log_add_secret(log, "abc"), -EINVAL);
        assert_int_equal(k8s_log_add_secret(log, token), 0);
        assert_int_equal(k8s_log_add_secret(log, pw), 0);
        assert_int_equal(k8s_log_add_secret(log, pw), 0); /* twice is fine */

        k8s_log_info(log, "fields", "token", "t0ps3cret", "bearerToken", "x1", "client_password",
                     "x2", "secret.data", "x3", "KUBECONFIG", "x4", "APIToken", "x5", "metadata",
                     "visible-metadata", "secretName", "x6");
        char msg[256];
        snprintf(msg, sizeof(msg), "request with Authorization: Bearer %s failed", token);
        k8s_log_info(log, msg, "header", token, "ca", ca, "url", "https://u:hunter2-long@h/");
        k8s_log_info(log, "base64 form", "payload", "cGFzcw==aHVudGVyMi1sb25n");
        k8s_log_info(log, "key holds it", pw, "v");
        char *out = finish(&c, log);

        assert_null(strstr(out, token));
        assert_null(strstr(out, "c2VjcmV0LXRva2Vu"));
        assert_null(strstr(out, "hunter2"));
        assert_null(strstr(out, "aHVudGVyMi1sb25n"));
        assert_null(strstr(out, "t0ps3cret"));
        for (int i = 1; i <= 6; i++) {
            char needle[8];
            snprintf(needle, sizeof(needle), "x%d", i);
            if (strstr(out, needle))
                fail_msg("value %s of a secret-named key leaked: %s", needle, out);
        }
        assert_non_null(strstr(out, "visible-metadata"));
        assert_non_null(strstr(out, ca)); /* not registered, key not secret: kept */
        assert_non_null(strstr(out, "Bearer [redacted] failed"));
        assert_non_null(strstr(out, "https://u:[redacted]@h/"));

        if (fmt == K8S_LOG_JSON) {
            size_t lines = 0;
            char *save = NULL;
            for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                cJSON *j = cJSON_Parse(l);
                assert_non_null(j);
                cJSON_Delete(j);
                lines++;
            }
            assert_int_equal(lines, 4);
        }
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_text_format),
        cmocka_unit_test(test_levels_and_parsing),
        cmocka_unit_test(test_redaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
