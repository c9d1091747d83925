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
#define MC_COND_PEER_API      "PeerAPIReachable"
#define MC_COND_PEER_GATEWAY  "PeerGatewayReachable"
#define MC_COND_ISTIOD_SYNCED "IstiodSynced"
#define MC_COND_DNS_READY     "DNSReady"

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
 * lastTransitionTime it has in existing (the object's current .status, may be NULL, conditions
 * in either form) when its status is unchanged; otherwise it gets now (RFC 3339, e.g.
 * "2026-11-23T13:08:51Z"). Returns a new object owned by the caller, or NULL on allocation failure.
 */
cJSON *mc_status_build(const cJSON *existing, const struct mc_status_input *in, const char *now);

/*
 * True when existing (may be NULL; conditions in either form, want's as objects) already holds
 * every field of want with the same value (a message by its digest), and
 * no gatewayAddress when want has none: writing want would change nothing the controller
 * owns. Fields the controller does not own (e.g. .status.trust) are ignored.
 */
bool mc_status_equal(const cJSON *existing, const cJSON *want);

/* The condition of that type in a status object or a conditions array, or NULL. Borrowed.
 * For objects whose conditions are objects (a Service's; a status built here). */
const cJSON *mc_status_find_condition(const cJSON *status_or_conditions, const char *type);

#define MC_CONDITION_WORD 128 /* longer words keep a condition in object form */
#define MC_CONDITION_LINE 640

/*
 * The reduced form the informer caches MeshClusters in (an informer transform; data unused):
 * each condition under .status.conditions becomes one string, "<type> <status>
 * <observedGeneration> <lastTransitionTime> <reason> <message digest>", which is all that
 * mc_status_build and mc_status_equal need of it, in a quarter of the memory. A condition that
 * cannot be written so (a space in a word, an overlong one) stays an object.
 */
void mc_status_compact(cJSON *mc, void *unused);

/* What a MeshCluster status says of one condition, in either form. */
struct mc_condition_seen {
    char status[16];
    char reason[MC_CONDITION_WORD];
    char last_transition[48];
};

/* Fills *seen from the condition of that type in status (may be NULL); false when absent. */
bool mc_status_condition(const cJSON *status, const char *type, struct mc_condition_seen *seen);

/* Writes the current UTC time as RFC 3339 with seconds ("...Z") into buf (>= 21 bytes). */
void mc_status_now(char *buf, size_t size);

#endif
