/*
 * Proves the work queue's semantics with an injected clock: queued keys are deduplicated; a key
 * being processed is never handed out twice, and a re-add during processing runs after done;
 * per-key backoff starts at 5 ms, doubles, is capped at 1000 s, stays within its jitter band and
 * restarts after forget; delayed adds come due at their time and an earlier delay wins; the
 * token bucket lets a burst of 100 through and then spaces keys 100 ms apart; shutdown refuses
 * adds, drops delayed keys and reports drained only after queued and processing keys finish.
 * A last case drives the queue from a real libuv loop with several workers and checks that every
 * key is processed, never concurrently, and that the loop ends with no open handles.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/queue.h"

static uint64_t fake_now;

static uint64_t clock_fn(void *ctx)
{
    return *(uint64_t *)ctx;
}

static k8s_queue *new_queue(double jitter, double qps, unsigned burst)
{
    fake_now = 1000;
    k8s_queue_opts o = {
        .jitter = jitter, .qps = qps, .burst = burst, .now = clock_fn, .now_ctx = &fake_now};
    k8s_queue *q = k8s_queue_new(&o);
    assert_non_null(q);
    return q;
}

static void test_dedup(void **state)
{
    k8s_queue *q = new_queue(-1, -1, 0);
    assert_int_equal(k8s_queue_add(q, "ns/a"), 0);
    assert_int_equal(k8s_queue_add(q, "ns/b"), 0);
    assert_int_equal(k8s_queue_add(q, "ns/a"), 0);
    assert_int_equal(k8s_queue_len(q), 2);
    assert_string_equal(k8s_queue_get(q), "ns/a");
    assert_string_equal(k8s_queue_get(q), "ns/b");
    assert_null(k8s_queue_get(q));
    k8s_queue_done(q, "ns/a");
    k8s_queue_done(q, "ns/b");
    assert_int_equal(k8s_queue_len(q), 0);
    assert_int_equal(k8s_queue_processing(q), 0);
    k8s_queue_free(q);
}

static void test_no_concurrent_processing(void **state)
{
    k8s_queue *q = new_queue(-1, -1, 0);
    k8s_queue_add(q, "k");
    const char *k = k8s_queue_get(q);
    assert_string_equal(k, "k");
    /* Re-added twice while processing: not handed out, and only once afterwards. */
    k8s_queue_add(q, "k");
    k8s_queue_add(q, "k");
    assert_int_equal(k8s_queue_len(q), 0);
    assert_null(k8s_queue_get(q));
    k8s_queue_done(q, "k");
    assert_int_equal(k8s_queue_len(q), 1);
    assert_string_equal(k8s_queue_get(q), "k");
    assert_null(k8s_queue_get(q));
    k8s_queue_done(q, "k");
    assert_int_equal(k8s_queue_len(q), 0);
    /* done on an unknown key is harmless */
    k8s_queue_done(q, "nope");
    k8s_queue_free(q);
}

static void test_backoff_growth_cap_forget(void **state)
{
    k8s_queue *q = new_queue(-1, -1, 0); /* no jitter, no bucket: the pure per-key curve */
    uint64_t expect = 5;
    for (int i = 0; i < 30; i++) {
        uint64_t d = k8s_queue_rate_limit_delay(q, "k");
        assert_int_equal(d, expect);
        expect = expect * 2 > 1000000 ? 1000000 : expect * 2;
    }
    assert_int_equal(k8s_queue_requeues(q, "k"), 30);
    assert_int_equal(k8s_queue_rate_limit_delay(q, "k"), 1000000);
    /* Another key has its own count. */
    assert_int_equal(k8s_queue_rate_limit_delay(q, "other"), 5);
    k8s_queue_forget(q, "k");
    assert_int_equal(k8s_queue_requeues(q, "k"), 0);
    assert_int_equal(k8s_queue_rate_limit_delay(q, "k"), 5);
    k8s_queue_forget(q, "k");
    k8s_queue_forget(q, "other");
    k8s_queue_free(q);
}

static void test_backoff_jitter_band(void **state)
{
    k8s_queue *q = new_queue(0.5, -1, 0);
    int below = 0;
    for (int round = 0; round < 50; round++) {
        uint64_t base = 5;
        for (int i = 0; i < 10; i++) {
            uint64_t d = k8s_queue_rate_limit_delay(q, "k");
            assert_true(d <= base);
            assert_true(d >= base / 2);
            below += d < base;
            base *= 2;
        }
        k8s_queue_forget(q, "k");
    }
    assert_true(below > 0); /* the jitter is really applied */
    k8s_queue_free(q);
}

