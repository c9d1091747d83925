/*
 * Frozen JSON: a read-only copy of a cJSON tree packed into one allocation.
 *
 * A parsed tree costs a malloc per node and one or two per string, each with its header and
 * the allocator's minimum chunk; for the objects a controller keeps for its whole life (the
 * informer caches, its desired state) that overhead is most of their size. A frozen copy puts
 * the nodes side by side followed by every string, so it takes about half the memory, is freed
 * with one call and leaves no holes behind.
 *
 * The copy is an ordinary cJSON tree for every function that only reads (GetObjectItem,
 * ArrayForEach, Print, Compare, Duplicate, which gives an ordinary tree). It must never reach
 * a function that changes or frees a tree: not cJSON_Delete, not the Add, Replace, Detach or
 * Delete families, not even on one of its items.
 */
#ifndef K8S_FROZEN_H
#define K8S_FROZEN_H

#include <cjson/cJSON.h>

/* A frozen copy of v (borrowed), or NULL when v is NULL or memory ran out. */
cJSON *k8s_json_freeze(const cJSON *v);

/* Takes ownership of v (an ordinary tree, freed in every case) and returns its frozen copy. */
cJSON *k8s_json_freeze_owned(cJSON *v);

/* Frees a copy made by k8s_json_freeze (NULL is fine). */
void k8s_json_frozen_free(cJSON *frozen);

#endif
