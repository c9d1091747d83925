/*
 * `meshctl doctor`: the guide's debug checklist and troubleshooting section and the multicloud
 * module's pitfalls as pure checks over a snapshot of each member cluster's objects. Each check
 * gives PASS, WARN or FAIL with what it saw, the command a human would have run to see the same,
 * and the fix. No I/O: the caller reads the objects (cmd/meshctl/doctor.c) and prints the report.
 *
 * Per cluster:   local-meshcluster, gateway-crd, east-west-gateway, gateway-address,
 *                egress-proxies, mesh-networks, remote-secrets, network-label, cacerts,
 *                cacerts-root, istiod-root, intermediate-expiry, outlier-detection,
 *                peer-conditions, dns
 * Across them:   shared-root (every cluster's root fingerprint, compared across clusters),
 *                remote-identity (the account a remote secret's token names must not be
 *                cluster-admin in the cluster it reaches)
 *
 * What a cluster is expected to hold comes from mc_desired_compute, the daemon's own function,
 * so doctor and the daemon never disagree on names. Extension point: checks that need the
 * daemon's probes or istiod's /debug/clusterz read the conditions those write on each remote's
 * MeshCluster (peer-conditions, MC_DOCTOR_PEER_CONDITIONS); add a condition type there, or a
 * check function to the table in doctor.c.
 */
#ifndef MC_DOCTOR_H
#define MC_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "controller/desired.h"
#include "controller/dns.h"

/* SKIP: the check could not run from where meshctl runs; it never makes the report worse. */
enum mc_check_result { MC_CHECK_PASS = 0, MC_CHECK_WARN, MC_CHECK_FAIL, MC_CHECK_SKIP };

/* "PASS", "WARN", "FAIL", "SKIP". */
const char *mc_check_result_name(enum mc_check_result r);

/* What doctor reads from one cluster. Borrowed; NULL means absent (not found / not served). */
struct mc_doctor_snapshot {
    const char *source;                 /* "kubeconfig[@context]" */
    const char *error;                  /* non-NULL: the cluster could not be read at all */
    const cJSON *meshclusters;          /* array of MeshCluster objects */
    const cJSON *gateway_crd;           /* CRD gateways.networking.istio.io */
    const cJSON *gateway;               /* Gateway <istio ns>/cross-network-gateway */
    const cJSON *istio_namespace;       /* the istio Namespace */
    const cJSON *services;              /* array: Services of the istio and tailscale namespaces */
    const cJSON *secrets;               /* array: Secrets of the istio namespace */
    const cJSON *configmaps;            /* array: ConfigMaps of the istio namespace */
    const cJSON *destination_rules;     /* array: DestinationRules of every namespace */
    const cJSON *cluster_role_bindings; /* array; NULL also when not readable (RBAC) */
    /* Check "dns": each MeshCluster's API-server name (mc_doctor_api_name) asked of the
     * cluster's DNS (the kube-dns Service) by the caller, or why it could not be asked
     * (dns_skip, e.g. the Service IP is not reachable from here). Both empty: not run. */
    const char *dns_skip;
    const struct mc_doctor_lookup *lookups;
    size_t nlookups;
};

struct mc_doctor_lookup {
    const char *name;          /* <apiServerProxyHostname>.<tailnet> */
    enum mc_dns_answer answer; /* controller/dns.h */
    int rcode;
};

/* A MeshCluster's API-server proxy name, "<apiServerProxyHostname>.<tailnet>", what istiod
 * dials through its remote secret (caller frees); NULL when it does not parse or no memory. */
char *mc_doctor_api_name(const cJSON *meshcluster);

struct mc_doctor_options {
    struct mc_desired_options desired; /* the daemon's flags (mc_desired_options_default) */
    time_t now;
};

#define MC_DOCTOR_MESH ((size_t)-1) /* a finding about the whole mesh, not one cluster */

struct mc_doctor_finding {
    size_t cluster;    /* index into the snapshots, or MC_DOCTOR_MESH */
    const char *check; /* static check id */
    enum mc_check_result result;
    char message[768];
    char command[320];
    const char *fix; /* static; "" when nothing needs fixing */
};

struct mc_doctor_report {
    struct mc_doctor_finding *findings;
    size_t nfindings, cap;
    char **clusters; /* per snapshot: the local MeshCluster's name, or its source */
    size_t nclusters;
    enum mc_check_result worst;
};

/* Runs every check over snapshots[0..n). Fills *out (caller frees with mc_doctor_report_free).
 * Returns 0, -EINVAL or -ENOMEM. */
int mc_doctor_run(const struct mc_doctor_snapshot *snapshots, size_t n,
                  const struct mc_doctor_options *opts, struct mc_doctor_report *out);

void mc_doctor_report_free(struct mc_doctor_report *r);

/*
 * The documented, stable -o json form (README "meshctl doctor"):
 *   {"result": "PASS|WARN|FAIL", "clusters": [names],   (a check's result may also be SKIP)
 *    "checks": [{"cluster": name or "*", "check", "result", "message", "command", "fix"?}]}
 * New object owned by the caller, NULL on allocation failure.
 */
cJSON *mc_doctor_to_json(const struct mc_doctor_report *r);

#endif
