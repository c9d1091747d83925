/*
 * Internal: a small string-keyed hash map (key copied, value borrowed) shared by the work queue
 * and the event recorder. Not part of the k8s/ public API, hence the k8s__ prefix.
 */
#ifndef K8S_STRMAP_H
#define K8S_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct k8s__strmap_entry {
    struct k8s__strmap_entry *next;
    void *value;
    uint32_t hash;
    char key[];
} k8s__strmap_entry;

typedef struct {
    k8s__strmap_entry **buckets;
    size_t nbuckets;
    size_t count;
} k8s__strmap;

/* A zeroed struct is an empty map. */
void k8s__strmap_clear(k8s__strmap *m, void (*free_value)(void *));

void *k8s__strmap_get(const k8s__strmap *m, const char *key);

/*
 * Inserts or replaces. Returns 0 or -ENOMEM. On success *stored_key (if not NULL) points at the
 * map's own copy of the key, valid until the key is removed.
 */
int k8s__strmap_put(k8s__strmap *m, const char *key, void *value, const char **stored_key);

/* Removes key and returns its value, or NULL when absent. */
void *k8s__strmap_remove(k8s__strmap *m, const char *key);

uint32_t k8s__strhash(const char *key);

#endif
