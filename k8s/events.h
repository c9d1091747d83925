/*
 * core/v1 Event recorder that aggregates repeats instead of flooding the API server.
 *
 * An event is identified by (involved object, type, reason, message). The first occurrence is
 * created (POST); each repeat bumps count and lastTimestamp on that same Event with a merge
 * PATCH. Repeats that arrive while a write is in flight are folded into the next write, so a
 * burst of N identical events costs at most a couple of requests. The cache of recent events is
 * bounded (least recently used entries are forgotten; a forgotten repeat starts a new Event).
 * Recording is fire-and-forget: failures are counted, never reported to the caller, because an
 * event must not make a reconcile fail.
 *
 * Before anything is written, client-go's EventCorrelator rules apply (k8s/event_filter.h): a
 * per-object spam filter, similar events with different messages combined into one, and a
 * recorder-wide budget for creating new Normal Events. What they drop is counted in the stats.
 */
#ifndef K8S_EVENTS_H
#define K8S_EVENTS_H

#include <stddef.h>

#include "k8s/event_filter.h"
#include "k8s/request.h"

typedef struct k8s_event_recorder k8s_event_recorder;

typedef struct {
    const char *component;        /* source.component and reportingComponent, required; copied */
    const char *instance;         /* reportingInstance (e.g. the pod name); optional; copied */
    size_t max_cached;            /* distinct events remembered; 0: 256 */
    k8s_event_filter_opts filter; /* zeroes: client-go's numbers, see event_filter.h */
} k8s_event_recorder_opts;

typedef struct {
    unsigned long created;        /* POSTs that succeeded */
    unsigned long patched;        /* PATCHes that succeeded */
    unsigned long failed;         /* writes that failed */
    unsigned long recorded;       /* k8s_event_record calls accepted */
    unsigned long evicted;        /* cache entries forgotten */
    unsigned long dropped_spam;   /* refused by the per-object spam filter */
    unsigned long dropped_budget; /* new Normal Events over the routine budget */
    unsigned long combined;       /* recorded into a "combined from similar events" Event */
} k8s_event_stats;

/* c is borrowed and must outlive the recorder. Returns 0, -EINVAL or -ENOMEM. */
int k8s_event_recorder_new(k8s_client *c, const k8s_event_recorder_opts *opts,
                           k8s_event_recorder **out);

/*
 * Records an event about obj (borrowed; its apiVersion, kind, metadata name/namespace/uid are
 * copied). type is "Normal" or "Warning"; reason is CamelCase. Returns 0, -EINVAL, -ENOMEM or
 * -ESHUTDOWN. The write happens on a later loop turn.
 */
int k8s_event_record(k8s_event_recorder *r, const cJSON *obj, const char *type, const char *reason,
                     const char *message);

/*
 * Cancels writes in flight; cb (may be NULL) runs when none is left (from inside this call when
 * nothing was in flight), after which free is allowed.
 */
void k8s_event_recorder_close(k8s_event_recorder *r, void (*cb)(k8s_event_recorder *r, void *data),
                              void *data);

void k8s_event_recorder_free(k8s_event_recorder *r);

void k8s_event_recorder_get_stats(const k8s_event_recorder *r, k8s_event_stats *out);

/* Number of requests in flight (for tests). */
size_t k8s_event_recorder_in_flight(const k8s_event_recorder *r);

#endif
