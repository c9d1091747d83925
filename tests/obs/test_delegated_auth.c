/*
 * Proves k8s/delegated_auth's bounds and failure handling against the test API server, whose
 * fault injection holds every request (/latency) and fails the reviews (/fail with a 500 on
 * tokenreviews: nothing here depends on whether a server implements TokenReview; the real
 * answers are tested on a real API server by test_metrics_secure.py):
 *   - no token, or one that cannot be a token, is 401 at once and sends no review;
 *   - at most max_in_flight decisions wait for the API server; the next one is 503 at once;
 *   - a failed review is 503, exactly one POST each (no retry), and is not cached: the same
 *     token is reviewed again next time;
 *   - the 503s are logged at most once per 10 s, never with the token;
 *   - a cancelled decision is never answered, nor one pending when the authorizer is freed,
 *     and both are released once their requests end (the sanitizer build checks the memory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"
#include "k8s/delegated_auth.h"
#include "memlog.h"

#define TOKEN_A "canary-token-a.aaaa"
#define TOKEN_B "canary-token-b.bbbb"
#define TOKEN_C "canary-token-c.cccc"

typedef struct {
    int answers;
    int last_status;
} waiter;

static void on_done(void *req, int status)
{
    waiter *w = req;
    w->answers++;
    w->last_status = status;
}

static bool both_answered(void *ctx)
{
    waiter *w = ctx;
    return w[0].answers && w[1].answers;
}

static void test_bounds_failures_and_cancel(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    k8s_client *c = itest_client(&loop);
    memlog ml;
    memlog_open(&ml, K8S_LOG_DEBUG);
    k8s_delegated_auth *a = NULL;
    k8s_delegated_auth_opts o = {.max_in_flight = 2, .log = ml.log};
    assert_int_equal(k8s_delegated_auth_new(c, &o, &a), 0);

    itest_control("/requests/clear", NULL);
    itest_control("/fail", "{\"count\": 100, \"code\": 500, \"path_regex\": \"tokenreviews\"}");
    itest_control("/latency", "{\"ms\": 300}");

    waiter w[4];
    memset(w, 0, sizeof(w));
    void *h[4] = {NULL};
    assert_int_equal(k8s_delegated_auth_authorize(a, NULL, "/metrics", on_done, &w[0], &h[0]), 401);
    assert_int_equal(
        k8s_delegated_auth_authorize(a, "two words", "/metrics", on_done, &w[0], &h[0]), 401);
    assert_int_equal(k8s_delegated_auth_authorize(a, TOKEN_A, "/metrics", on_done, &w[0], &h[0]),
                     0);
    assert_int_equal(k8s_delegated_auth_authorize(a, TOKEN_B, "/metrics", on_done, &w[1], &h[1]),
                     0);
    /* The in-flight bound: answered at once, no review. */
    assert_int_equal(k8s_delegated_auth_authorize(a, TOKEN_C, "/metrics", on_done, &w[2], &h[2]),
                     503);
    assert_true(itest_wait(&loop, both_answered, w, 20000));
    assert_int_equal(w[0].last_status, 503);
    assert_int_equal(w[1].last_status, 503);
    assert_int_equal(w[0].answers + w[1].answers + w[2].answers, 2);

    /* Not cached: the same token is reviewed again; this time the caller leaves. */
    assert_int_equal(k8s_delegated_auth_authorize(a, TOKEN_A, "/metrics", on_done, &w[2], &h[2]),
                     0);
    k8s_delegated_auth_cancel(a, h[2]);
    /* And one still pending when the authorizer goes away. */
    assert_int_equal(k8s_delegated_auth_authorize(a, TOKEN_B, "/metrics", on_done, &w[3], &h[3]),
                     0);
    k8s_delegated_auth_stats st;
    k8s_delegated_auth_get_stats(a, &st);
    assert_int_equal(st.token_reviews, 4);
    assert_int_equal(st.access_reviews, 0);
    assert_int_equal(st.rejected_busy, 1);
    k8s_delegated_auth_free(a);
    itest_sleep(&loop, 1000); /* both requests end meanwhile; nobody may be answered */
    assert_int_equal(w[2].answers, 0);
    assert_int_equal(w[3].answers, 0);

    /*
     * At most one POST per review (one attempt: a retry of the two that failed would make more);
     * the two answered ones certainly left, the cancelled ones may have been stopped before.
     */
    int posts = itest_count_method("POST", "/apis/authentication.k8s.io/v1/tokenreviews", NULL, -1);
    assert_true(posts >= 2 && posts <= 4);

    /* One warn line for all the 503s (rate-limited), and no token anywhere. */
    const char *log = memlog_text(&ml);
    int lines = 0;
    for (const char *p = log; (p = strstr(p, "answering 503")) != NULL; p++)
        lines++;
    assert_int_equal(lines, 1);
    assert_null(strstr(log, "canary-token"));

    itest_control("/latency", "{\"ms\": 0}");
    itest_control("/fail", "{\"clear\": true}");
    itest_close(&loop, c);
    memlog_close(&ml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_failures_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
