/*
 * A registry of Prometheus metrics: counters, gauges and histograms, each a family with a fixed
 * list of label names, rendered in the Prometheus text exposition format 0.0.4.
 *
 * There is no default registry: the caller creates one k8s_metrics and passes it to whatever
 * records into it. Families are rendered sorted by name and series sorted by label values, so
 * the output is deterministic (and matches what client_golang writes for the same data).
 *
 * A registry is not thread-safe; it lives on the loop thread with everything that records into
 * it. Family handles stay valid until k8s_metrics_free().
 *
 * Label values for a series are passed as an array in the family's label order, its length
 * being the family's label count; a compound literal reads well at call sites:
 *     k8s_metric_inc(total, (const char *[]){"meshcluster", "success"});
 * A family without labels takes NULL.
 */
#ifndef K8S_METRICS_H
#define K8S_METRICS_H

#include <stddef.h>

typedef struct k8s_metrics k8s_metrics;
typedef struct k8s_metric k8s_metric;

typedef enum {
    K8S_METRIC_COUNTER,
    K8S_METRIC_GAUGE,
    K8S_METRIC_HISTOGRAM,
} k8s_metric_type;

/* Returns NULL on allocation failure. */
k8s_metrics *k8s_metrics_new(void);

/* Frees the registry and every family in it. NULL is a no-op. */
void k8s_metrics_free(k8s_metrics *m);

/*
 * Registers a family. labels is a NULL-terminated list of label names (copied), or NULL for
 * none. Registering a name again with the same type, labels and buckets returns the existing
 * family, so independent modules may each register what they use. Returns NULL when the name or
 * a label name is invalid, when the name is taken by a family of another shape, or on
 * allocation failure. A family without labels has its single series from the start (at 0).
 */
k8s_metric *k8s_metrics_counter(k8s_metrics *m, const char *name, const char *help,
                                const char *const *labels);
k8s_metric *k8s_metrics_gauge(k8s_metrics *m, const char *name, const char *help,
                              const char *const *labels);

/*
 * buckets are the upper bounds, strictly increasing (copied); a trailing +Inf may be given or
 * not, it is always exposed. The label name "le" is reserved.
 */
k8s_metric *k8s_metrics_histogram(k8s_metrics *m, const char *name, const char *help,
                                  const char *const *labels, const double *buckets,
                                  size_t nbuckets);

/* The family registered under name, or NULL. */
k8s_metric *k8s_metrics_find(const k8s_metrics *m, const char *name);

k8s_metric_type k8s_metric_type_of(const k8s_metric *f);

/*
 * Series updates. Each creates the series on first use. They return 0, -EINVAL when the
 * operation does not fit the family's type (a negative counter increment, set on a counter,
 * observe on a non-histogram, NaN into a counter), or -ENOMEM.
 */
int k8s_metric_add(k8s_metric *f, const char *const *values, double delta); /* counter, gauge */
int k8s_metric_inc(k8s_metric *f, const char *const *values);               /* counter, gauge */
int k8s_metric_set(k8s_metric *f, const char *const *values, double v);     /* gauge */
int k8s_metric_observe(k8s_metric *f, const char *const *values, double v); /* histogram */

/* Creates the series at zero without changing it, so it is exposed before anything happens. */
int k8s_metric_touch(k8s_metric *f, const char *const *values);

/* Drops a series (for example a lease no longer held or a queue that is gone). 0 or -ENOENT. */
int k8s_metric_remove(k8s_metric *f, const char *const *values);

/*
 * Reads a series: the value of a counter or gauge, the observation count of a histogram.
 * Returns 0, or -ENOENT when the series does not exist.
 */
int k8s_metric_get(const k8s_metric *f, const char *const *values, double *out);

/* A histogram series' sum of observations. 0, -ENOENT or -EINVAL (not a histogram). */
int k8s_metric_get_sum(const k8s_metric *f, const char *const *values, double *out);

/*
 * Renders the whole registry in the text format, version 0.0.4. On success *out is a
 * NUL-terminated string the caller frees, *len its length. Returns 0 or -ENOMEM.
 */
int k8s_metrics_render(const k8s_metrics *m, char **out, size_t *len);

