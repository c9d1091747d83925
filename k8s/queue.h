/*
 * Work queue of string keys ("namespace/name"), after client-go's workqueue.
 *
 * - A queued key is queued once: adding it again while it waits is a no-op (dirty set).
 * - A key being processed is never handed out again until k8s_queue_done(); adding it during
 *   processing marks it dirty and it is handed out again after done (processing set).
 * - k8s_queue_add_rate_limited() re-queues after max(per-key backoff, global token bucket):
 *   per key 5 ms doubling to 1000 s with jitter, reset by k8s_queue_forget(); bucket 10/s,
 *   burst 100 by default.
 * - k8s_queue_add_after() delays an add; a later, longer delay for a key already waiting does
 *   not push it back.
 * - Shutdown stops new adds and drops delayed ones, hands out what is queued, and reports
 *   "drained" once nothing is queued or being processed.
 *
 * The core (add/get/done/poll) is pure and driven by an injectable clock, so unit tests run it
 * without a loop. k8s_queue_start() attaches it to a libuv loop: timers wake it when delayed
 * keys come due, and a work callback receives keys up to a concurrency limit.
 */
#ifndef K8S_QUEUE_H
#define K8S_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "k8s/backoff.h"
#include "k8s/metrics.h"

typedef struct k8s_queue k8s_queue;

/* Monotonic milliseconds. */
typedef uint64_t (*k8s_clock_fn)(void *ctx);

typedef struct {
    uint64_t base_delay_ms; /* per-key backoff start; 0 means 5 ms */
    uint64_t max_delay_ms;  /* per-key backoff cap; 0 means 1000 s */
    double jitter;          /* fraction of a per-key delay that is randomised; < 0 means none */
    double qps;             /* token bucket refill per second; 0 means 10, < 0 disables */
    unsigned burst;         /* token bucket size; 0 means 100 */
    k8s_clock_fn now;       /* NULL: uv_now() once started, else CLOCK_MONOTONIC */
    void *now_ctx;
    k8s_rng_fn rng; /* NULL: built-in generator seeded with seed */
    void *rng_ctx;
    uint64_t seed;
    /*
     * When set, the queue records what only it can time, as client-go's workqueue does:
     * workqueue_queue_duration_seconds (add to hand-out) and workqueue_work_duration_seconds
     * (hand-out to done), labelled name = controller = metrics_name (copied). The families
     * must be registered (k8s_metrics_register_standard); borrowed, must outlive the queue.
     */
    k8s_metrics *metrics;
    const char *metrics_name;
} k8s_queue_opts;

/*
 * Called from the loop with a key that is now being processed. key is borrowed until
 * k8s_queue_done(q, key), which the worker must call exactly once, now or later.
 */
typedef void (*k8s_queue_work_cb)(k8s_queue *q, const char *key, void *data);
typedef void (*k8s_queue_cb)(k8s_queue *q, void *data);

/* opts may be NULL for the defaults. Returns NULL on allocation failure. */
k8s_queue *k8s_queue_new(const k8s_queue_opts *opts);

/* Frees everything. Call only when not started, or from/after the k8s_queue_close callback. */
void k8s_queue_free(k8s_queue *q);

/* Adds key now. Returns 0, -ESHUTDOWN after shutdown, or -ENOMEM. */
int k8s_queue_add(k8s_queue *q, const char *key);

/* Adds key after delay_ms (0 = now). Same returns as k8s_queue_add. */
int k8s_queue_add_after(k8s_queue *q, const char *key, uint64_t delay_ms);

/* Adds key after its rate-limited delay and counts a failure for it. */
int k8s_queue_add_rate_limited(k8s_queue *q, const char *key);

/* The delay k8s_queue_add_rate_limited would use, consuming a failure and a token. */
uint64_t k8s_queue_rate_limit_delay(k8s_queue *q, const char *key);

/* Stops backing off key: its next failure starts again at the base delay. */
void k8s_queue_forget(k8s_queue *q, const char *key);

/* Failures counted for key since the last forget. */
unsigned k8s_queue_requeues(const k8s_queue *q, const char *key);

/*
 * Hands out the next queued key, marking it processing; NULL when none is ready. The key is
 * borrowed until k8s_queue_done(). Moves delayed keys that have come due first.
 */
const char *k8s_queue_get(k8s_queue *q);

/* Ends processing of key; a re-add that arrived meanwhile queues it again. */
void k8s_queue_done(k8s_queue *q, const char *key);

/* Moves due delayed keys into the queue; returns ms until the next one, or -1 if none wait. */
int64_t k8s_queue_poll(k8s_queue *q);

size_t k8s_queue_len(const k8s_queue *q);        /* queued and ready */
size_t k8s_queue_processing(const k8s_queue *q); /* handed out, not done */
size_t k8s_queue_waiting(const k8s_queue *q);    /* delayed */

/*
 * Refuses further adds and drops delayed keys. Queued keys are still handed out; when none is
 * queued or processing the queue is drained. drained_cb (may be NULL) runs on a later loop turn
 * once drained, if the queue is started.
 */
void k8s_queue_shutdown(k8s_queue *q, k8s_queue_cb drained_cb, void *data);
int k8s_queue_shutting_down(const k8s_queue *q);
int k8s_queue_drained(const k8s_queue *q);

/*
 * Attaches to loop: work_cb gets keys, at most max_workers (0 means 1) at a time. Keys added
 * before start are handed out on the next loop turn, never inside this call.
 */
int k8s_queue_start(k8s_queue *q, uv_loop_t *loop, unsigned max_workers, k8s_queue_work_cb work_cb,
                    void *data);

/*
 * Closes the loop handles; close_cb runs when they are closed, after which q may be freed.
 * On a queue that was never started this does nothing and close_cb is not called.
 */
void k8s_queue_close(k8s_queue *q, k8s_queue_cb close_cb, void *data);

#endif
