/*
 * Proves Status decoding (k8s/error): every Status reason the API server sends maps to its
 * typed error, with message, details and HTTP code kept; AlreadyExists vs Conflict on 409 and
 * ServerTimeout vs InternalError on 500 are told apart by reason; an unknown reason falls back
 * to the HTTP code; Invalid keeps its causes; retryAfterSeconds and the Retry-After header are
 * read; a plain-text priority-and-fairness 429 keeps its text; empty, HTML and truncated bodies
 * decode to the HTTP code; a watch ERROR Status (410 Expired, old "Gone") decodes from cJSON;
 * retriability is right for each class.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/error.h"

static void decode(k8s_error *e, int code, const char *body, const char *retry_after)
{
    assert_int_equal(k8s_error_from_response(e, code, body, body ? strlen(body) : 0, retry_after),
                     0);
}

static void test_every_reason(void **state)
{
    static const struct {
        const char *reason;
        int code;
        k8s_err want;
        int retriable;
    } cases[] = {
        {"BadRequest", 400, K8S_ERR_BAD_REQUEST, 0},
        {"Unauthorized", 401, K8S_ERR_UNAUTHORIZED, 0},
        {"Forbidden", 403, K8S_ERR_FORBIDDEN, 0},
        {"NotFound", 404, K8S_ERR_NOT_FOUND, 0},
        {"MethodNotAllowed", 405, K8S_ERR_METHOD_NOT_ALLOWED, 0},
        {"NotAcceptable", 406, K8S_ERR_NOT_ACCEPTABLE, 0},
        {"AlreadyExists", 409, K8S_ERR_ALREADY_EXISTS, 0},
        {"Conflict", 409, K8S_ERR_CONFLICT, 0},
        {"Expired", 410, K8S_ERR_EXPIRED, 0},
        {"Gone", 410, K8S_ERR_EXPIRED, 0},
        {"RequestEntityTooLarge", 413, K8S_ERR_REQUEST_TOO_LARGE, 0},
        {"UnsupportedMediaType", 415, K8S_ERR_UNSUPPORTED, 0},
        {"Invalid", 422, K8S_ERR_INVALID, 0},
        {"TooManyRequests", 429, K8S_ERR_TOO_MANY_REQUESTS, 1},
        {"InternalError", 500, K8S_ERR_INTERNAL, 1},
        {"ServerTimeout", 500, K8S_ERR_SERVER_TIMEOUT, 1},
        {"ServiceUnavailable", 503, K8S_ERR_SERVICE_UNAVAILABLE, 1},
        {"Timeout", 504, K8S_ERR_TIMEOUT, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
                 "\"Failure\",\"message\":\"msg %zu\",\"reason\":\"%s\",\"details\":{\"name\":"
                 "\"x\",\"kind\":\"configmaps\"},\"code\":%d}",
                 i, cases[i].reason, cases[i].code);
        k8s_error e = K8S_ERROR_INIT;
        decode(&e, cases[i].code, body, NULL);
        assert_int_equal(e.code, cases[i].want);
        assert_int_equal(e.http_status, cases[i].code);
        assert_string_equal(e.reason, cases[i].reason);
        char want_msg[32];
        snprintf(want_msg, sizeof(want_msg), "msg %zu", i);
        assert_string_equal(e.message, want_msg);
        assert_string_equal(e.details_name, "x");
        assert_string_equal(e.details_kind, "configmaps");
        assert_null(e.details_group);
        assert_int_equal(k8s_err_retriable(&e), cases[i].retriable);
        assert_int_equal(k8s_err_from_reason(cases[i].reason), cases[i].want);
        k8s_error_clear(&e);
        /* The same reason is also found from a bare HTTP code where unambiguous. */
        if (cases[i].code != 409 && cases[i].code != 500 && strcmp(cases[i].reason, "Gone"))
            assert_int_equal(k8s_err_from_http(cases[i].code), cases[i].want);
    }
}

