/*
 * Narrow passes (issue 20, "O(change) work per event"): a pass whose desired state is
 * unchanged visits only what the events since the last pass touched.
 *
 * At 1,000 clusters a full pass checks 4,000 desired objects against the cache and 1,000
 * statuses against their fingerprints, even when one event about one object brought it:
 * cheap per item, but every event paid for the whole mesh. Informer events now record what
 * they are about (informer, cache key); a pass that reuses the desired state visits the
 * clusters those keys belong to (all of each cluster's objects, so the pass's notes, which
 * its status is built from, are complete), the local cluster (its objects carry the
 * meshNetworks note every status shares), and every cluster whose status is held while it
 * settles. An owned object nobody desires is collected when its key was touched.
 *
 * Everything else takes a full pass: a new desired state (a MeshCluster or token change), an
 * event of the shared inputs (the istio namespace and ConfigMap, cacerts, istiod's root, token
 * Secrets), a resync or relist, a probe, istiod or DNS verdict, leadership, a pass that ended
 * with errors, deferred deletions or withdrawals, more touched keys than DIRTY_MAX, and after
 * NARROW_MAX narrow passes in a row (the backstop for a watch event that never came, such as
 * one of our writes that changed nothing).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/reconcile_pass.h"

#define DIRTY_MAX  256
#define NARROW_MAX 64

void mc__dirty_all(mc_reconciler *r)
{
    r->dirty_all = true;
    mc__dirty_clear(r);
}

static void dirty_keys_free(struct dirty_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i].key);
    free(keys);
}

void mc__dirty_clear(mc_reconciler *r)
{
    dirty_keys_free(r->dirty, r->ndirty);
    r->dirty = NULL;
    r->ndirty = 0;
}

void mc__dirty_note(mc_reconciler *r, int inf, const char *key)
{
    if (r->dirty_all)
        return;
    if (inf != INF_MC && inf < INF_FIRST_OWNED) {
        mc__dirty_all(r); /* a shared input: every status may follow */
        return;
    }
    if (r->ndirty == DIRTY_MAX) {
        mc__dirty_all(r);
        return;
    }
    if (!r->dirty && !(r->dirty = calloc(DIRTY_MAX, sizeof(*r->dirty)))) {
        r->dirty_all = true;
        return;
    }
    char *k = strdup(key);
    if (!k) {
        mc__dirty_all(r);
        return;
    }
    r->dirty[r->ndirty++] = (struct dirty_key){.inf = inf, .key = k};
}

/* The desired memo of an object cached under (inf, key), or NULL: not desired. */
static const struct desired_memo *desired_memo_of(const struct pass *p, int inf, const char *key)
{
    return mc__memo_find(p->by_key, p->nby_key, inf, key);
}

