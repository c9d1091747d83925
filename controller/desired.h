/*
 * THE desired-state function: all MeshClusters + the local cluster's name + options ->
 * the ordered list of objects the controller keeps applied in the local cluster, plus one
 * validation verdict per MeshCluster. Pure: no I/O, no globals; the same input in any order
 * gives byte-identical output. Shared by meshclusterd and `meshctl render`.
 *
 * What is produced (names as in the manual guide; L = local cluster, R = each remote):
 *   Namespace istio-system           label topology.istio.io/network only (MC_DESIRED_LABELS,
 *                                    MC_DESIRED_MUST_EXIST: Istio's installation creates it)
 *   Service istio-system/istio-eastwestgateway   Tailscale LoadBalancer gateway (Step 7)
 *   Gateway istio-system/cross-network-gateway   AUTO_PASSTHROUGH on the tls port (Step 7)
 *   per R, sorted by name:
 *     Service tailscale/<R>-k8s-operator           API-server egress (Step 4)
 *     Service istio-system/<R>-istio-eastwestgateway-ts   gateway egress (Step 8)
 *     Service istio-system/<R>-istio-eastwestgateway      ExternalName alias (Step 8)
 *     Secret  istio-system/istio-remote-secret-<R>        kubeconfig under data[<R>] (Step 6)
 *   ConfigMap istio-system/istio, key meshNetworks only   (MC_DESIRED_KEY, Step 9)
 *   ConfigMap istio-system/<helm values name>             values.yaml: global.meshNetworks, and
 *                                    meshConfig.localityLbSetting when the set spans two regions
 *                                    or more (controller/locality.h; never in the istio
 *                                    ConfigMap's mesh key, README "Locality failover" says why)
 *
 * How the reconciler must treat the flags:
 *  - MC_DESIRED_CREATE_ONLY: fields listed in create_only (dotted paths, e.g.
 *    "spec.externalName") are sent when the object is created and left out of every later
 *    apply (mc_desired_object_for_update gives that body). The Tailscale operator rewrites
 *    an egress Service's externalName to its proxy; applying "placeholder" again would fight
 *    it forever. Their current values must also be ignored when diffing.
 *  - MC_DESIRED_MUST_EXIST: never create the object; apply only while it exists (the istio
 *    ConfigMap belongs to the istiod installation). Apply with force: Helm owns the key too.
 *  - MC_DESIRED_LABELS / MC_DESIRED_KEY: the object is not ours; the body holds exactly the
 *    fields we own (server-side apply then owns only those) and carries no managed-by label;
 *    never delete it, only withdraw our fields.
 * Everything else is owned outright: labelled app.kubernetes.io/managed-by:
 * meshcluster-controller and meshcluster.io/cluster: <R> (L for local objects), applied with
 * field manager "meshcluster-controller", deleted when no longer desired.
 */
#ifndef MC_DESIRED_H
#define MC_DESIRED_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "controller/validate.h"

#define MC_FIELD_MANAGER     "meshcluster-controller"
#define MC_LABEL_MANAGED_BY  "app.kubernetes.io/managed-by"
#define MC_LABEL_CLUSTER     "meshcluster.io/cluster"
#define MC_LABEL_NETWORK     "topology.istio.io/network"
#define MC_ISTIO_CONFIGMAP   "istio"
#define MC_MESH_NETWORKS_KEY "meshNetworks"

/* The ports the east-west gateway pod listens on (Istio's defaults), the targetPorts of the
 * gateway Service whatever its LB ports are; see gateway_service in desired.c. */
#define MC_POD_PORT_STATUS  15021
#define MC_POD_PORT_TLS     15443
#define MC_POD_PORT_ISTIOD  15012
#define MC_POD_PORT_WEBHOOK 15017
#define MC_HELM_VALUES_KEY  "values.yaml"

