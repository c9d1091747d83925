/*
 * Which Events are worth writing: the rules of client-go's EventCorrelator, as a pure state
 * machine the recorder consults before it writes (no I/O, the caller passes the clock).
 *
 *  - Spam filter: each involved object (with the event's type) has a token bucket, spam_burst
 *    tokens refilled one per spam_refill_ms (client-go: 25, one per 5 minutes). An event that
 *    finds the bucket empty is dropped: an object that is told the same thing on every pass
 *    must not fill etcd with Events.
 *  - Similar events: the first similar_max distinct messages for one (object, type, reason)
 *    within similar_window_ms each get an Event of their own; later distinct messages are
 *    combined into one Event, "(combined from similar events): <latest message>" (client-go:
 *    10 within 10 minutes).
 *  - Routine budget: creating a NEW Normal Event also takes a token from a recorder-wide bucket
 *    (normal_burst, one more per normal_refill_ms). A 1,000-cluster converge reports its first
 *    few hundred objects and counts the rest as dropped instead of creating thousands of Event
 *    objects in a minute. Warnings never draw on it: problems are always reported (subject to
 *    the per-object spam filter).
 *
 * Memory is bounded: at most max_tracked objects and as many (object, type, reason) records
 * are remembered; past that a table is forgotten whole, which only makes the filter briefly more
 * lenient.
 */
#ifndef K8S_EVENT_FILTER_H
#define K8S_EVENT_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s/strmap.h"

typedef struct {
    unsigned spam_burst;        /* 0: 25 */
    uint64_t spam_refill_ms;    /* 0: 300000 */
    unsigned similar_max;       /* 0: 10 */
    uint64_t similar_window_ms; /* 0: 600000 */
    unsigned normal_burst;      /* 0: 100 */
    uint64_t normal_refill_ms;  /* 0: 1000 */
    size_t max_tracked;         /* 0: 4096 */
} k8s_event_filter_opts;

typedef enum {
    K8S_EVENT_PASS = 0,  /* write it as it is */
    K8S_EVENT_COMBINE,   /* write it as the combined Event of its (object, type, reason) */
    K8S_EVENT_DROP_SPAM, /* the object's bucket is empty */
} k8s_event_verdict;

/* Where "(combined from similar events): " is put in front of the message. */
#define K8S_EVENT_COMBINED_PREFIX "(combined from similar events): "

typedef struct {
    k8s_event_filter_opts o;
    k8s__strmap buckets;    /* object key -> per-object token bucket */
    k8s__strmap aggregates; /* object key + reason -> recent distinct messages */
    double normal_tokens;
    uint64_t normal_last_ms;
    int normal_started;
} k8s_event_filter;

void k8s_event_filter_init(k8s_event_filter *f, const k8s_event_filter_opts *opts);
void k8s_event_filter_clear(k8s_event_filter *f);

/*
 * The verdict for one event. object_key identifies the involved object and the event's type
 * (the caller builds it); reason and message as recorded. Returns -ENOMEM (the event should
 * then be written as it is) or a k8s_event_verdict.
 */
int k8s_event_filter_admit(k8s_event_filter *f, uint64_t now_ms, const char *object_key,
                           const char *reason, const char *message);

/* Takes a token from the routine budget for creating a new Normal Event; false when empty. */
bool k8s_event_filter_take_normal(k8s_event_filter *f, uint64_t now_ms);

/* Objects and aggregates remembered now (for tests and the memory bound). */
size_t k8s_event_filter_tracked(const k8s_event_filter *f);

#endif
