/*
 * Proves k8s/backoff: without jitter delays double from base and stop at the cap, even after
 * billions of attempts; reset starts again at base; with jitter every delay stays within
 * [d*(1-jitter), d] and an injected RNG fully decides it (0 → lower bound, max → just under
 * d); defaults are applied for zeroed options; the built-in generator is deterministic for a
 * seed and different seeds give different sequences.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "k8s/backoff.h"

static void test_plain_exponential(void **state)
{
    k8s_backoff b;
    k8s_backoff_opts o = {.base_ms = 5, .cap_ms = 1000000, .factor = 2.0};
    k8s_backoff_init(&b, &o);
    uint64_t want = 5;
    for (int i = 0; i < 18; i++) {
        assert_int_equal(k8s_backoff_next(&b), want);
        want *= 2;
    }
    /* 5 * 2^18 = 1310720 > cap */
    assert_int_equal(k8s_backoff_next(&b), 1000000);
    assert_int_equal(k8s_backoff_attempts(&b), 19);
    k8s_backoff_reset(&b);
    assert_int_equal(k8s_backoff_attempts(&b), 0);
    assert_int_equal(k8s_backoff_next(&b), 5);
}

static void test_cap_holds_for_huge_attempts(void **state)
{
    k8s_backoff b;
    k8s_backoff_opts o = {.base_ms = 800, .cap_ms = 30000};
    k8s_backoff_init(&b, &o);
    assert_int_equal(k8s_backoff_peek(&b, 0), 800);
    assert_int_equal(k8s_backoff_peek(&b, 1), 1600);
    assert_int_equal(k8s_backoff_peek(&b, 5), 25600);
    assert_int_equal(k8s_backoff_peek(&b, 6), 30000);
    assert_int_equal(k8s_backoff_peek(&b, UINT32_MAX), 30000);
    b.attempt = UINT32_MAX;
    assert_int_equal(k8s_backoff_next(&b), 30000);
    assert_int_equal(k8s_backoff_attempts(&b), UINT32_MAX);
}

static uint64_t fixed_rng(void *ctx)
{
    return *(uint64_t *)ctx;
}

static void test_injected_rng_decides_jitter(void **state)
{
    uint64_t value = 0;
    k8s_backoff b;
    k8s_backoff_opts o = {
        .base_ms = 1000, .cap_ms = 8000, .jitter = 0.5, .rng = fixed_rng, .rng_ctx = &value};
    k8s_backoff_init(&b, &o);
    assert_int_equal(k8s_backoff_next(&b), 500); /* rnd 0 → d * (1 - jitter) */
    value = UINT64_MAX;
    uint64_t d = k8s_backoff_next(&b); /* attempt 1: d = 2000, rnd just under 1 */
    assert_true(d >= 1999 && d <= 2000);
    value = (uint64_t)1 << 63; /* rnd = 0.5 → 0.75 d */
    assert_int_equal(k8s_backoff_next(&b), 3000);
}

static void test_jitter_band_and_determinism(void **state)
{
    k8s_backoff a, b, c;
    k8s_backoff_opts o = {.base_ms = 100, .cap_ms = 10000, .jitter = 1.0, .seed = 42};
    k8s_backoff_init(&a, &o);
    k8s_backoff_init(&b, &o);
    o.seed = 43;
    k8s_backoff_init(&c, &o);
    int differ = 0;
    for (uint32_t i = 0; i < 200; i++) {
        uint64_t cap = k8s_backoff_peek(&a, a.attempt);
        uint64_t x = k8s_backoff_next(&a), y = k8s_backoff_next(&b), z = k8s_backoff_next(&c);
        assert_true(x <= cap);
        assert_int_equal(x, y);
        differ += x != z;
    }
    assert_true(differ > 100);
}

static void test_defaults(void **state)
{
    k8s_backoff b;
    k8s_backoff_init(&b, NULL);
    assert_int_equal(b.opts.base_ms, 100);
    assert_int_equal(b.opts.cap_ms, 30000);
    assert_true(b.opts.factor == 2.0);
    assert_int_equal(k8s_backoff_next(&b), 100);
    k8s_backoff_opts o = {.base_ms = 500, .cap_ms = 10, .jitter = 7.0, .factor = 0.5};
    k8s_backoff_init(&b, &o);
    assert_int_equal(b.opts.cap_ms, 500); /* cap below base is raised to base */
    assert_true(b.opts.jitter == 1.0);
    assert_true(b.opts.factor == 2.0);
    assert_true(k8s_backoff_next(&b) <= 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_exponential),
        cmocka_unit_test(test_cap_holds_for_huge_attempts),
        cmocka_unit_test(test_injected_rng_decides_jitter),
        cmocka_unit_test(test_jitter_band_and_determinism),
        cmocka_unit_test(test_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
