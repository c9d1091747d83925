/*
 * The pure diff between desired objects and the objects currently in the cluster: which
 * objects to create, re-apply or delete, so that the steady state costs zero writes.
 *
 * "current" is what the reconciler's caches hold: every object carrying our managed-by
 * label, plus the objects we only contribute fields to (the istio ConfigMap and the istio
 * namespace). A desired object is satisfied when every field of its update body (the body
 * without create-only fields) is present in the current object with the same value; fields
 * that others own or the API server defaults (nodePort, clusterIP, extra labels, the
 * externalName the Tailscale operator writes) are therefore never a reason to write.
 * Objects with our managed-by label that are no longer desired are deleted; objects without
 * it never are.
 */
#ifndef MC_RECONCILE_PLAN_H
#define MC_RECONCILE_PLAN_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "controller/desired.h"

enum mc_plan_action {
    MC_PLAN_CREATE,  /* absent: apply the full body, create-only fields included */
    MC_PLAN_APPLY,   /* present but different: apply the update body */
    MC_PLAN_DELETE,  /* ours and no longer desired */
    MC_PLAN_WAIT,    /* must exist but does not (the istio ConfigMap before istiod) */
    MC_PLAN_BLOCKED, /* an immutable field differs (loadBalancerClass) and replacing is off */
    MC_PLAN_REPLACE, /* as BLOCKED, with replacement allowed: delete, then create */
};

struct mc_plan_item {
    enum mc_plan_action action;
    cJSON *body; /* what to send (CREATE, APPLY, REPLACE), else NULL; owned */
    char *api_version, *kind, *namespace_, *name; /* owned; namespace_ "" if cluster-scoped */
    char *cluster;                                /* meshcluster.io/cluster it belongs to; owned */
    char why[160];
};

struct mc_plan {
    struct mc_plan_item *items;
    size_t nitems;
    size_t unchanged; /* desired objects already satisfied */
};

struct mc_plan_options {
    int allow_replace; /* delete and recreate a gateway Service whose class differs */
};

/*
 * Computes the plan. current is a cJSON array of objects (borrowed); opts may be NULL.
 * Creates and applies come in desired order, then deletes sorted by kind/namespace/name.
 * Returns 0 or -ENOMEM; the caller frees *out with mc_plan_free.
 */
int mc_plan_compute(const struct mc_desired *d, const cJSON *current,
                    const struct mc_plan_options *opts, struct mc_plan *out);

void mc_plan_free(struct mc_plan *p);

/* Whether every field of want is in have with the same value (lists: same length, items
 * compared the same way, in order). Exposed for tests. */
int mc_plan_subset(const cJSON *want, const cJSON *have);

#endif