/* The Content-Type a server sends with k8s_metrics_render()'s output. */
#define K8S_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---------------------------------------------------------------------------------------- */
/* The metric names of client-go and controller-runtime, so existing dashboards work.        */
/* ---------------------------------------------------------------------------------------- */

/* Work queue: labels name, controller (controller-runtime sets both to the queue name). */
#define K8S_M_WORKQUEUE_DEPTH           "workqueue_depth"
#define K8S_M_WORKQUEUE_ADDS            "workqueue_adds_total"
#define K8S_M_WORKQUEUE_QUEUE_DURATION  "workqueue_queue_duration_seconds"
#define K8S_M_WORKQUEUE_WORK_DURATION   "workqueue_work_duration_seconds"
#define K8S_M_WORKQUEUE_RETRIES         "workqueue_retries_total"
#define K8S_M_WORKQUEUE_UNFINISHED      "workqueue_unfinished_work_seconds"
#define K8S_M_WORKQUEUE_LONGEST_RUNNING "workqueue_longest_running_processor_seconds"
/* Reconciler: label controller, plus result = success|error|requeue|requeue_after on total. */
#define K8S_M_RECONCILE_TOTAL  "controller_runtime_reconcile_total"
#define K8S_M_RECONCILE_ERRORS "controller_runtime_reconcile_errors_total"
#define K8S_M_RECONCILE_TIME   "controller_runtime_reconcile_time_seconds"
/* REST client: labels code, method, host; duration labels verb, host. */
#define K8S_M_REST_REQUESTS "rest_client_requests_total"
#define K8S_M_REST_DURATION "rest_client_request_duration_seconds"
/* Leader election: label name (the lease). 1 while leading, 0 on standby. */
#define K8S_M_LEADER_STATUS "leader_election_master_status"
/*
 * The runtime's own families. k8s/ knows no product name: their full names are the prefix the
 * program passes to k8s_metrics_register_standard(), "_", then these suffixes (prefix
 * "meshcluster" gives meshcluster_watch_restarts_total). Look them up with
 * k8s_metrics_find_own().
 */
#define K8S_M_WATCH_RESTARTS  "watch_restarts_total" /* label resource */
#define K8S_M_RELISTS         "relists_total"        /* label resource */
#define K8S_M_MANAGED_OBJECTS "managed_objects"      /* label kind */
#define K8S_M_BUILD_INFO      "build_info"           /* label version */

/*
 * Registers every family above with the help texts and buckets client-go and controller-runtime
 * use, the runtime's own under prefix, and sets <prefix>_build_info{version} to 1. Safe to call
 * more than once with the same prefix. Returns 0, -EINVAL (also for another prefix than the
 * first call's) or -ENOMEM.
 */
int k8s_metrics_register_standard(k8s_metrics *m, const char *prefix, const char *version);

/* One of the runtime's own families by suffix (K8S_M_RELISTS, ...), or NULL. */
k8s_metric *k8s_metrics_find_own(const k8s_metrics *m, const char *suffix);

/* Creates the work-queue series for queue name at zero. */
int k8s_metrics_register_workqueue(k8s_metrics *m, const char *name);

/* Creates a controller's reconcile series at zero, one per result. */
int k8s_metrics_register_controller(k8s_metrics *m, const char *controller);

/*
 * Records one reconcile as controller-runtime does: reconcile_total{controller, result} + 1,
 * reconcile_errors_total + 1 when result is "error", and the duration in reconcile_time_seconds.
 * result is one of success, error, requeue, requeue_after (else -EINVAL). Needs the standard
 * families (-ENOENT without them).
 */
int k8s_metrics_record_reconcile(k8s_metrics *m, const char *controller, const char *result,
                                 double seconds);

/*
 * Records one API request as client-go does: rest_client_requests_total{code, method, host} + 1
 * with code the HTTP status, or "<error>" when code <= 0 (no response), and the duration under
 * rest_client_request_duration_seconds{verb, host}. method is the HTTP method ("GET", "PATCH").
 */
int k8s_metrics_record_request(k8s_metrics *m, const char *method, const char *host, int code,
                               double seconds);

#endif
