/*
 * Who a remote secret lets a peer's istiod be, read from objects alone: the ServiceAccount its
 * bearer token names (the token's "sub" claim, read, not verified: the check only asks what
 * the token claims, the API server verifies it), and whether the remote cluster makes that
 * account cluster-admin through a ClusterRoleBinding (directly or through one of the groups
 * every ServiceAccount is in). A remote istiod needs a reader role, not cluster-admin.
 */
#ifndef MC_RBAC_CHECK_H
#define MC_RBAC_CHECK_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Fills ns and name from a token whose JWT payload says "sub":
 * "system:serviceaccount:<ns>:<name>". 0, or -EINVAL for anything else (not a JWT, another
 * kind of subject, fields too long). */
int mc_token_service_account(const char *token, char *ns, size_t nslen, char *name, size_t namelen);

/* The name of the first ClusterRoleBinding in bindings (an array, as a list's items) whose
 * roleRef is the ClusterRole cluster-admin and whose subjects include ServiceAccount ns/name,
 * or the groups system:serviceaccounts, system:serviceaccounts:<ns> or system:authenticated;
 * NULL when none does. Borrowed from bindings. */
const char *mc_admin_binding_for(const cJSON *bindings, const char *ns, const char *name);

#endif
