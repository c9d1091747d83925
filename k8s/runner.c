/*
 * The controller loop: the queue hands out a key, the runner wraps it in a job, asks the
 * user's ready() and reconcile(), and turns the job's result into queue bookkeeping and the
 * controller-runtime metrics. The key's time is measured here, from hand-out to finish.
 */
#include "k8s/runner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct k8s_runner {
    char *name;
    k8s_metrics *metrics;
    k8s_reconcile_fn reconcile;
    k8s_runner_ready_fn ready;
    void *data;
    unsigned max_workers;
    k8s_queue *queue;
    uv_loop_t *loop;
    bool started, stopping;
    void (*stop_cb)(k8s_runner *rn, void *data);
    void *stop_data;
};

struct k8s_runner_job {
    k8s_runner *rn;
    const char *key; /* borrowed from the queue until k8s_queue_done */
    /* uv_hrtime at hand-out: uv_now is the loop's cached time, and a reconcile that finishes
     * within one loop iteration (no request) measured 0 s with it, however long it ran. */
    uint64_t started_ns;
};

int k8s_runner_new(const k8s_runner_opts *opts, k8s_runner **out)
{
    if (!opts || !opts->name || !opts->reconcile || !out)
        return -EINVAL;
    k8s_runner *rn = calloc(1, sizeof(*rn));
    if (!rn)
        return -ENOMEM;
    k8s_queue_opts qo = opts->queue ? *opts->queue : (k8s_queue_opts){0};
    /* The queue times its own keys into the workqueue duration histograms. */
    qo.metrics = opts->metrics;
    qo.metrics_name = opts->name;
    rn->name = strdup(opts->name);
    rn->queue = k8s_queue_new(&qo);
    if (!rn->name || !rn->queue) {
        k8s_runner_free(rn);
        return -ENOMEM;
    }
    rn->metrics = opts->metrics;
    rn->reconcile = opts->reconcile;
    rn->ready = opts->ready;
    rn->data = opts->data;
    rn->max_workers = opts->max_workers ? opts->max_workers : 1;
    if (rn->metrics && (k8s_metrics_register_workqueue(rn->metrics, rn->name) != 0 ||
                        k8s_metrics_register_controller(rn->metrics, rn->name) != 0)) {
        k8s_runner_free(rn);
        return -ENOMEM;
    }
    *out = rn;
    return 0;
}

static void metric_inc(k8s_runner *rn, const char *family, const char *const *labels)
{
    k8s_metric *m = rn->metrics ? k8s_metrics_find(rn->metrics, family) : NULL;
    if (m)
        k8s_metric_inc(m, labels);
}

static void on_work(k8s_queue *q, const char *key, void *data)
{
    k8s_runner *rn = data;
    k8s_metric *depth = rn->metrics ? k8s_metrics_find(rn->metrics, K8S_M_WORKQUEUE_DEPTH) : NULL;
    if (depth)
        k8s_metric_set(depth, (const char *[]){rn->name, rn->name}, (double)k8s_queue_len(q));
    if (rn->stopping || (rn->ready && !rn->ready(rn->data))) {
        k8s_queue_done(q, key);
        return;
    }
    k8s_runner_job *job = calloc(1, sizeof(*job));
    if (!job) {
        /* Nothing was attempted: try again later rather than lose the key. */
        k8s_queue_add_rate_limited(q, key);
        k8s_queue_done(q, key);
        return;
    }
    job->rn = rn;
    job->key = key;
    job->started_ns = uv_hrtime();
    rn->reconcile(job, rn->data);
}

int k8s_runner_start(k8s_runner *rn, uv_loop_t *loop)
{
    if (!rn || !loop || rn->started)
        return -EINVAL;
    rn->loop = loop;
    int rc = k8s_queue_start(rn->queue, loop, rn->max_workers, on_work, rn);
    if (rc == 0)
        rn->started = true;
    return rc;
}

int k8s_runner_add(k8s_runner *rn, const char *key)
{
    if (rn->stopping)
        return -ESHUTDOWN;
    int rc = k8s_queue_add(rn->queue, key);
    if (rc == 0)
        metric_inc(rn, K8S_M_WORKQUEUE_ADDS, (const char *[]){rn->name, rn->name});
    return rc;
}

size_t k8s_runner_queued(const k8s_runner *rn)
{
    return k8s_queue_len(rn->queue);
}

const char *k8s_runner_job_key(const k8s_runner_job *job)
{
    return job->key;
}

static const char *result_label(k8s_result_kind kind)
{
    switch (kind) {
    case K8S_RESULT_ERROR:
        return "error";
    case K8S_RESULT_REQUEUE_AFTER:
        return "requeue_after";
    case K8S_RESULT_DONE:
        break;
    }
    return "success";
}

void k8s_runner_finish(k8s_runner_job *job, k8s_result res)
{
    k8s_runner *rn = job->rn;
    const char *key = job->key;
    double secs = (double)(uv_hrtime() - job->started_ns) / 1e9;
    metric_inc(rn, K8S_M_RECONCILE_TOTAL, (const char *[]){rn->name, result_label(res.kind)});
    k8s_metric *t = rn->metrics ? k8s_metrics_find(rn->metrics, K8S_M_RECONCILE_TIME) : NULL;
    if (t)
        k8s_metric_observe(t, (const char *[]){rn->name}, secs);
    if (res.kind == K8S_RESULT_ERROR) {
        metric_inc(rn, K8S_M_RECONCILE_ERRORS, (const char *[]){rn->name});
        if (!rn->stopping) {
            k8s_queue_add_rate_limited(rn->queue, key);
            metric_inc(rn, K8S_M_WORKQUEUE_RETRIES, (const char *[]){rn->name, rn->name});
        }
    } else {
        k8s_queue_forget(rn->queue, key);
        if (res.kind == K8S_RESULT_REQUEUE_AFTER && !rn->stopping)
            k8s_queue_add_after(rn->queue, key, res.after_ms);
    }
    free(job);
    k8s_queue_done(rn->queue, key); /* key is the queue's: it goes last */
}

static void on_closed(k8s_queue *q, void *data)
{
    (void)q;
    k8s_runner *rn = data;
    void (*cb)(k8s_runner *, void *) = rn->stop_cb;
    rn->stop_cb = NULL;
    if (cb)
        cb(rn, rn->stop_data);
}

static void on_drained(k8s_queue *q, void *data)
{
    k8s_queue_close(q, on_closed, data);
}

void k8s_runner_close(k8s_runner *rn, void (*cb)(k8s_runner *rn, void *data), void *data)
{
    if (rn->stopping)
        return;
    rn->stopping = true;
    rn->stop_cb = cb;
    rn->stop_data = data;
    if (rn->started)
        k8s_queue_shutdown(rn->queue, on_drained, rn);
}

void k8s_runner_free(k8s_runner *rn)
{
    if (!rn)
        return;
    if (rn->queue)
        k8s_queue_free(rn->queue);
    free(rn->name);
    free(rn);
}
