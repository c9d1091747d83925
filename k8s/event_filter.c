/* client-go's EventCorrelator rules as a pure state machine; see event_filter.h. */
#include "k8s/event_filter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double tokens;
    uint64_t last_ms;
} spam_bucket;

typedef struct {
    uint64_t first_ms; /* when this window of similar events began */
    unsigned n;        /* distinct messages seen in the window, at most similar_max */
    uint32_t hashes[]; /* their hashes */
} aggregate;

void k8s_event_filter_init(k8s_event_filter *f, const k8s_event_filter_opts *opts)
{
    memset(f, 0, sizeof(*f));
    if (opts)
        f->o = *opts;
    if (!f->o.spam_burst)
        f->o.spam_burst = 25;
    if (!f->o.spam_refill_ms)
        f->o.spam_refill_ms = 300000;
    if (!f->o.similar_max)
        f->o.similar_max = 10;
    if (!f->o.similar_window_ms)
        f->o.similar_window_ms = 600000;
    if (!f->o.normal_burst)
        f->o.normal_burst = 100;
    if (!f->o.normal_refill_ms)
        f->o.normal_refill_ms = 1000;
    if (!f->o.max_tracked)
        f->o.max_tracked = 4096;
}

void k8s_event_filter_clear(k8s_event_filter *f)
{
    k8s__strmap_clear(&f->buckets, free);
    k8s__strmap_clear(&f->aggregates, free);
}

/* A full table is forgotten whole: simpler than an LRU, and only ever more lenient. */
static void bound(k8s_event_filter *f, k8s__strmap *m)
{
    if (m->count >= f->o.max_tracked)
        k8s__strmap_clear(m, free);
}

/* Refills then takes one token; false when none is left. */
static bool take(double *tokens, uint64_t *last_ms, uint64_t now_ms, unsigned burst,
                 uint64_t refill_ms)
{
    if (now_ms > *last_ms) {
        *tokens += (double)(now_ms - *last_ms) / (double)refill_ms;
        if (*tokens > burst)
            *tokens = burst;
        *last_ms = now_ms;
    }
    if (*tokens < 1.0)
        return false;
    *tokens -= 1.0;
    return true;
}

static int spam_allows(k8s_event_filter *f, uint64_t now_ms, const char *object_key)
{
    spam_bucket *b = k8s__strmap_get(&f->buckets, object_key);
    if (!b) {
        bound(f, &f->buckets);
        if (!(b = malloc(sizeof(*b))))
            return -ENOMEM;
        b->tokens = f->o.spam_burst;
        b->last_ms = now_ms;
        if (k8s__strmap_put(&f->buckets, object_key, b, NULL) != 0) {
            free(b);
            return -ENOMEM;
        }
    }
    return take(&b->tokens, &b->last_ms, now_ms, f->o.spam_burst, f->o.spam_refill_ms);
}

/* K8S_EVENT_PASS for a known or one of the first similar_max distinct messages, else COMBINE. */
static int similar_verdict(k8s_event_filter *f, uint64_t now_ms, const char *object_key,
                           const char *reason, const char *message)
{
    size_t klen = strlen(object_key) + strlen(reason) + 2;
    char *key = malloc(klen);
    if (!key)
        return -ENOMEM;
    memcpy(key, object_key, strlen(object_key));
    key[strlen(object_key)] = '\x1f';
    memcpy(key + strlen(object_key) + 1, reason, strlen(reason) + 1);

    aggregate *a = k8s__strmap_get(&f->aggregates, key);
    if (!a) {
        bound(f, &f->aggregates);
        a = calloc(1, sizeof(*a) + f->o.similar_max * sizeof(uint32_t));
        if (!a || k8s__strmap_put(&f->aggregates, key, a, NULL) != 0) {
            free(a);
            free(key);
            return -ENOMEM;
        }
        a->first_ms = now_ms;
    }
    free(key);
    if (now_ms - a->first_ms > f->o.similar_window_ms) {
        a->first_ms = now_ms; /* a new window */
        a->n = 0;
    }
    uint32_t h = k8s__strhash(message);
    for (unsigned i = 0; i < a->n; i++)
        if (a->hashes[i] == h)
            return K8S_EVENT_PASS; /* a repeat: the recorder bumps that Event's count */
    if (a->n < f->o.similar_max) {
        a->hashes[a->n++] = h;
        return K8S_EVENT_PASS;
    }
    return K8S_EVENT_COMBINE;
}

int k8s_event_filter_admit(k8s_event_filter *f, uint64_t now_ms, const char *object_key,
                           const char *reason, const char *message)
{
    int rc = spam_allows(f, now_ms, object_key);
    if (rc < 0)
        return rc;
    if (!rc)
        return K8S_EVENT_DROP_SPAM;
    return similar_verdict(f, now_ms, object_key, reason, message);
}

bool k8s_event_filter_take_normal(k8s_event_filter *f, uint64_t now_ms)
{
    if (!f->normal_started) {
        f->normal_started = 1;
        f->normal_tokens = f->o.normal_burst;
        f->normal_last_ms = now_ms;
    }
    return take(&f->normal_tokens, &f->normal_last_ms, now_ms, f->o.normal_burst,
                f->o.normal_refill_ms);
}

size_t k8s_event_filter_tracked(const k8s_event_filter *f)
{
    return f->buckets.count + f->aggregates.count;
}
