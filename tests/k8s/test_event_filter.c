/* k8s/event_filter: client-go's EventCorrelator rules, on a clock the test moves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "k8s/event_filter.h"

static void test_spam_filter_per_object(void **state)
{
    k8s_event_filter f;
    k8s_event_filter_init(&f, NULL);
    for (int i = 0; i < 25; i++)
        assert_int_equal(k8s_event_filter_admit(&f, 1000, "cm/a|Warning", "Failed", "same"),
                         K8S_EVENT_PASS);
    assert_int_equal(k8s_event_filter_admit(&f, 1000, "cm/a|Warning", "Failed", "same"),
                     K8S_EVENT_DROP_SPAM);
    /* Another object, or the same object's Normal events, have buckets of their own. */
    assert_int_equal(k8s_event_filter_admit(&f, 1000, "cm/b|Warning", "Failed", "same"),
                     K8S_EVENT_PASS);
    assert_int_equal(k8s_event_filter_admit(&f, 1000, "cm/a|Normal", "Synced", "ok"),
                     K8S_EVENT_PASS);
    /* One token back every five minutes, and only one. */
    assert_int_equal(k8s_event_filter_admit(&f, 1000 + 299999, "cm/a|Warning", "Failed", "same"),
                     K8S_EVENT_DROP_SPAM);
    assert_int_equal(k8s_event_filter_admit(&f, 1000 + 300000, "cm/a|Warning", "Failed", "same"),
                     K8S_EVENT_PASS);
    assert_int_equal(k8s_event_filter_admit(&f, 1000 + 300001, "cm/a|Warning", "Failed", "same"),
                     K8S_EVENT_DROP_SPAM);
    k8s_event_filter_clear(&f);
}

static void test_similar_events_combine(void **state)
{
    k8s_event_filter f;
    k8s_event_filter_init(&f, NULL);
    char msg[32];
    for (int i = 0; i < 10; i++) {
        snprintf(msg, sizeof(msg), "object %d failed", i);
        assert_int_equal(k8s_event_filter_admit(&f, 0, "mc/x|Warning", "ApplyFailed", msg),
                         K8S_EVENT_PASS);
    }
    /* The eleventh distinct message and later ones share one combined Event... */
    assert_int_equal(k8s_event_filter_admit(&f, 10, "mc/x|Warning", "ApplyFailed", "object 10"),
                     K8S_EVENT_COMBINE);
    assert_int_equal(k8s_event_filter_admit(&f, 20, "mc/x|Warning", "ApplyFailed", "object 11"),
                     K8S_EVENT_COMBINE);
    /* ...a message seen before is still a repeat of its own Event, another reason is apart... */
    assert_int_equal(
        k8s_event_filter_admit(&f, 30, "mc/x|Warning", "ApplyFailed", "object 3 failed"),
        K8S_EVENT_PASS);
    assert_int_equal(k8s_event_filter_admit(&f, 30, "mc/x|Warning", "Conflict", "object 10"),
                     K8S_EVENT_PASS);
    /* ...and after ten minutes a new window starts. */
    assert_int_equal(k8s_event_filter_admit(&f, 600001, "mc/x|Warning", "ApplyFailed", "object 12"),
                     K8S_EVENT_PASS);
    k8s_event_filter_clear(&f);
}

static void test_routine_budget(void **state)
{
    k8s_event_filter f;
    k8s_event_filter_init(&f, &(k8s_event_filter_opts){.normal_burst = 5, .normal_refill_ms = 100});
    for (int i = 0; i < 5; i++)
        assert_true(k8s_event_filter_take_normal(&f, 50));
    assert_false(k8s_event_filter_take_normal(&f, 50));
    assert_false(k8s_event_filter_take_normal(&f, 149));
    assert_true(k8s_event_filter_take_normal(&f, 150));
    assert_false(k8s_event_filter_take_normal(&f, 150));
    /* A long quiet spell refills to the burst, not beyond. */
    for (int i = 0; i < 5; i++)
        assert_true(k8s_event_filter_take_normal(&f, 100000));
    assert_false(k8s_event_filter_take_normal(&f, 100000));
    k8s_event_filter_clear(&f);
}

static void test_memory_is_bounded(void **state)
{
    k8s_event_filter f;
    k8s_event_filter_init(&f, &(k8s_event_filter_opts){.max_tracked = 8});
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "cm/%d|Normal", i);
        assert_int_equal(k8s_event_filter_admit(&f, (uint64_t)i, key, "Applied", "created"),
                         K8S_EVENT_PASS);
        assert_true(k8s_event_filter_tracked(&f) <= 16);
    }
    k8s_event_filter_clear(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spam_filter_per_object),
        cmocka_unit_test(test_similar_events_combine),
        cmocka_unit_test(test_routine_budget),
        cmocka_unit_test(test_memory_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
