/*
 * What the tailnet itself must hold for a MeshCluster set, the guide's Steps 1 and 2 that no
 * Kubernetes object can express: the Tailscale operator's install values for one cluster and
 * the tailnet policy fragment (tagOwners and grants) for the whole set. Pure functions of the
 * parsed set, so `meshctl render` prints them and a test can check them against the real
 * operator chart. Both read their tags and the impersonated group from one options struct:
 * the policy grants exactly what the values make the operator's devices be.
 */
#ifndef MC_TAILNET_H
#define MC_TAILNET_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "controller/meshcluster.h"

/* The group a peer's API-server proxy impersonates for a remote istiod: a reader, never
 * system:masters (the guide's grant). The controller's reader ClusterRoleBinding names it. */
#define MC_READER_GROUP_DEFAULT "meshcluster:istio-reader"
/* The Tailscale operator's own defaults (operatorConfig.defaultTags, proxyConfig.defaultTags). */
#define MC_TAG_OPERATOR_DEFAULT "tag:k8s-operator"
#define MC_TAG_PROXY_DEFAULT    "tag:k8s"

struct mc_tailnet_options {
    const char *reader_group; /* impersonated by API-server proxy grants */
    const char *operator_tag; /* the operator device, which serves the API-server proxy */
    const char *proxy_tag;    /* every proxy the operator creates, egress proxies included */
};

void mc_tailnet_options_default(struct mc_tailnet_options *o);

/*
 * Helm values for the Tailscale operator chart in cluster c: its hostname is c's API-server
 * proxy hostname (what every peer's remote secret dials), the API-server proxy on in auth
 * mode for auth "tailscale" ("noauth" for auth "secret": the bearer token then authenticates),
 * and the tags of o. OAuth credentials are left out: they are secrets, set at install time.
 * Caller owns the result; NULL when out of memory.
 */
cJSON *mc_tailnet_operator_values(const struct mc_meshcluster *c,
                                  const struct mc_tailnet_options *o);

/*
 * The tailnet policy fragment for the set (accepted clusters only, any order: the output is
 * sorted): tagOwners for every tag the set's devices carry, and two grants:
 *   egress proxies -> API-server proxies, impersonating o->reader_group (the guide's first
 *     grant without system:masters: only a cluster's egress proxy dials a peer's API server,
 *     on behalf of its istiod);
 *   egress proxies -> east-west gateways on the set's gateway ports, the only path
 *     cross-network traffic takes (meshNetworks names the local alias of each peer's
 *     gateway, whose egress proxy dials the peer's gateway device). The guide's
 *     gateway-to-gateway grant on all ports is therefore not needed and not produced.
 * Caller owns the result; NULL when out of memory.
 */
cJSON *mc_tailnet_policy(const struct mc_meshcluster *set, size_t n,
                         const struct mc_tailnet_options *o);

/*
 * Whether the local gateway's load-balancer address belongs to the tailnet the MeshCluster
 * names: the hostname (may be NULL) ends in ".<tailnet>", and the IP (may be NULL) is a
 * Tailscale address (100.64.0.0/10 or fd7a:115c:a1e0::/48). A gateway published on another
 * tailnet looks ready but no peer can reach it. On a mismatch returns false and writes a
 * sentence naming both sides into msg.
 */
bool mc_tailnet_address_matches(const char *hostname, const char *ip, const char *tailnet,
                                char *msg, size_t msglen);

#endif
