/*
 * Object cache keyed "namespace/name" (or "name" for cluster-scoped objects).
 *
 * The store owns every object in it, kept frozen (k8s/frozen.h): what readers get is read-only
 * in the strict sense, never to be changed or freed, and cJSON_Duplicate gives a tree they may
 * change. Identical child lists are shared between the store's objects (its own pool), so
 * items are compared by content, never by address. Changes are reported through a callback that
 * sees the key and the old and new objects, both borrowed for the duration of the callback only.
 *
 * A relist is applied as a whole: the listed objects are collected into a fresh table
 * (replace_begin/replace_add) and swapped in at replace_commit, which reports an add for every
 * new key, an update for every key whose resourceVersion changed, and a delete for every key
 * that vanished. That last part is why a relist after a missed DELETED event still delivers
 * the deletion. Until the commit, readers keep seeing the previous, consistent contents.
 *
 * Pure data structure: no I/O, no loop.
 */
#ifndef K8S_STORE_H
#define K8S_STORE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "k8s/watch_parse.h"

typedef struct k8s_store k8s_store;

typedef enum {
    K8S_STORE_ADD = 1,
    K8S_STORE_UPDATE,
    K8S_STORE_DELETE,
} k8s_store_change;

/*
 * old: the object the store held before (NULL for ADD); for DELETE the last known state, which
 * is the DELETED event's object when there was one. new: the object now held (NULL for DELETE).
 */
typedef void (*k8s_store_change_cb)(void *data, k8s_store_change change, const char *key,
                                    const cJSON *old_obj, const cJSON *new_obj);

/* Return nonzero to stop the iteration early. */
typedef int (*k8s_store_each_cb)(void *data, const char *key, const cJSON *obj);

k8s_store *k8s_store_new(void);
void k8s_store_free(k8s_store *s);

/*
 * Writes the cache key of obj ("ns/name", or "name" without a namespace) into buf.
 * Returns its length, -EINVAL when obj has no metadata.name, -ENOSPC when buf is too small.
 */
int k8s_object_key(const cJSON *obj, char *buf, size_t len);

size_t k8s_store_size(const k8s_store *s);

/* Borrowed until the next change to the store. */
const cJSON *k8s_store_get(const k8s_store *s, const char *key);

/*
 * The same, with the object's metadata.resourceVersion through *rv (NULL when it has none;
 * borrowed like the object), kept from when it was stored: a controller comparing versions
 * across a large cache otherwise spends most of its pass finding that field in each object.
 */
const cJSON *k8s_store_get_rv(const k8s_store *s, const char *key, const char **rv);

/*
 * Applies one watch event: ADDED/MODIFIED insert or replace, DELETED removes; BOOKMARK and ERROR
 * are ignored. Takes ownership of obj in every case (also on error). cb may be NULL.
 * Returns 0, -EINVAL (object without a name) or -ENOMEM.
 */
int k8s_store_apply(k8s_store *s, k8s_watch_type type, cJSON *obj, k8s_store_change_cb cb,
                    void *data);

/* Starts collecting a relist; discards an unfinished earlier one. */
int k8s_store_replace_begin(k8s_store *s);

/* Adds one listed object to the pending relist; takes ownership of obj (also on error). */
int k8s_store_replace_add(k8s_store *s, cJSON *obj);

/*
 * Swaps the collected relist in and reports the differences through cb (may be NULL).
 * Returns -EINVAL when no relist was begun.
 */
int k8s_store_replace_commit(k8s_store *s, k8s_store_change_cb cb, void *data);

/* Throws the pending relist away; the store keeps its previous contents. */
void k8s_store_replace_abort(k8s_store *s);

/*
 * Visits every object. The store must not be changed from inside cb. Order is unspecified.
 * Returns the nonzero value that stopped the iteration, else 0.
 */
int k8s_store_foreach(const k8s_store *s, k8s_store_each_cb cb, void *data);

#endif
