/*
 * Proves the pure pieces behind "Ready means working" (issue 15): probe hysteresis (one lost
 * probe changes nothing, two in a row go Down, one success comes back Up, a Down peer's reason
 * changes only when the new failure repeats, a steady series reports no change, so costs no
 * status write; cancelled probes are ignored; the interval jitters within +-10% and doubles for
 * a peer down for long) and the tailnet check of the gateway's load-balancer address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "controller/probe_state.h"
#include "controller/tailnet.h"

static enum mc_probe_change feed(struct mc_probe_state *s, k8s_probe_failure f)
{
    k8s_probe_result r = {.failure = f,
                          .status = f == K8S_PROBE_HTTP ? 401 : 0,
                          .seconds = 0.012,
                          .detail = f == K8S_PROBE_OK ? "" : "boom"};
    return mc_probe_state_observe(s, &r);
}

static void test_hysteresis(void **state)
{
    (void)state;
    struct mc_probe_state s = {0};
    assert_int_equal(s.status, MC_PROBE_UNKNOWN);
    assert_int_equal(feed(&s, K8S_PROBE_TIMEOUT), MC_PROBE_SAME); /* one lost probe */
    assert_int_equal(s.status, MC_PROBE_UNKNOWN);
    assert_int_equal(feed(&s, K8S_PROBE_OK), MC_PROBE_WENT_UP);
    for (int i = 0; i < 50; i++)
        assert_int_equal(feed(&s, K8S_PROBE_OK), MC_PROBE_SAME); /* steady: no write */
    assert_int_equal(feed(&s, K8S_PROBE_CONNECT), MC_PROBE_SAME);
    assert_int_equal(feed(&s, K8S_PROBE_OK), MC_PROBE_SAME); /* alternating: still Up */
    assert_int_equal(feed(&s, K8S_PROBE_CONNECT), MC_PROBE_SAME);
    assert_int_equal(feed(&s, K8S_PROBE_CONNECT), MC_PROBE_WENT_DOWN);
    assert_int_equal(s.status, MC_PROBE_DOWN);
    assert_int_equal(s.reason, K8S_PROBE_CONNECT);
    assert_string_equal(s.detail, "boom");
    for (int i = 0; i < 20; i++) /* two failure classes by turns: no rewrite */
        assert_int_equal(feed(&s, i % 2 ? K8S_PROBE_TIMEOUT : K8S_PROBE_CONNECT), MC_PROBE_SAME);
    assert_int_equal(feed(&s, K8S_PROBE_HTTP), MC_PROBE_SAME);
    assert_int_equal(feed(&s, K8S_PROBE_HTTP), MC_PROBE_REASON_CHANGED);
    assert_int_equal(s.reason, K8S_PROBE_HTTP);
    assert_int_equal(s.http_status, 401);
    assert_int_equal(feed(&s, K8S_PROBE_CANCELLED), MC_PROBE_SAME);
    assert_int_equal(feed(&s, K8S_PROBE_OK), MC_PROBE_WENT_UP);
    assert_int_equal(s.fail_streak, 0);
}

static void test_delay(void **state)
{
    (void)state;
    struct mc_probe_state s = {0};
    assert_int_equal(mc_probe_next_delay_ms(&s, 30000, 0.0), 27000);
    assert_int_equal(mc_probe_next_delay_ms(&s, 30000, 0.999999) / 100, 32999 / 100);
    assert_int_equal(mc_probe_next_delay_ms(&s, 30000, 7.0), 30000); /* bad random: no jitter */
    for (int i = 0; i <= MC_PROBE_BACKOFF_AFTER; i++)
        feed(&s, K8S_PROBE_TIMEOUT);
    assert_int_equal(mc_probe_next_delay_ms(&s, 30000, 0.5), 60000);
}

static void test_tailnet_address(void **state)
{
    (void)state;
    char msg[512] = "";
    assert_true(mc_tailnet_address_matches("ewgw-paris.acme-corp.ts.net", "100.101.102.103",
                                           "acme-corp.ts.net", msg, sizeof(msg)));
    assert_true(mc_tailnet_address_matches("EWGW.Acme-Corp.ts.net.", "fd7a:115c:a1e0::1",
                                           "acme-corp.ts.net", msg, sizeof(msg)));
    assert_true(mc_tailnet_address_matches(NULL, NULL, "acme-corp.ts.net", msg, sizeof(msg)));
    assert_false(mc_tailnet_address_matches("ewgw-paris.tail0000.ts.net", "100.64.0.1",
                                            "acme-corp.ts.net", msg, sizeof(msg)));
    assert_non_null(strstr(msg, "ewgw-paris.tail0000.ts.net"));
    assert_non_null(strstr(msg, "acme-corp.ts.net"));
    assert_false(mc_tailnet_address_matches("x.notacme-corp.ts.net", NULL, "acme-corp.ts.net", msg,
                                            sizeof(msg)));
    assert_false(
        mc_tailnet_address_matches("acme-corp.ts.net", NULL, "acme-corp.ts.net", msg, sizeof(msg)));
    assert_false(
        mc_tailnet_address_matches(NULL, "100.128.0.1", "acme-corp.ts.net", msg, sizeof(msg)));
    assert_non_null(strstr(msg, "100.128.0.1"));
    assert_false(
        mc_tailnet_address_matches(NULL, "10.0.0.7", "acme-corp.ts.net", msg, sizeof(msg)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hysteresis),
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_tailnet_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
