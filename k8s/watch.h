/*
 * List+watch state machine for one resource collection (a "reflector"), after client-go's
 * reflector and kube-rs's watcher.
 *
 *   LISTING  -- paged list (limit 500, continue tokens, one consistent resourceVersion) -->
 *   WATCHING -- watch from the list's resourceVersion with bookmarks and a random
 *               timeoutSeconds in [300, 600] so that watches do not expire together -->
 *   on a normal close: watch again from the last seen resourceVersion (no relist);
 *   on 410 Expired (HTTP 410, or HTTP 200 then an ERROR event carrying 410) or
 *   ResourceVersionTooLarge: relist from scratch, at once the first time and through the
 *   backoff below when it happens again within healthy_reset_ms (a server that answers every
 *   watch with 410 must not get list+watch in a tight loop);
 *   on any other failure: keep the resourceVersion, back off (800 ms doubling with jitter,
 *   cap 30 s, reset once 2 minutes passed without a failure) and watch again. A watch that
 *   closes within 1 s without any event counts as a failure, so a server that accepts and
 *   drops watches is not hammered.
 *
 * A list is delivered as RESTART_BEGIN, one RESTART_ITEM per object, RESTART_DONE; a consumer
 * (the informer's store) collects the items and swaps them in at DONE. A list that fails half
 * way simply never sends DONE: the next attempt starts with a new RESTART_BEGIN.
 *
 * Runs on the client's loop; all callbacks come from libuv/libcurl callbacks, never from inside
 * k8s_watcher_start().
 */
#ifndef K8S_WATCH_H
#define K8S_WATCH_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "k8s/backoff.h"
#include "k8s/request.h"
#include "k8s/watch_parse.h"

typedef struct k8s_watcher k8s_watcher;

typedef enum {
    K8S_WATCHER_RESTART_BEGIN = 1, /* a (re)list starts; obj is NULL */
    K8S_WATCHER_RESTART_ITEM,      /* one listed object */
    K8S_WATCHER_RESTART_DONE,      /* the list is complete; obj is NULL */
    K8S_WATCHER_ADDED,             /* watch events; DELETED carries the final state */
    K8S_WATCHER_MODIFIED,
    K8S_WATCHER_DELETED,
} k8s_watcher_event;

/* Takes ownership of obj (may be NULL): the callback frees or keeps it. */
typedef void (*k8s_watcher_event_cb)(k8s_watcher *w, k8s_watcher_event ev, cJSON *obj, void *data);

/* Informational: a list or watch attempt failed and will be retried; err borrowed. */
typedef void (*k8s_watcher_error_cb)(k8s_watcher *w, const k8s_error *err, void *data);

typedef struct {
    k8s_resource_ref ref;          /* a collection (name NULL); strings copied */
    const char *label_selector;    /* optional; copied */
    const char *field_selector;    /* optional; copied */
    long page_size;                /* 0: 500 */
    long min_timeout_s;            /* 0: 300 */
    long max_timeout_s;            /* 0: 600 */
    k8s_backoff_opts backoff;      /* zeroes: 800 ms doubling, cap 30 s, jitter 0.5 */
    uint64_t healthy_reset_ms;     /* 0: 120000 */
    uint64_t min_watch_ms;         /* a shorter watch without events is a failure; 0: 1000 */
    size_t max_line;               /* 0: K8S_WATCH_PARSE_DEFAULT_MAX_LINE */
    uint64_t seed;                 /* randomness for timeouts and jitter; 0: from the clock */
    k8s_watcher_event_cb on_event; /* required */
    k8s_watcher_error_cb on_error; /* optional */
    void *data;
} k8s_watcher_opts;

typedef struct {
    unsigned long lists;    /* list calls started (pages counted individually) */
    unsigned long relists;  /* full lists started, including the first */
    unsigned long watches;  /* watch calls started */
    unsigned long expired;  /* 410s seen (HTTP or ERROR event) */
    unsigned long failures; /* failed attempts that backed off */
    unsigned long events;   /* watch events delivered (not counting bookmarks) */
    unsigned long bookmarks;
} k8s_watcher_stats;

/* c is borrowed and must outlive the watcher. Returns 0, -EINVAL or -ENOMEM. */
int k8s_watcher_new(k8s_client *c, const k8s_watcher_opts *opts, k8s_watcher **out);

/* Starts listing on a later loop turn. Returns 0 or -EINVAL (already started or stopping). */
int k8s_watcher_start(k8s_watcher *w);

/*
 * Cancels any call in flight and stops timers; no event is delivered after this call. cb (may
 * be NULL) runs once everything is quiet; then, and only then, k8s_watcher_free() may be called.
 */
void k8s_watcher_close(k8s_watcher *w, void (*cb)(k8s_watcher *w, void *data), void *data);

/* Frees a watcher that was never started, or whose stop callback has run. */
void k8s_watcher_free(k8s_watcher *w);

/* The last resourceVersion seen (list, event or bookmark); "" before the first list. Borrowed. */
const char *k8s_watcher_resource_version(const k8s_watcher *w);

void k8s_watcher_get_stats(const k8s_watcher *w, k8s_watcher_stats *out);

#endif
