/*
 * Proves k8s/runner on a real libuv loop: a key is reconciled once per add (adds while it
 * waits coalesce); an error result hands it out again with backoff until a success, and the
 * reconcile metrics count each result; requeue_after brings it back by itself; a finish on a
 * later loop turn (asynchronous reconcile) works; ready() = false drops the key until the
 * next add; stop lets the running job finish and calls back on a later turn, never inside
 * k8s_runner_close, after which adds are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/runner.h"

struct world {
    uv_loop_t loop;
    k8s_metrics *metrics;
    k8s_runner *rn;
    int calls;
    int fail_first;    /* results ERROR for this many calls */
    int requeue_first; /* then REQUEUE_AFTER for this many */
    bool ready;
    bool async;           /* finish on a timer, not inside reconcile */
    k8s_runner_job *held; /* the async job */
    uv_timer_t finish_timer, stop_timer;
    bool stopped;
    bool stop_returned;
    uint64_t busy_ns; /* a synchronous reconcile spins this long before it finishes */
};

static k8s_result next_result(struct world *w)
{
    if (w->calls <= w->fail_first)
        return (k8s_result){.kind = K8S_RESULT_ERROR};
    if (w->calls <= w->fail_first + w->requeue_first)
        return (k8s_result){.kind = K8S_RESULT_REQUEUE_AFTER, .after_ms = 5};
    return (k8s_result){.kind = K8S_RESULT_DONE};
}

static void on_finish_timer(uv_timer_t *t)
{
    struct world *w = t->data;
    k8s_runner_job *job = w->held;
    w->held = NULL;
    k8s_runner_finish(job, next_result(w));
}

static void reconcile(k8s_runner_job *job, void *data)
{
    struct world *w = data;
    assert_string_equal(k8s_runner_job_key(job), "ns/one");
    w->calls++;
    for (uint64_t t0 = uv_hrtime(); uv_hrtime() - t0 < w->busy_ns;)
        ; /* work without a loop turn: uv_now does not move */
    if (w->async) {
        w->held = job;
        uv_timer_start(&w->finish_timer, on_finish_timer, 2, 0);
        return;
    }
    k8s_runner_finish(job, next_result(w));
}

static bool ready(void *data)
{
    return ((struct world *)data)->ready;
}

static double counter(struct world *w, const char *family, const char *const *labels)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(k8s_metrics_render(w->metrics, &text, &len), 0);
    char needle[256];
    snprintf(needle, sizeof(needle), "%s{controller=\"%s\"%s%s%s} ", family, labels[0],
             labels[1] ? ",result=\"" : "", labels[1] ? labels[1] : "", labels[1] ? "\"" : "");
    const char *at = strstr(text, needle);
    double v = at ? strtod(at + strlen(needle), NULL) : -1;
    free(text);
    return v;
}

static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    assert_int_equal(uv_loop_init(&w->loop), 0);
    w->metrics = k8s_metrics_new();
    assert_non_null(w->metrics);
    assert_int_equal(k8s_metrics_register_standard(w->metrics, "test", "v0"), 0);
    /* Fast backoff: the error retries come within milliseconds. */
    k8s_queue_opts qo = {.base_delay_ms = 1, .max_delay_ms = 4, .jitter = -1, .qps = -1};
    k8s_runner_opts o = {.name = "things",
                         .metrics = w->metrics,
                         .reconcile = reconcile,
                         .ready = ready,
                         .data = w,
                         .queue = &qo};
    assert_int_equal(k8s_runner_new(&o, &w->rn), 0);
    uv_timer_init(&w->loop, &w->finish_timer);
    uv_timer_init(&w->loop, &w->stop_timer);
    w->finish_timer.data = w->stop_timer.data = w;
    w->ready = true;
    assert_int_equal(k8s_runner_start(w->rn, &w->loop), 0);
}

static void on_stopped(k8s_runner *rn, void *data)
{
    (void)rn;
    struct world *w = data;
    assert_true(w->stop_returned); /* never inside k8s_runner_close */
    w->stopped = true;
    uv_close((uv_handle_t *)&w->finish_timer, NULL);
    uv_close((uv_handle_t *)&w->stop_timer, NULL);
}

