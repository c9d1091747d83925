/*
 * The live MeshCluster controller for one cluster (the "local" one, --cluster-name).
 *
 * Informers cache every MeshCluster and, label-selected by
 * app.kubernetes.io/managed-by=meshcluster-controller, the objects this controller owns
 * (Services in the istio and tailscale namespaces, Secrets, ConfigMaps and Gateways in the
 * istio namespace), plus the two objects it only contributes fields to: the `istio`
 * ConfigMap (its meshNetworks key) and the istio namespace (its network label), each by
 * field selector. Any change to any of them queues the single key "mesh"; a reconcile pass
 * is level-based over the whole mesh:
 *
 *   1. desired = mc_desired_compute(all MeshClusters, local, options);
 *   2. every desired object whose fields the cache does not already show is server-side
 *      applied (field manager meshcluster-controller, never forced, except the istio
 *      ConfigMap key which Helm co-owns). An object missing from the cache is read first,
 *      so hand-made objects are adopted in place (same uid) and create-only fields (an
 *      egress Service's externalName, which the Tailscale operator owns afterwards) are
 *      sent only when the object really is new;
 *   3. owned objects that are no longer desired are deleted, unless they belong to a
 *      MeshCluster that exists but is not accepted (touch nothing for it);
 *   4. each MeshCluster's status is written when, and only when, it changes.
 * With nothing changed a pass makes no write at all. Errors requeue with per-key backoff.
 * No finalizers: removal is label-based garbage collection on the next pass, so
 * uninstalling the controller never leaves a MeshCluster stuck.
 *
 * Writes only while leading (mc_reconciler_set_leader); a standby keeps its caches warm.
 * Everything runs on the client's loop.
 */
#ifndef MC_RECONCILER_H
#define MC_RECONCILER_H

#include <stdbool.h>
#include <stdint.h>

#include "controller/desired.h"
#include "k8s/probe.h"
#include "k8s/events.h"
#include "k8s/log.h"
#include "k8s/metrics.h"
#include "k8s/request.h"

typedef struct mc_reconciler mc_reconciler;

struct mc_reconciler_opts {
    const char *cluster_name;          /* required; copied */
    struct mc_desired_options desired; /* strings copied */
    bool allow_gateway_replacement;    /* delete+recreate a gateway Service of another class */
    /* Take the istio ConfigMap's meshNetworks key when another manager owns it; false: report
     * MeshNetworksConflict and leave it. */
    bool force_mesh_networks;
    uint64_t resync_ms;         /* informer resync backstop; 0: none */
    k8s_log *log;               /* borrowed; NULL: silent */
    k8s_metrics *metrics;       /* borrowed; NULL: none (standard families expected) */
    k8s_event_recorder *events; /* borrowed; NULL: no Events */
    /* Probes of each remote's API server and gateway (controller/prober.h): on when
     * probe_http is set and probe_interval_ms > 0. A remote's Ready then also needs its
     * PeerAPIReachable and PeerGatewayReachable. probe_connect_to (test worlds only) is
     * borrowed and must outlive the reconciler. */
    k8s_http *probe_http; /* borrowed; also istiod's polls */
    uint64_t probe_interval_ms;
    const char *const *probe_connect_to;
    size_t nprobe_connect_to;
    /* istiod's own view (controller/istiod_watch.h): with istiod_url set (and probe_http), each
     * remote gets IstiodSynced from istiod's /debug/clusterz, polled every istiod_interval_ms
     * with the token in istiod_token_file; it gates Ready like the probes. */
    const char *istiod_url;
    const char *istiod_token_file;
    uint64_t istiod_interval_ms;
};

/* c is borrowed and must outlive the reconciler. Returns 0, -EINVAL or -ENOMEM. */
int mc_reconciler_new(k8s_client *c, const struct mc_reconciler_opts *opts, mc_reconciler **out);

/* Starts the informers and the work queue on the client's loop. */
int mc_reconciler_start(mc_reconciler *r);

/* Allows (true) or stops (false) writes; gaining leadership queues a full pass. */
void mc_reconciler_set_leader(mc_reconciler *r, bool leading);

/* True once every informer has completed its first list. */
bool mc_reconciler_synced(const mc_reconciler *r);

/* Passes completed since start, and how many of them wrote nothing (for tests and logs). */
void mc_reconciler_counts(const mc_reconciler *r, unsigned long *passes, unsigned long *idle);

/*
 * Stops taking work, lets the requests in flight finish (they are not cancelled), stops the
 * informers; cb (may be NULL) runs when all is quiet, after which mc_reconciler_free().
 */
void mc_reconciler_close(mc_reconciler *r, void (*cb)(mc_reconciler *r, void *data), void *data);

void mc_reconciler_free(mc_reconciler *r);

#endif
