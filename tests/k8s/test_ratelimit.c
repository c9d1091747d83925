/*
 * Proves k8s/ratelimit with injected time: a full bucket lets exactly `burst` calls through at
 * once; further reservations are told to wait 1/qps apart, queueing fairly behind each other;
 * tokens refill with time but never beyond burst; a clock going backwards mints nothing;
 * qps <= 0 is unlimited.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "k8s/ratelimit.h"

static void test_burst_then_spacing(void **state)
{
    k8s_ratelimit rl;
    k8s_ratelimit_init(&rl, 10.0, 3, 1000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(k8s_ratelimit_reserve(&rl, 1000), 0);
    assert_int_equal(k8s_ratelimit_reserve(&rl, 1000), 100);
    assert_int_equal(k8s_ratelimit_reserve(&rl, 1000), 200);
    assert_int_equal(k8s_ratelimit_reserve(&rl, 1000), 300);
    /* 250 ms later: 2.5 tokens came back, 3 were owed → the next waits 150 ms. */
    assert_int_equal(k8s_ratelimit_reserve(&rl, 1250), 150);
}

static void test_try_and_refill_cap(void **state)
{
    k8s_ratelimit rl;
    k8s_ratelimit_init(&rl, 2.0, 2, 0);
    assert_true(k8s_ratelimit_try(&rl, 0));
    assert_true(k8s_ratelimit_try(&rl, 0));
    assert_false(k8s_ratelimit_try(&rl, 0));
    assert_false(k8s_ratelimit_try(&rl, 499));
    assert_true(k8s_ratelimit_try(&rl, 500));
    /* A long idle period refills only up to burst. */
    assert_true(k8s_ratelimit_try(&rl, 100000));
    assert_true(k8s_ratelimit_try(&rl, 100000));
    assert_false(k8s_ratelimit_try(&rl, 100000));
}

static void test_clock_backwards(void **state)
{
    k8s_ratelimit rl;
    k8s_ratelimit_init(&rl, 1.0, 1, 5000);
    assert_true(k8s_ratelimit_try(&rl, 5000));
    assert_false(k8s_ratelimit_try(&rl, 1000));
    assert_false(k8s_ratelimit_try(&rl, 5999));
    assert_true(k8s_ratelimit_try(&rl, 6000));
}

static void test_unlimited(void **state)
{
    k8s_ratelimit rl;
    k8s_ratelimit_init(&rl, 0, 0, 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(k8s_ratelimit_reserve(&rl, 0), 0);
        assert_true(k8s_ratelimit_try(&rl, 0));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_spacing),
        cmocka_unit_test(test_try_and_refill_cap),
        cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_unlimited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
