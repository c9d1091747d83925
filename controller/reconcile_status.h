/*
 * Internal to the reconciler: phase 2 of a pass, each MeshCluster's status from the caches and
 * the pass's notes (controller/conditions.h decides the conditions). Sends its writes as
 * requests of reconcile_ops.h.
 */
#ifndef MC_RECONCILE_STATUS_H
#define MC_RECONCILE_STATUS_H

#include <stdbool.h>

#include "controller/reconcile_ops.h"

/* Phase 2 (reconcile_status.c): MeshNetworksReady and TrustVerified are decided once per pass
 * (the latter from the watched cacerts Secret, istio-ca-root-cert ConfigMap and MeshClusters);
 * mc__pass_status_issue then reconciles every cluster's status. */
void mc__pass_status(struct pass *p);
/* Reconciles statuses from p->next_status on while fewer than PASS_WINDOW requests are out;
 * true once every cluster's has been. */
bool mc__pass_status_issue(struct pass *p);

#endif
