/*
 * MeshCluster status as a pure value: the conditions the controller sets, merged over what
 * the object already carries so that lastTransitionTime only moves when a condition's status
 * changes, and a comparison that tells whether a status write is needed at all (steady state
 * must cost no writes). No I/O; the caller supplies the current time.
 */
#ifndef MC_STATUS_H
#define MC_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define MC_COND_ACCEPTED      "Accepted"
#define MC_COND_EGRESS_READY  "EgressReady"
#define MC_COND_REMOTE_SECRET "RemoteSecretReady"
#define MC_COND_GATEWAY_READY "GatewayReady"
#define MC_COND_MESH_NETWORKS "MeshNetworksReady"
#define MC_COND_READY         "Ready"

/* One condition as the controller decides it; strings borrowed. status is "True", "False"
 * or "Unknown"; reason is CamelCase (the CRD's pattern); message may be "". */
struct mc_condition {
    const char *type;
    const char *status;
    const char *reason;
    const char *message;
};

/* Everything the controller writes under .status (strings borrowed). */
struct mc_status_input {
    long long observed_generation;
    const char *role;            /* "local" or "remote" */
    const char *gateway_address; /* NULL or "": left out */
    const struct mc_condition *conditions;
    size_t nconditions;
};

/*
 * Builds the status object the controller wants: observedGeneration, role, gatewayAddress and
 * the conditions in the given order, each with observedGeneration. A condition keeps the
 * lastTransitionTime it has in existing (the object's current .status, may be NULL) when its
 * status is unchanged; otherwise it gets now (RFC 3339, e.g. "2026-11-23T13:08:51Z").
 * Returns a new object owned by the caller, or NULL on allocation failure.
 */
cJSON *mc_status_build(const cJSON *existing, const struct mc_status_input *in, const char *now);

/*
 * True when existing (may be NULL) already holds every field of want with the same value, and
 * no gatewayAddress when want has none: writing want would change nothing the controller
 * owns. Fields the controller does not own (e.g. .status.trust) are ignored.
 */
bool mc_status_equal(const cJSON *existing, const cJSON *want);

/* The condition of that type in a status object or a conditions array, or NULL. Borrowed. */
const cJSON *mc_status_find_condition(const cJSON *status_or_conditions, const char *type);

/*
 * Fills the Ready condition from the others: True when every one of conds[0..n) is True,
 * else False naming the first that is not. reason/message point into static or conds'
 * strings, or into buf (size bytes), which must outlive *ready.
 */
void mc_status_ready(const struct mc_condition *conds, size_t n, struct mc_condition *ready,
                     char *buf, size_t size);

/* Writes the current UTC time as RFC 3339 with seconds ("...Z") into buf (>= 21 bytes). */
void mc_status_now(char *buf, size_t size);

#endif