static void test_unknown_reason_uses_code(void **state)
{
    k8s_error e = K8S_ERROR_INIT;
    decode(&e, 404,
           "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Brandnew\",\"code\":404}",
           NULL);
    assert_int_equal(e.code, K8S_ERR_NOT_FOUND);
    assert_string_equal(e.message, "Brandnew");
    decode(&e, 502, "{\"kind\":\"Status\",\"status\":\"Failure\",\"code\":502}", NULL);
    assert_int_equal(e.code, K8S_ERR_INTERNAL);
    assert_true(k8s_err_retriable(&e));
    decode(&e, 418, "{\"kind\":\"Status\",\"code\":418}", NULL);
    assert_int_equal(e.code, K8S_ERR_UNKNOWN);
    assert_false(k8s_err_retriable(&e));
    k8s_error_clear(&e);
}

static void test_invalid_causes(void **state)
{
    const char *body =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
        "\"MeshCluster.mesh.example.io \\\"a\\\" is invalid: spec.network: Required value\","
        "\"reason\":\"Invalid\",\"details\":{\"name\":\"a\",\"group\":\"mesh.example.io\","
        "\"kind\":\"MeshCluster\",\"causes\":[{\"reason\":\"FieldValueRequired\",\"message\":"
        "\"Required value\",\"field\":\"spec.network\"},{\"reason\":\"FieldValueInvalid\","
        "\"field\":\"spec.port\"},42,{}]},\"code\":422}";
    k8s_error e = K8S_ERROR_INIT;
    decode(&e, 422, body, NULL);
    assert_int_equal(e.code, K8S_ERR_INVALID);
    assert_string_equal(e.details_group, "mesh.example.io");
    assert_int_equal(e.ncauses, 3); /* the non-object entry is skipped */
    assert_string_equal(e.causes[0].reason, "FieldValueRequired");
    assert_string_equal(e.causes[0].message, "Required value");
    assert_string_equal(e.causes[0].field, "spec.network");
    assert_null(e.causes[1].message);
    assert_string_equal(e.causes[1].field, "spec.port");
    assert_null(e.causes[2].reason);
    assert_true(k8s_error_has_cause(&e, "FieldValueInvalid"));
    assert_false(k8s_error_has_cause(&e, "FieldValueDuplicate"));
    k8s_error moved = K8S_ERROR_INIT;
    k8s_error_move(&moved, &e);
    assert_int_equal(e.code, K8S_OK);
    assert_null(e.causes);
    assert_int_equal(moved.ncauses, 3);
    k8s_error_clear(&moved);
    k8s_error_clear(&moved); /* idempotent */
}

static void test_apply_conflict(void **state)
{
    const char *body =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"Apply "
        "failed with 1 conflict: conflict with \\\"mgr\\\" using v1: .spec.x\",\"reason\":"
        "\"Conflict\",\"details\":{\"causes\":[{\"reason\":\"FieldManagerConflict\","
        "\"message\":\"conflict with \\\"mgr\\\" using v1\",\"field\":\".spec.x\"}]},\"code\":409}";
    k8s_error e = K8S_ERROR_INIT;
    decode(&e, 409, body, NULL);
    assert_int_equal(e.code, K8S_ERR_CONFLICT);
    assert_true(k8s_error_has_cause(&e, "FieldManagerConflict"));
    k8s_error_clear(&e);
}

static void test_retry_after(void **state)
{
    k8s_error e = K8S_ERROR_INIT;
    decode(&e, 504,
           "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Timeout\",\"details\":{"
           "\"causes\":[{\"reason\":\"ResourceVersionTooLarge\",\"message\":\"Too large "
           "resource version\"}],\"retryAfterSeconds\":1},\"code\":504}",
           "7");
    assert_int_equal(e.code, K8S_ERR_TIMEOUT);
    assert_int_equal(e.retry_after_s, 1); /* the Status wins over the header */
    assert_true(k8s_error_has_cause(&e, "ResourceVersionTooLarge"));
    decode(&e, 503, "", " 12");
    assert_int_equal(e.code, K8S_ERR_SERVICE_UNAVAILABLE);
    assert_int_equal(e.retry_after_s, 12);
    decode(&e, 503, "", "Wed, 21 Oct 2015 07:28:00 GMT");
    assert_int_equal(e.retry_after_s, 1);
    decode(&e, 503, "", "99999999999999999999");
    assert_int_equal(e.retry_after_s, 86400);
    decode(&e, 503, "", NULL);
    assert_int_equal(e.retry_after_s, -1);
    k8s_error_clear(&e);
}