static void stop(struct world *w)
{
    k8s_runner_close(w->rn, on_stopped, w);
    w->stop_returned = true;
}

static void on_stop_timer(uv_timer_t *t)
{
    stop(t->data);
}

static void world_run(struct world *w, uint64_t stop_after_ms)
{
    uv_timer_start(&w->stop_timer, on_stop_timer, stop_after_ms, 0);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    assert_true(w->stopped);
    assert_int_equal(k8s_runner_add(w->rn, "ns/one"), -ESHUTDOWN);
}

static void world_close(struct world *w)
{
    k8s_runner_free(w->rn);
    k8s_metrics_free(w->metrics);
    assert_int_equal(uv_loop_close(&w->loop), 0);
}

static void test_adds_coalesce(void **state)
{
    (void)state;
    struct world w;
    world_init(&w);
    for (int i = 0; i < 5; i++)
        assert_int_equal(k8s_runner_add(w.rn, "ns/one"), 0);
    world_run(&w, 30);
    assert_int_equal(w.calls, 1);
    assert_true(counter(&w, "controller_runtime_reconcile_total",
                        (const char *[]){"things", "success"}) == 1.0);
    world_close(&w);
}

/* A reconcile that finishes inside one loop iteration is timed by the clock, not by the loop's
 * cached time (which said 0 s for a pass of 4 ms at 1,000 MeshClusters). */
static void test_reconcile_time_counts_synchronous_work(void **state)
{
    (void)state;
    struct world w;
    world_init(&w);
    w.busy_ns = 20 * 1000 * 1000;
    assert_int_equal(k8s_runner_add(w.rn, "ns/one"), 0);
    world_run(&w, 60);
    assert_int_equal(w.calls, 1);
    double sum = counter(&w, "controller_runtime_reconcile_time_seconds_sum",
                         (const char *[]){"things", NULL});
    assert_true(sum >= 0.019 && sum < 1.0);
    world_close(&w);
}

static void test_errors_retry_until_success(void **state)
{
    (void)state;
    struct world w;
    world_init(&w);
    w.fail_first = 3;
    w.requeue_first = 2;
    k8s_runner_add(w.rn, "ns/one");
    world_run(&w, 200);
    /* 3 errors, 2 requeue_after, then success: nothing added it after the first time. */
    assert_int_equal(w.calls, 6);
    assert_true(counter(&w, "controller_runtime_reconcile_total",
                        (const char *[]){"things", "error"}) == 3.0);
    assert_true(counter(&w, "controller_runtime_reconcile_total",
                        (const char *[]){"things", "requeue_after"}) == 2.0);
    assert_true(counter(&w, "controller_runtime_reconcile_errors_total",
                        (const char *[]){"things", NULL}) == 3.0);
    world_close(&w);
}

static void test_async_finish(void **state)
{
    (void)state;
    struct world w;
    world_init(&w);
    w.async = true;
    w.fail_first = 1;
    k8s_runner_add(w.rn, "ns/one");
    world_run(&w, 100);
    assert_int_equal(w.calls, 2);
    assert_null(w.held);
    world_close(&w);
}

static void test_not_ready_drops(void **state)
{
    (void)state;
    struct world w;
    world_init(&w);
    w.ready = false;
    k8s_runner_add(w.rn, "ns/one");
    world_run(&w, 30);
    assert_int_equal(w.calls, 0);
    world_close(&w);
}

static void test_stop_waits_for_running_job(void **state)
{
    (void)state;
    struct world w;
    world_init(&w);
    w.async = true;
    k8s_runner_add(w.rn, "ns/one");
    /* Stop at 1 ms, while the job (finishing at ~2 ms) runs: the callback comes after it. */
    world_run(&w, 1);
    assert_int_equal(w.calls, 1);
    assert_null(w.held);
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adds_coalesce),
        cmocka_unit_test(test_reconcile_time_counts_synchronous_work),
        cmocka_unit_test(test_errors_retry_until_success),
        cmocka_unit_test(test_async_finish),
        cmocka_unit_test(test_not_ready_drops),
        cmocka_unit_test(test_stop_waits_for_running_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