static void test_rate_limited_add_is_delayed(void **state)
{
    k8s_queue *q = new_queue(-1, -1, 0);
    assert_int_equal(k8s_queue_add_rate_limited(q, "k"), 0);
    assert_int_equal(k8s_queue_add_rate_limited(q, "k"), 0); /* 10 ms, but 5 ms is earlier */
    assert_null(k8s_queue_get(q));
    assert_int_equal(k8s_queue_waiting(q), 1);
    fake_now += 4;
    assert_null(k8s_queue_get(q));
    fake_now += 1;
    assert_string_equal(k8s_queue_get(q), "k");
    k8s_queue_done(q, "k");
    k8s_queue_forget(q, "k");
    k8s_queue_free(q);
}

static void test_delayed_add(void **state)
{
    k8s_queue *q = new_queue(-1, -1, 0);
    k8s_queue_add_after(q, "a", 100);
    k8s_queue_add_after(q, "b", 500);
    k8s_queue_add_after(q, "b", 50);  /* earlier wins */
    k8s_queue_add_after(q, "a", 900); /* later does not push back */
    assert_int_equal(k8s_queue_waiting(q), 2);
    assert_int_equal(k8s_queue_poll(q), 50);
    assert_null(k8s_queue_get(q));
    fake_now += 50;
    assert_string_equal(k8s_queue_get(q), "b");
    assert_null(k8s_queue_get(q));
    fake_now += 49;
    assert_null(k8s_queue_get(q));
    fake_now += 1;
    assert_string_equal(k8s_queue_get(q), "a");
    assert_int_equal(k8s_queue_poll(q), -1);
    /* A delayed key already queued is not queued twice. */
    k8s_queue_add(q, "c");
    k8s_queue_add_after(q, "c", 10);
    fake_now += 10;
    assert_int_equal(k8s_queue_poll(q), -1);
    assert_int_equal(k8s_queue_len(q), 1);
    k8s_queue_done(q, "a");
    k8s_queue_done(q, "b");
    assert_string_equal(k8s_queue_get(q), "c");
    k8s_queue_done(q, "c");
    assert_int_equal(k8s_queue_len(q), 0);
    k8s_queue_free(q);
}

static void test_token_bucket(void **state)
{
    k8s_queue *q = new_queue(-1, 10, 100);
    char key[32];
    /* 100 distinct first failures pass at the per-key 5 ms. */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(k8s_queue_rate_limit_delay(q, key), 5);
    }
    /* Then each further token is 100 ms after the previous. */
    assert_int_equal(k8s_queue_rate_limit_delay(q, "k100"), 100);
    assert_int_equal(k8s_queue_rate_limit_delay(q, "k101"), 200);
    assert_int_equal(k8s_queue_rate_limit_delay(q, "k102"), 300);
    /* After a second, ten tokens came back and pay off the three reservations. */
    fake_now += 1000;
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "z%d", i);
        assert_int_equal(k8s_queue_rate_limit_delay(q, key), 5);
    }
    assert_int_equal(k8s_queue_rate_limit_delay(q, "z7"), 100);
    /* Configurable: 2/s burst 1. */
    k8s_queue_free(q);
    q = new_queue(-1, 2, 1);
    assert_int_equal(k8s_queue_rate_limit_delay(q, "a"), 5);
    assert_int_equal(k8s_queue_rate_limit_delay(q, "b"), 500);
    assert_int_equal(k8s_queue_rate_limit_delay(q, "c"), 1000);
    k8s_queue_free(q);
}

static void test_shutdown_drain(void **state)
{
    k8s_queue *q = new_queue(-1, -1, 0);
    k8s_queue_add(q, "a");
    k8s_queue_add(q, "b");
    k8s_queue_add_after(q, "later", 10);
    assert_string_equal(k8s_queue_get(q), "a");
    k8s_queue_shutdown(q, NULL, NULL);
    assert_true(k8s_queue_shutting_down(q));
    assert_int_equal(k8s_queue_add(q, "c"), -ESHUTDOWN);
    assert_int_equal(k8s_queue_add_after(q, "c", 5), -ESHUTDOWN);
    assert_int_equal(k8s_queue_add_rate_limited(q, "c"), -ESHUTDOWN);
    assert_int_equal(k8s_queue_waiting(q), 0);
    assert_false(k8s_queue_drained(q));
    /* Queued keys are still handed out. */
    assert_string_equal(k8s_queue_get(q), "b");
    fake_now += 100;
    assert_null(k8s_queue_get(q));
    k8s_queue_done(q, "a");
    assert_false(k8s_queue_drained(q));
    k8s_queue_done(q, "b");
    assert_true(k8s_queue_drained(q));
    k8s_queue_free(q);
}