static void test_plain_text_429(void **state)
{
    k8s_error e = K8S_ERROR_INIT;
    decode(&e, 429, "Too many requests, please try again later.\n", "1");
    assert_int_equal(e.code, K8S_ERR_TOO_MANY_REQUESTS);
    assert_int_equal(e.http_status, 429);
    assert_null(e.reason);
    assert_string_equal(e.message, "Too many requests, please try again later.");
    assert_int_equal(e.retry_after_s, 1);
    assert_true(k8s_err_retriable(&e));
    k8s_error_clear(&e);
}

static void test_non_status_bodies(void **state)
{
    k8s_error e = K8S_ERROR_INIT;
    decode(&e, 502, "<html><body>Bad Gateway</body></html>", NULL);
    assert_int_equal(e.code, K8S_ERR_INTERNAL);
    assert_string_equal(e.message, "<html><body>Bad Gateway</body></html>");
    decode(&e, 404, NULL, NULL);
    assert_int_equal(e.code, K8S_ERR_NOT_FOUND);
    assert_string_equal(e.message, "HTTP 404 NotFound");
    decode(&e, 409, "{\"kind\":\"Status\",\"reas", NULL); /* truncated JSON */
    assert_int_equal(e.code, K8S_ERR_CONFLICT);
    decode(&e, 400, "{\"kind\":\"ConfigMap\"}", NULL); /* JSON, but not a Status */
    assert_int_equal(e.code, K8S_ERR_BAD_REQUEST);
    decode(&e, 500, "   \n\t ", NULL);
    assert_string_equal(e.message, "HTTP 500 InternalError");
    /* Control bytes are neutralised and the text is bounded. */
    char big[4000];
    memset(big, 'a', sizeof(big));
    big[0] = '\x01';
    big[sizeof(big) - 1] = '\0';
    decode(&e, 500, big, NULL);
    assert_int_equal(strlen(e.message), 1024);
    assert_int_equal(e.message[0], '?');
    /* A Status claiming success on an error answer is still a failure. */
    decode(&e, 200, "{\"kind\":\"Status\",\"status\":\"Success\",\"code\":200}", NULL);
    assert_int_not_equal(e.code, K8S_OK);
    k8s_error_clear(&e);
}

static void test_watch_error_event_status(void **state)
{
    cJSON *st = cJSON_Parse("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                            "\"status\":\"Failure\",\"message\":\"too old resource version: 5 "
                            "(90)\",\"reason\":\"Expired\",\"code\":410}");
    assert_non_null(st);
    k8s_error e = K8S_ERROR_INIT;
    assert_int_equal(k8s_error_from_status_json(&e, st), 0);
    assert_int_equal(e.code, K8S_ERR_EXPIRED);
    assert_int_equal(e.http_status, 410);
    assert_string_equal(e.message, "too old resource version: 5 (90)");
    cJSON_Delete(st);
    st = cJSON_Parse("{\"kind\":\"Status\",\"reason\":\"Gone\",\"code\":410}");
    assert_int_equal(k8s_error_from_status_json(&e, st), 0);
    assert_int_equal(e.code, K8S_ERR_EXPIRED);
    cJSON_Delete(st);
    st = cJSON_Parse("{\"kind\":\"Status\",\"code\":410}");
    assert_int_equal(k8s_error_from_status_json(&e, st), 0);
    assert_int_equal(e.code, K8S_ERR_EXPIRED);
    cJSON_Delete(st);
    assert_int_equal(k8s_error_from_status_json(&e, NULL), 0);
    assert_int_equal(e.code, K8S_ERR_DECODE);
    k8s_error_clear(&e);
}

/* Apply conflicts come typed: the field and the other manager of each, from the causes, or
 * from the summary text when a server sends none (issue 17.6). */