/* Marks every result named name (a duplicate name follows its first). */
static void mark_cluster(const struct pass *p, bool *mark, const char *name)
{
    for (size_t i = mc__cluster_index(p, name);
         i < p->d.nclusters && strcmp(p->d.clusters[i].name, name) == 0; i++)
        mark[i] = true;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* From the marked clusters: their indices, and their objects' (sorted, like a full pass). */
static int todo_from_marks(struct pass *p, const bool *mark)
{
    size_t nc = 0, no = 0;
    for (size_t i = 0; i < p->d.nclusters; i++)
        if (mark[i]) {
            nc++;
            for (int role = 0; role < MC_ROLE_COUNT; role++)
                no += p->d.clusters[i].objects[role] >= 0;
        }
    p->todo_clusters = calloc(nc ? nc : 1, sizeof(*p->todo_clusters));
    p->todo = calloc(no ? no : 1, sizeof(*p->todo));
    if (!p->todo_clusters || !p->todo)
        return -ENOMEM;
    for (size_t i = 0; i < p->d.nclusters; i++) {
        if (!mark[i])
            continue;
        p->todo_clusters[p->ntodo_clusters++] = i;
        for (int role = 0; role < MC_ROLE_COUNT; role++)
            if (p->d.clusters[i].objects[role] >= 0)
                p->todo[p->ntodo++] = (size_t)p->d.clusters[i].objects[role];
    }
    qsort(p->todo, p->ntodo, sizeof(*p->todo), cmp_size);
    return 0;
}

/* The touched keys of owned caches that no desired object has: what collection looks at. */
static int keep_undesired(struct pass *p, struct dirty_key *d)
{
    if (d->inf < INF_FIRST_OWNED || desired_memo_of(p, d->inf, d->key))
        return 0;
    if (!p->gc_keys && !(p->gc_keys = calloc(DIRTY_MAX, sizeof(*p->gc_keys))))
        return -ENOMEM;
    p->gc_keys[p->ngc_keys++] = *d;
    d->key = NULL; /* moved */
    return 0;
}

static int plan(struct pass *p, struct dirty_key *dirty, size_t ndirty)
{
    mc_reconciler *r = p->r;
    bool *mark = calloc(p->d.nclusters ? p->d.nclusters : 1, sizeof(*mark));
    if (!mark)
        return -ENOMEM;
    mark_cluster(p, mark, r->cluster_name);
    for (size_t i = 0; i < p->d.nclusters; i++)
        if (p->status_fp[i].unsettled_since) /* held while it settles: due again */
            mark[i] = true;
    int rc = 0;
    for (size_t i = 0; i < ndirty && !rc; i++) {
        if (dirty[i].inf == INF_MC) {
            mark_cluster(p, mark, dirty[i].key);
            continue;
        }
        const struct desired_memo *m = desired_memo_of(p, dirty[i].inf, dirty[i].key);
        if (m)
            mark_cluster(p, mark, p->d.objects[m - p->memo].cluster);
        else
            rc = keep_undesired(p, &dirty[i]);
    }
    if (!rc)
        rc = todo_from_marks(p, mark);
    free(mark);
    return rc;
}

void mc__pass_plan(struct pass *p)
{
    mc_reconciler *r = p->r;
    struct dirty_key *dirty = r->dirty;
    size_t ndirty = r->ndirty;
    r->dirty = NULL;
    r->ndirty = 0;
    size_t local = mc__cluster_index(p, r->cluster_name);
    bool narrow = p->desired_reused && !r->dirty_all && r->last_pass_clean &&
                  r->narrow_run < NARROW_MAX && r->meshnet_pending_passes == 0 &&
                  local < p->d.nclusters && p->d.clusters[local].accepted;
    r->dirty_all = false;
    if (narrow && plan(p, dirty, ndirty) == 0) {
        p->narrow = true;
    } else {
        mc__pass_plan_free(p); /* what a failed plan made */
        p->narrow = false;
    }
    dirty_keys_free(dirty, ndirty);
    r->narrow_run = p->narrow ? r->narrow_run + 1 : 0;
    if (p->narrow) {
        char objects[24], clusters[24], keys[24];
        snprintf(objects, sizeof(objects), "%zu", p->ntodo);
        snprintf(clusters, sizeof(clusters), "%zu", p->ntodo_clusters);
        snprintf(keys, sizeof(keys), "%zu", ndirty);
        k8s_log_debug(r->log, "narrow pass", "events", keys, "clusters", clusters, "objects",
                      objects);
    }
}

void mc__pass_plan_free(struct pass *p)
{
    free(p->todo);
    free(p->todo_clusters);
    dirty_keys_free(p->gc_keys, p->ngc_keys);
    p->todo = p->todo_clusters = NULL;
    p->gc_keys = NULL;
    p->ntodo = p->ntodo_clusters = p->ngc_keys = 0;
}

void mc__pass_plan_done(struct pass *p)
{
    mc_reconciler *r = p->r;
    r->last_pass_clean = p->desired_ok && !p->errors && !p->deferred && !p->teardown &&
                         !p->withdrawing && p->phase == 2 && !r->stopping;
    if (p->phase == 2 && p->status_visited) {
        r->last_shared_fp = p->status_shared_fp;
        r->last_shared_valid = true;
    }
}