enum mc_mesh_networks_mode {
    MC_MESHNET_CONFIGMAP = 1,   /* the meshNetworks key of the istio ConfigMap */
    MC_MESHNET_HELM_VALUES = 2, /* a ConfigMap with global.meshNetworks for valuesFrom */
    MC_MESHNET_BOTH = 3,
};

struct mc_desired_options {
    const char *istio_namespace;     /* istio-system */
    const char *tailscale_namespace; /* tailscale */
    int mesh_networks_mode;          /* enum mc_mesh_networks_mode */
    const char *cluster_domain;      /* cluster.local */
    const char *helm_values_name;    /* meshcluster-istiod-values */
    /* The one namespace whose Secrets a secretRef may name (NULL: tailscale_namespace; "":
     * none, auth "secret" is refused); see mc_validate. */
    const char *token_namespace;
};

void mc_desired_options_default(struct mc_desired_options *opts);

/* A token for a remote whose remoteSecret.auth is "secret", read by the caller. */
struct mc_remote_token {
    const char *cluster;
    const char *token;
};

enum mc_desired_flags {
    MC_DESIRED_CREATE_ONLY = 1 << 0,
    MC_DESIRED_MUST_EXIST = 1 << 1,
    MC_DESIRED_LABELS = 1 << 2,
    MC_DESIRED_KEY = 1 << 3,
};

/* What a desired object is for, so that callers find an object by its role and cluster
 * (mc_cluster_result.objects) instead of re-deriving its name or matching name suffixes. */
enum mc_desired_role {
    MC_ROLE_NAMESPACE_LABEL,       /* the network label on the istio namespace */
    MC_ROLE_GATEWAY_SERVICE,       /* the local east-west gateway LoadBalancer */
    MC_ROLE_CROSS_NETWORK_GATEWAY, /* the local AUTO_PASSTHROUGH Gateway */
    MC_ROLE_EGRESS_API,            /* a remote's API server egress Service (tailscale ns) */
    MC_ROLE_EGRESS_GATEWAY,        /* a remote's gateway egress Service (istio ns) */
    MC_ROLE_GATEWAY_ALIAS,         /* a remote's in-cluster gateway alias Service */
    MC_ROLE_REMOTE_SECRET,         /* a remote's istio remote secret */
    MC_ROLE_MESH_NETWORKS,         /* the meshNetworks key of the istio ConfigMap */
    MC_ROLE_HELM_VALUES,           /* the meshNetworks helm values ConfigMap */
    MC_ROLE_COUNT
};

/* Read a body with mc_desired_body, whichever form the state holds it in. */
struct mc_desired_object {
    /* mc_desired_compute: the complete apply body (apiVersion, kind, metadata...); owned,
     * frozen (k8s/frozen.h): read-only, freed by mc_desired_free. Else NULL. */
    const cJSON *object;
    /* mc_desired_compute_compact: the body of a local or meshNetworks object as compact JSON
     * text; for a remote's object NULL, and remote (an index in the state's source) and part
     * (which of that remote's objects) say what to rebuild it from. remote is -1 otherwise. */
    char *text;
    int remote, part;
    /* Its identity, whatever the form: kind and cache key ("namespace/name", k8s_object_key),
     * so a caller indexing the state need not rebuild or parse every body. */
    char kind[16];
    char *key;     /* owned */
    char *cluster; /* the MeshCluster it is for (L for local objects); owned */
    /* A hash of the body (k8s_json_hash), whatever the form: equal bodies have equal digests,
     * so a caller keeping per-object memory across two states (the daemon's "already matched")
     * carries it over only where the body stayed the same. */
    uint64_t digest;
    unsigned flags;             /* enum mc_desired_flags */
    const char *create_only[2]; /* static strings, NULL-terminated */
    enum mc_desired_role role;
};

struct mc_cluster_result {
    char *name;
    int local;
    int accepted;
    struct mc_field_error why; /* when !accepted */
    int remote_secret_pending; /* auth "secret" and the caller had no token yet */
    /* Its desired objects by role: an index in mc_desired.objects, -1 for none. */
    long objects[MC_ROLE_COUNT];
};