static void test_apply_conflict_causes(void **state)
{
    (void)state;
    k8s_error e = K8S_ERROR_INIT;
    decode(&e, 409,
           "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Conflict\",\"code\":409,"
           "\"message\":\"Apply failed with 2 conflicts: ...\",\"details\":{\"causes\":["
           "{\"reason\":\"FieldManagerConflict\",\"message\":\"conflict with \\\"helm\\\"\","
           "\"field\":\".metadata.labels.app.kubernetes.io/managed-by\"},"
           "{\"reason\":\"FieldManagerConflict\",\"message\":\"conflict with "
           "\\\"kubectl-patch\\\" using v1\",\"field\":\".spec.type\"},"
           "{\"reason\":\"FieldValueInvalid\",\"message\":\"conflict with \\\"x\\\"\"}]}}",
           NULL);
    assert_int_equal(e.code, K8S_ERR_CONFLICT);
    assert_int_equal(e.ncauses, 3);
    assert_string_equal(e.causes[0].manager, "helm");
    assert_string_equal(e.causes[0].field, ".metadata.labels.app.kubernetes.io/managed-by");
    assert_string_equal(e.causes[1].manager, "kubectl-patch");
    assert_null(e.causes[2].manager); /* not a field manager conflict */

    /* Only the summary, in both of the real server's shapes. */
    decode(
        &e, 409,
        "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"code\":409,\"message\":\"Apply failed "
        "with 1 conflict: conflict with \\\"argocd-controller\\\" using v1: .data.meshNetworks\"}",
        NULL);
    assert_int_equal(e.ncauses, 1);
    assert_string_equal(e.causes[0].reason, K8S_CAUSE_FIELD_MANAGER_CONFLICT);
    assert_string_equal(e.causes[0].manager, "argocd-controller");
    assert_string_equal(e.causes[0].field, ".data.meshNetworks");
    decode(&e, 409,
           "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"code\":409,\"message\":\"Apply failed "
           "with 3 conflicts: conflicts with \\\"helm\\\":\\n- .a\\n- .b\\nconflicts with "
           "\\\"we \\\\\\\"q\\\\\\\"\\\" with subresource \\\"status\\\":\\n- .c\"}",
           NULL);
    assert_int_equal(e.ncauses, 3);
    assert_string_equal(e.causes[0].manager, "helm");
    assert_string_equal(e.causes[1].field, ".b");
    assert_string_equal(e.causes[2].manager, "we \"q\"");
    assert_string_equal(e.causes[2].field, ".c");
    /* A resourceVersion Conflict has no field manager causes. */
    decode(&e, 409,
           "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"code\":409,\"message\":\"Operation "
           "cannot be fulfilled: the object has been modified\"}",
           NULL);
    assert_int_equal(e.ncauses, 0);
    k8s_error_clear(&e);
}

static void test_set_and_names(void **state)
{
    k8s_error e = K8S_ERROR_INIT;
    assert_int_equal(k8s_error_set(&e, K8S_ERR_TRANSPORT, 0, "connect %s: %d", "x", 7), 0);
    assert_string_equal(e.message, "connect x: 7");
    assert_true(k8s_err_retriable(&e));
    k8s_error_set(&e, K8S_ERR_CANCELLED, 0, "cancelled");
    assert_false(k8s_err_retriable(&e));
    k8s_error_clear(&e);
    assert_string_equal(k8s_err_name(K8S_ERR_NOT_FOUND), "NotFound");
    assert_string_equal(k8s_err_name(K8S_ERR_TRANSPORT), "Transport");
    assert_string_equal(k8s_err_name((k8s_err)999), "Unknown");
    for (int c = K8S_OK; c <= K8S_ERR_UNKNOWN; c++)
        assert_non_null(k8s_err_name((k8s_err)c));
    assert_int_equal(k8s_err_from_http(201), K8S_OK);
    assert_int_equal(k8s_err_from_reason(NULL), K8S_ERR_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_reason),      cmocka_unit_test(test_unknown_reason_uses_code),
        cmocka_unit_test(test_invalid_causes),    cmocka_unit_test(test_apply_conflict),
        cmocka_unit_test(test_retry_after),       cmocka_unit_test(test_plain_text_429),
        cmocka_unit_test(test_non_status_bodies), cmocka_unit_test(test_watch_error_event_status),
        cmocka_unit_test(test_set_and_names),     cmocka_unit_test(test_apply_conflict_causes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
