/*
 * Incremental reconcile across a change of desired state (issue 20): what the daemon learnt
 * about each object under the old state is kept for the objects whose body did not change.
 *
 * A MeshCluster edit recomputes the desired state (a pure function of every MeshCluster).
 * Starting the new state with empty memos made the next pass rebuild and compare the body of
 * every object in the mesh, 4,000 at 1,000 clusters, to find the few the edit changed. An
 * object whose identity and body digest are the same in both states needs nothing the old
 * memo did not already establish: "the live version last seen to match", "our write over this
 * version is on its way", "this version conflicted". So those memos move over, and the pass
 * compares only what the edit touched.
 *
 * The digest is a hash; a collision would keep a stale "matched" for one object. The informer
 * resync (a full pass, mc_reconciler.full_pass_due) starts from empty memos and is the
 * backstop, as the resync is for missed events.
 */
#include <stdlib.h>
#include <string.h>

#include "controller/reconcile_pass.h"

/* The objects' memos: moved where identity, body and flags are unchanged. */
static size_t carry_objects(struct pass *p, struct desired_cache *old)
{
    size_t carried = 0;
    for (size_t i = 0; i < p->nby_key; i++) {
        struct desired_memo *m = (struct desired_memo *)p->by_key[i];
        const struct desired_memo *om =
            mc__memo_find(old->by_key, old->nby_key, m->inf, m->store_key);
        if (!om)
            continue;
        size_t ni = (size_t)(m - p->memo), oi = (size_t)(om - old->memo);
        const struct mc_desired_object *n = &p->d.objects[ni], *o = &old->d.objects[oi];
        if (n->digest != o->digest || n->flags != o->flags || n->role != o->role)
            continue;
        struct desired_memo *from = &old->memo[oi];
        memcpy(m->matched, from->matched, sizeof(m->matched));
        m->wrote = from->wrote;
        memcpy(m->wrote_over, from->wrote_over, sizeof(m->wrote_over));
        m->wrote_pass = from->wrote_pass;
        memcpy(m->healed_at, from->healed_at, sizeof(m->healed_at));
        m->conflict = from->conflict; /* moved: the old state no longer frees it */
        from->conflict = NULL;
        carried++;
    }
    return carried;
}

/* A hash of a cluster result's desired objects (their digests by role). */
static uint64_t cluster_digest(const struct mc_desired *d, const struct mc_cluster_result *cr)
{
    uint64_t h = 14695981039346656037u;
    for (int role = 0; role < MC_ROLE_COUNT; role++) {
        long idx = cr->objects[role];
        uint64_t v = idx >= 0 ? d->objects[idx].digest : 0;
        h = (h ^ v) * 1099511628211u;
    }
    return h;
}

/*
 * The clusters' status memos, by name. What guards against duplicate writes (our write on its
 * way, a status held while it settles) always moves; the "inputs unchanged" fingerprint only
 * when the cluster's verdict and desired objects are unchanged, since it covers the live
 * objects' versions but not what they are compared with.
 */
static void carry_statuses(struct pass *p, const struct desired_cache *old)
{
    for (size_t ci = 0; ci < p->d.nclusters; ci++) {
        const struct mc_cluster_result *cr = &p->d.clusters[ci];
        size_t oi = mc_desired_cluster_index(&old->d, cr->name);
        if (oi >= old->d.nclusters)
            continue;
        const struct mc_cluster_result *ocr = &old->d.clusters[oi];
        struct status_memo *sm = &p->status_fp[ci];
        *sm = old->status_fp[oi];
        if (cr->accepted != ocr->accepted || cr->local != ocr->local ||
            cr->remote_secret_pending != ocr->remote_secret_pending ||
            cluster_digest(&p->d, cr) != cluster_digest(&old->d, ocr))
            sm->fp = 0;
    }
}

size_t mc__memo_carry(struct pass *p, struct desired_cache *old)
{
    if (!old->valid || !old->memo || !old->status_fp)
        return 0;
    size_t carried = carry_objects(p, old);
    carry_statuses(p, old);
    return carried;
}
