/*
 * Informer: a watcher (k8s/watch.h) feeding a store (k8s/store.h), with change handlers and a
 * periodic resync.
 *
 * Handlers receive the object's key and the old/new objects, borrowed for the duration of the
 * callback only: they are meant to enqueue the key (k8s/queue.h), and the worker reads the
 * object fresh from the store when it runs. Relists are swapped in atomically and report adds,
 * changed objects and deletions missed while disconnected. Resync re-delivers every cached
 * object as an update (old == new); it does not talk to the server.
 *
 * All callbacks run on the client's loop, never inside k8s_informer_start().
 */
#ifndef K8S_INFORMER_H
#define K8S_INFORMER_H

#include <stdbool.h>
#include <stdint.h>

#include "k8s/store.h"
#include "k8s/watch.h"

typedef struct k8s_informer k8s_informer;

typedef struct {
    void (*on_add)(k8s_informer *inf, const char *key, const cJSON *obj, void *data);
    void (*on_update)(k8s_informer *inf, const char *key, const cJSON *old_obj,
                      const cJSON *new_obj, void *data);
    void (*on_delete)(k8s_informer *inf, const char *key, const cJSON *old_obj, void *data);
    /* Optional: called after each relist is committed (the first one marks has_synced). */
    void (*on_synced)(k8s_informer *inf, void *data);
    void *data;
    /* Optional, informational: a list or watch attempt failed and will be retried. (Last, so
     * positional initialisers of the fields above keep working.) */
    void (*on_error)(k8s_informer *inf, const k8s_error *err, void *data);
} k8s_informer_handlers;

typedef struct {
    k8s_watcher_opts watch; /* ref, selectors, tuning; on_event, on_error and data are ignored */
    uint64_t resync_ms;     /* 0: no periodic resync */
    /*
     * Optional, NULL-terminated, borrowed (must outlive the informer): fields dropped before
     * caching, as dotted paths ("metadata.managedFields"; "status.conditions[].reason" for
     * every item of a list). For what the server or other controllers add and this controller
     * never reads nor compares: the caches are most of a controller's memory, and
     * managedFields alone can be most of a small object (client-go informers use a transform
     * for the same).
     */
    const char *const *drop_fields;
    k8s_informer_handlers handlers; /* any handler may be NULL */
    /*
     * Optional: called on each object after drop_fields and before it is cached or handed to
     * a handler, to replace parts of it with the little the controller needs of them
     * (client-go's TransformFunc). It may change anything but metadata.name, namespace and
     * resourceVersion. It cannot fail: what it could not reduce stays as it came, so readers
     * of a transformed cache must accept both forms.
     */
    void (*transform)(cJSON *obj, void *data);
    void *transform_data;
} k8s_informer_opts;

/* c is borrowed and must outlive the informer. Returns 0, -EINVAL or -ENOMEM. */
int k8s_informer_new(k8s_client *c, const k8s_informer_opts *opts, k8s_informer **out);

/* Starts list+watch on a later loop turn. */
int k8s_informer_start(k8s_informer *inf);

/* Stops watching and resyncing; cb (may be NULL) runs when quiet, then free is allowed. */
void k8s_informer_close(k8s_informer *inf, void (*cb)(k8s_informer *inf, void *data), void *data);

void k8s_informer_free(k8s_informer *inf);

/* True once the first full list has been committed to the store. */
bool k8s_informer_has_synced(const k8s_informer *inf);

/* The cache; read-only for callers, valid until k8s_informer_free(). */
const k8s_store *k8s_informer_store(const k8s_informer *inf);

/* The underlying watcher (for its resourceVersion and statistics). */
const k8s_watcher *k8s_informer_watcher(const k8s_informer *inf);

#endif
