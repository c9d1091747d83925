/*
 * Whose fields an apply conflicted with. Pure: reads a typed API error (k8s/error.h), so the
 * reconciler's phase 1 and cluster DNS (dns_sync.c) share one rule for "drift a person made".
 */
#ifndef MC_CONFLICT_H
#define MC_CONFLICT_H

#include <stdbool.h>

#include "k8s/error.h"

/* A field manager of kubectl's (kubectl-client-side-apply, kubectl-edit, kubectl-patch,
 * kubectl-label, ...): a person's edit. */
bool mc_is_kubectl_manager(const char *manager);

/* True when a failed apply has field conflicts and every one is with a kubectl manager; a
 * conflict whose manager is unknown counts as another controller's. */
bool mc_conflicts_only_with_kubectl(const k8s_error *e);

/* True when e (a 409) names field-manager conflicts: a server-side apply's, not a stale
 * resourceVersion's ("the object has been modified"). */
bool mc_conflicts_any(const k8s_error *e);

#endif