struct mc_desired_source;

/* The DNSConfig's name: the guide's, so a DNSConfig made by hand from Step 3 is adopted (the
 * operator allows one DNSConfig per cluster). Cluster-scoped. */
#define MC_DNSCONFIG_NAME "ts-dns"

/*
 * The guide's Step 3 for the local cluster, when its MeshCluster says spec.tailscale.dns:
 * managed (else zone and dns_config are NULL): a Tailscale DNSConfig to keep applied and the
 * tailnet's domain that cluster DNS must forward to its nameserver (controller/corefile.h).
 * Not one of objects[]: the phase-1 machinery caches and repairs only the kinds every install
 * has, while DNSConfig exists only where the Tailscale operator is installed; controller/dns.h
 * keeps it instead.
 */
struct mc_desired_dns {
    char *zone;        /* the local cluster's tailnet, e.g. acme.ts.net; owned */
    cJSON *dns_config; /* the apply body; owned */
};

struct mc_desired {
    struct mc_desired_object *objects;
    size_t nobjects;
    struct mc_cluster_result *clusters; /* sorted by name */
    size_t nclusters;
    cJSON *mesh_networks; /* {"<network>": {endpoints, gateways}}; owned */
    cJSON
        *locality_lb; /* meshConfig.localityLbSetting (controller/locality.h), NULL: none; owned */
    struct mc_desired_source *source; /* compact: what remote bodies are rebuilt from; owned */
    struct mc_desired_dns dns;
};

/*
 * The index of the first of d->clusters (sorted by name; a duplicate name follows its first)
 * named name, or d->nclusters. A binary search: callers ask once per object, and a scan would
 * be quadratic in the mesh size.
 */
size_t mc_desired_cluster_index(const struct mc_desired *d, const char *name);

/*
 * Computes the desired state. meshclusters is a cJSON array of MeshCluster objects
 * (borrowed). tokens (may be NULL) supplies tokens for remotes with auth "secret". Fills
 * *out (caller frees with mc_desired_free) and returns 0, or -ENOMEM. Invalid clusters are
 * reported in out->clusters, never as an error return.
 */
int mc_desired_compute(const cJSON *meshclusters, const char *local,
                       const struct mc_desired_options *opts, const struct mc_remote_token *tokens,
                       size_t ntokens, struct mc_desired *out);

/*
 * The same state for a caller that keeps it long and reads a body only when the live object
 * differs (the daemon: 4,000 objects at 1,000 clusters). The few local and meshNetworks bodies
 * are kept as text; each remote's are not kept at all but rebuilt by mc_desired_body from the
 * remote's parsed spec, which the state keeps (about a quarter kilobyte per remote instead of four
 * bodies of text). opts' strings are borrowed and must outlive out; tokens are copied.
 */
int mc_desired_compute_compact(const cJSON *meshclusters, const char *local,
                               const struct mc_desired_options *opts,
                               const struct mc_remote_token *tokens, size_t ntokens,
                               struct mc_desired *out);

/* Object i's body as a new tree the caller owns, in either form; NULL when out of memory. */
cJSON *mc_desired_body(const struct mc_desired *d, size_t i);

void mc_desired_free(struct mc_desired *d);

/*
 * The body to apply to an object that already exists: a copy of obj->object without its
 * create-only fields. Caller owns the result.
 */
cJSON *mc_desired_object_for_update(const struct mc_desired_object *obj);

/* Drops obj's create-only fields from body (a tree of obj's body the caller owns). */
void mc_desired_strip_create_only(cJSON *body, const struct mc_desired_object *obj);

/* All objects as a cJSON array (copies), in order, then the DNSConfig when DNS is managed
 * (what `meshctl render` prints). Caller owns the result. */
cJSON *mc_desired_objects_array(const struct mc_desired *d);

#endif
