/*
 * A controller loop in the shape of controller-runtime's Reconciler/Result and kube-rs's
 * Controller/Action: keys come from a work queue, each is handed to the user's reconcile
 * function (asynchronous: it may finish on a later loop turn), and the result the user gives
 * back decides what happens to the key next. The runner knows nothing of what it reconciles;
 * it owns the queue's bookkeeping (done/forget/requeue), the reconcile metrics and the
 * shutdown order, so a reconciler only decides.
 *
 *   k8s_runner_new -> k8s_runner_start -> k8s_runner_add ... -> k8s_runner_close(cb) ->
 *   k8s_runner_free (after cb)
 */
#ifndef MC_K8S_RUNNER_H
#define MC_K8S_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "k8s/metrics.h"
#include "k8s/queue.h"

typedef struct k8s_runner k8s_runner;
typedef struct k8s_runner_job k8s_runner_job; /* one key being reconciled */

typedef enum k8s_result_kind {
    K8S_RESULT_DONE,          /* converged: forget the key's backoff */
    K8S_RESULT_REQUEUE_AFTER, /* converged for now; look again after after_ms (a backstop) */
    K8S_RESULT_ERROR,         /* failed: requeue with the key's growing backoff */
} k8s_result_kind;

typedef struct k8s_result {
    k8s_result_kind kind;
    uint64_t after_ms; /* K8S_RESULT_REQUEUE_AFTER only */
} k8s_result;

/*
 * Starts reconciling job's key. Must end in exactly one k8s_runner_finish(job, ...), now or on
 * a later loop turn.
 */
typedef void (*k8s_reconcile_fn)(k8s_runner_job *job, void *data);
/* false: the key is not reconciled now (caches not synced, not the leader); it is dropped
 * until the next add, as a reconcile that could act on partial knowledge must not run. */
typedef bool (*k8s_runner_ready_fn)(void *data);

typedef struct k8s_runner_opts {
    const char *name;     /* the controller label of its metrics; copied */
    k8s_metrics *metrics; /* optional; borrowed, must outlive the runner */
    k8s_reconcile_fn reconcile;
    k8s_runner_ready_fn ready; /* optional: always ready */
    void *data;
    unsigned max_workers;        /* keys reconciled at once; 0 means 1 */
    const k8s_queue_opts *queue; /* optional backoff and rate settings (metrics are set here) */
} k8s_runner_opts;

/* 0, -EINVAL or -ENOMEM. */
int k8s_runner_new(const k8s_runner_opts *opts, k8s_runner **out);
int k8s_runner_start(k8s_runner *rn, uv_loop_t *loop);
/* Queues key (copied); a no-op while it waits, re-handed out after the current run if it is
 * being reconciled. 0, or -ESHUTDOWN once stopping. */
int k8s_runner_add(k8s_runner *rn, const char *key);
size_t k8s_runner_queued(const k8s_runner *rn);

const char *k8s_runner_job_key(const k8s_runner_job *job);
/* Ends job (freed here): records the reconcile metrics and requeues as res says. */
void k8s_runner_finish(k8s_runner_job *job, k8s_result res);

/*
 * Stops taking keys, lets the jobs running now finish, closes the loop handles, then calls
 * cb on a later loop turn (never inside this call). A runner never started has nothing to
 * stop: cb is not called and it may be freed at once.
 */
void k8s_runner_close(k8s_runner *rn, void (*cb)(k8s_runner *rn, void *data), void *data);
void k8s_runner_free(k8s_runner *rn);

#endif