/* ------------------------------------------------------------------------------------------ */
/* Driven by a libuv loop                                                                      */
/* ------------------------------------------------------------------------------------------ */

#define NKEYS 20

typedef struct {
    uv_loop_t *loop;
    k8s_queue *q;
    int processed[NKEYS];
    int active[NKEYS];
    int max_parallel, parallel;
    int readded[NKEYS];
    int failed_once[NKEYS];
    int drained, closed;
    int total;
} run_ctx;

static int expected_runs(int i)
{
    return 1 + (i % 2 == 0) + (i % 3 == 0 && i % 2 != 0);
}

static int expected_total(void)
{
    int n = 0;
    for (int i = 0; i < NKEYS; i++)
        n += expected_runs(i);
    return n;
}

static void on_queue_drained(k8s_queue *q, void *data);

typedef struct {
    uv_timer_t timer;
    run_ctx *ctx;
    int idx;
} job;

static void on_job_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_job_timer(uv_timer_t *t)
{
    job *j = t->data;
    run_ctx *c = j->ctx;
    char key[16];
    snprintf(key, sizeof(key), "k%d", j->idx);
    c->active[j->idx] = 0;
    c->parallel--;
    c->processed[j->idx]++;
    if (!c->failed_once[j->idx] && j->idx % 3 == 0 && j->idx % 2 != 0) {
        c->failed_once[j->idx] = 1;
        assert_int_equal(k8s_queue_add_rate_limited(c->q, key), 0);
    } else {
        k8s_queue_forget(c->q, key);
    }
    k8s_queue_done(c->q, key);
    uv_close((uv_handle_t *)t, on_job_closed);
    /* Shut down once all planned runs finished, so no delayed retry is cut off. */
    if (++c->total == expected_total())
        k8s_queue_shutdown(c->q, on_queue_drained, c);
}

static void on_queue_drained(k8s_queue *q, void *data)
{
    run_ctx *c = data;
    c->drained = 1;
}

static void on_queue_closed(k8s_queue *q, void *data)
{
    run_ctx *c = data;
    c->closed = 1;
}

static void on_work(k8s_queue *q, const char *key, void *data)
{
    run_ctx *c = data;
    int idx = atoi(key + 1);
    assert_false(c->active[idx]); /* never processed twice at once */
    c->active[idx] = 1;
    if (++c->parallel > c->max_parallel)
        c->max_parallel = c->parallel;
    /* Re-add while processing: must run again after this run is done. */
    if (!c->readded[idx] && idx % 2 == 0) {
        c->readded[idx] = 1;
        assert_int_equal(k8s_queue_add(q, key), 0);
    }
    job *j = calloc(1, sizeof(*j));
    j->ctx = c;
    j->idx = idx;
    uv_timer_init(c->loop, &j->timer);
    j->timer.data = j;
    uv_timer_start(&j->timer, on_job_timer, 1 + idx % 3, 0);
}

static void test_uv_driver(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    run_ctx c = {.loop = &loop};
    k8s_queue_opts o = {.seed = 42};
    c.q = k8s_queue_new(&o);
    char key[16];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        k8s_queue_add(c.q, key);
        k8s_queue_add(c.q, key);
    }
    assert_int_equal(k8s_queue_start(c.q, &loop, 4, on_work, &c), 0);
    /* Nothing is handed out inside start. */
    assert_int_equal(k8s_queue_processing(c.q), 0);

    /* Bounded: run until drained (the queue's handles keep the loop alive until closed). */
    for (int i = 0; i < 100000 && !c.drained; i++)
        uv_run(&loop, UV_RUN_ONCE);
    assert_true(c.drained);
    k8s_queue_close(c.q, on_queue_closed, &c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(c.closed);
    assert_int_equal(uv_loop_close(&loop), 0); /* no handle left open */
    k8s_queue_free(c.q);

    for (int i = 0; i < NKEYS; i++)
        assert_int_equal(c.processed[i], expected_runs(i));
    assert_true(c.max_parallel <= 4);
    assert_true(c.max_parallel >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_no_concurrent_processing),
        cmocka_unit_test(test_backoff_growth_cap_forget),
        cmocka_unit_test(test_backoff_jitter_band),
        cmocka_unit_test(test_rate_limited_add_is_delayed),
        cmocka_unit_test(test_delayed_add),
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_shutdown_drain),
        cmocka_unit_test(test_uv_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
