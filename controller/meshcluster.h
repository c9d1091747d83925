/*
 * The MeshCluster resource (meshcluster.io/v1alpha1) as a C struct with every default of
 * the CRD applied, so the rest of the controller never looks at raw JSON. The defaults are
 * the values of the manual guide: network = name, `<name>-k8s-operator` and
 * `<name>-istio-eastwestgateway` tailnet hostnames, tag:istio-eastwestgateway, proxy class
 * `common`, gateway ports 15021/15443/15012/15017, remote-secret auth `tailscale`.
 */
#ifndef MC_MESHCLUSTER_H
#define MC_MESHCLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#define MC_API_GROUP   "meshcluster.io"
#define MC_API_VERSION "meshcluster.io/v1alpha1"
#define MC_KIND        "MeshCluster"

/* Why a MeshCluster is not accepted: the condition reason, the field and a sentence. When
 * validation finds several problems, reason and field are the first one's and message holds
 * them all, "<first sentence>; <field>: <sentence>; ..." (as kube-apiserver lists causes). */
struct mc_field_error {
    char reason[64];
    char field[128];
    char message[1024];
};

/* Fills *err (nothing when err is NULL). */
void mc_field_error_set(struct mc_field_error *err, const char *reason, const char *field,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

enum mc_remote_auth {
    MC_AUTH_TAILSCALE, /* kubeconfig token "unused": Tailscale app capabilities authenticate */
    MC_AUTH_SECRET,    /* a real token read from a Secret by the caller */
};

struct mc_gateway_ports {
    int status;  /* 15021 status-port */
    int tls;     /* 15443 tls: cross-network traffic */
    int istiod;  /* 15012 tls-istiod */
    int webhook; /* 15017 tls-webhook */
};

struct mc_meshcluster {
    char *name; /* metadata.name: the Istio cluster name */
    char *uid;
    char *creation_timestamp; /* RFC 3339, "" if unknown: orders conflict resolution */
    long long generation;

    char *network;
    char *mesh_id; /* "" when unset */
    char *region, *zone;
    /* spec.locality.failover: the regions this cluster's region fails over to, most preferred
     * first (controller/locality.h decides which one counts); empty when unset. */
    char **failover;
    size_t nfailover;

    char *tailnet; /* MagicDNS suffix, e.g. your-tailnet.ts.net */
    char *api_proxy_hostname;
    char *gateway_hostname;
    char **gateway_tags;
    size_t ngateway_tags;
    char *proxy_class;

    struct mc_gateway_ports ports;

    enum mc_remote_auth auth;
    char *secret_namespace, *secret_name, *secret_key; /* MC_AUTH_SECRET only */
    char *remote_server; /* "" = https://<api_proxy_hostname>.<tailnet> */
    /* spec.remoteSecret.caBundle: base64 PEM of the CA(s) the remote's server certificate
     * chains to, "" when unset (the system's trust, as for Tailscale's public certificates). */
    char *ca_bundle;

    char *root_ca_fingerprint; /* "" when unset */
};

/*
 * Fills *mc from a MeshCluster object (borrowed), applying defaults. On a malformed field
 * (wrong JSON type, unknown enum value) returns -EINVAL and describes it in *err (may be
 * NULL); *mc is then cleared. Returns -ENOMEM on allocation failure. Range and name checks
 * are left to mc_validate, which sees the whole set.
 */
int mc_meshcluster_parse(const cJSON *obj, struct mc_meshcluster *mc, struct mc_field_error *err);

/* Frees everything *mc owns and zeroes it; safe on a zeroed or cleared struct. */
void mc_meshcluster_clear(struct mc_meshcluster *mc);

/*
 * True when v is a JSON number holding a whole value in [lo, hi], stored in *out (left
 * untouched otherwise, so a default set beforehand survives). JSON
 * numbers arrive as doubles, and converting one outside the target's range is undefined in
 * C, so every integer field is read through this.
 */
#define MC_JSON_INTEGER_MAX 9007199254740992LL /* 2^53: past it doubles skip integers */
bool mc_json_integer(const cJSON *v, long long lo, long long hi, long long *out);

/* "https://<api_proxy_hostname>.<tailnet>" or the remote_server override; caller frees. */
char *mc_meshcluster_api_server_url(const struct mc_meshcluster *mc);

#endif
