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

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* A frozen copy of v (borrowed), or NULL when v is NULL or memory ran out. */
cJSON *k8s_json_freeze(const cJSON *v);

/* Takes ownership of v (an ordinary tree, freed in every case) and returns its frozen copy. */
cJSON *k8s_json_freeze_owned(cJSON *v);

/* Frees a copy made by k8s_json_freeze (NULL is fine). */
void k8s_json_frozen_free(cJSON *frozen);

/*
 * A 64-bit hash of v's content (names, types, values, order), the same for equal trees whether
 * frozen or not; 0 for NULL. Equal hashes say "probably equal": a caller that must be exact
 * compares too, or keeps a way to recover from the rare collision (a periodic full pass).
 */
uint64_t k8s_json_hash(const cJSON *v);

/*
 * A pool of shared child lists ("hash-consing") for frozen objects that are kept together,
 * such as one informer cache. Objects of one kind repeat whole child lists exactly (every
 * egress Service has the same spec.ports and status contents), and cJSON nodes dominate a
 * frozen object's size, so identical lists are kept once and pointed at by every object.
 *
 * A list (a container's children with everything below them) goes into the pool the second
 * time its content is seen; later identical lists take a reference. A list is shared only after
 * an exact comparison, never on its hash alone. The first copy seen stays inline in its object.
 * Pooled lists refer to pooled lists below them in turn, so an object replaced by a new version
 * keeps sharing what it shared before. Memory for "seen once" is a fixed 8 KB per pool.
 *
 * A pooled object reads like any frozen copy (same rules: never changed, never freed with
 * cJSON_Delete) and is freed only with k8s_json_pool_release on the pool that made it, never
 * with k8s_json_frozen_free. Parts of it may be shared with other objects of the pool, so
 * items are compared by content, not by address.
 *
 * Not thread-safe: one owner uses a pool and its objects from one thread.
 */
typedef struct k8s_json_pool k8s_json_pool;

typedef struct {
    size_t objects;      /* live pooled objects */
    size_t object_bytes; /* bytes of their own blocks */
    size_t chains;       /* shared lists held by the pool */
    size_t chain_bytes;  /* bytes of their blocks */
    size_t refs;         /* references to shared lists, summed over the pool */
    size_t table_bytes;  /* the pool's own index and its "seen once" memory */
} k8s_json_pool_stats;

/* NULL when memory ran out. */
k8s_json_pool *k8s_json_pool_new(void);

/*
 * Frees the pool (NULL is fine). Call it only once every object it made has been released:
 * it frees the lists still held, so an object still alive would point into freed memory.
 */
void k8s_json_pool_free(k8s_json_pool *pool);

/*
 * Takes ownership of v (an ordinary tree, freed in every case) and returns its frozen copy,
 * sharing lists with the pool's other objects; NULL when v is NULL or memory ran out.
 */
cJSON *k8s_json_freeze_pooled(k8s_json_pool *pool, cJSON *v);

/* Frees an object made by k8s_json_freeze_pooled on the same pool (NULL is fine). */
void k8s_json_pool_release(k8s_json_pool *pool, cJSON *frozen);

void k8s_json_pool_stats_get(const k8s_json_pool *pool, k8s_json_pool_stats *out);

/*
 * Test seam: ANDs every list hash with mask (0 makes all lists collide), so tests can prove
 * that equal hashes never share different content. Never used outside tests.
 */
void k8s_json_pool_test_hash_mask(k8s_json_pool *pool, uint64_t mask);

#endif
