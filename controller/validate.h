/*
 * Validation of a set of MeshClusters, one verdict per cluster. A verdict of "not
 * accepted" carries the condition reason, the field path and a sentence, and means the
 * controller touches nothing for that cluster; the other clusters go on.
 *
 * Conflicts between clusters (a tailnet hostname used twice, one network whose members
 * disagree about its gateway port) are resolved the Kubernetes way: the oldest object
 * (creationTimestamp, then name) keeps the claim and the newer one is rejected, so the
 * outcome does not depend on list order. Two meshIDs in one set: clusters whose meshID
 * differs from the local cluster's (or, if the local cluster sets none, from the most common
 * one) are rejected. An unknown local cluster name rejects every cluster.
 */
#ifndef MC_VALIDATE_H
#define MC_VALIDATE_H

#include "controller/meshcluster.h"

/* Bounds the CRD states too (deploy/crds/meshcluster.yaml): the daemon enforces them itself,
 * since a CRD may be older or looser than this binary. */
#define MC_MAX_URL_LEN       512
#define MC_MAX_CA_BUNDLE_LEN 65536 /* base64 characters: a few dozen certificates */
#define MC_MAX_TAGS          16
#define MC_MAX_TAG_LEN       64
#define MC_QUOTE_MAX         80 /* at most this much of a bad value is quoted back in a message */
#define MC_XSTR(x)           #x
#define MC_STR(x)            MC_XSTR(x)

struct mc_verdict {
    int accepted;
    struct mc_field_error why; /* set when !accepted */
};

/*
 * Where a secretRef (remoteSecret auth "secret") may point. A MeshCluster author must not be
 * able to turn any Secret the controller can read into a bearer token sent to a server of
 * their choosing (issue 18.3: cacerts' ca-key.pem was), so a ref must name a Secret in
 * token_namespace, never one in istio_namespace (the controller's own Secrets and Istio's CA)
 * nor one named cacerts. The reader also requires the Secret's opt-in label
 * (MC_LABEL_REMOTE_TOKEN) and a value shaped like a bearer token (mc_check_bearer_token).
 */
#define MC_LABEL_REMOTE_TOKEN "meshcluster.io/remote-token"
struct mc_secret_policy {
    const char *token_namespace; /* "" or NULL: auth "secret" is refused */
    const char *istio_namespace;
};

/* Appends to v every way c's secretRef breaks policy (nothing unless auth is "secret"). */
void mc_validate_secret_ref(const struct mc_meshcluster *c, const struct mc_secret_policy *policy,
                            struct mc_verdict *v);

/*
 * Fills verdicts[i] for clusters[i], i < n. local is the --cluster-name of this daemon;
 * policy (may be NULL: no auth "secret" allowed) bounds secretRefs.
 * Clusters already known to be malformed can be passed with a zeroed struct and a
 * pre-filled rejected verdict: set skip[i] (may be NULL) and they keep their verdict and
 * take no part in conflict checks.
 */
void mc_validate(const struct mc_meshcluster *clusters, size_t n, const char *local,
                 const struct mc_secret_policy *policy, const int *skip,
                 struct mc_verdict *verdicts);

/* RFC 1123 label: 1-63 of [a-z0-9-], alphanumeric at both ends. */
int mc_is_dns1123_label(const char *s);
/* RFC 1035 label: as above but starting with a letter (Service names). */
int mc_is_dns1035_label(const char *s);
/* RFC 1123 subdomain: dot-separated labels, at most 253 characters. */
int mc_is_dns1123_subdomain(const char *s);
/* A Tailscale ACL tag: "tag:" then [a-z0-9-]+, at most MC_MAX_TAG_LEN characters. */
int mc_is_tailscale_tag(const char *s);
/* NULL when b64 is base64 of PEM holding at least one certificate, else why not. */
const char *mc_check_ca_bundle(const char *b64);
/* A Secret data key: [-._a-zA-Z0-9]+, at most 253 characters, not "." or "..". */
int mc_is_secret_key(const char *s);

/*
 * Checks a URL a kubeconfig may name as its server, parsed by libcurl: https, a DNS name or
 * IP address as host, an optional port in 1-65535, an optional plain path; no userinfo,
 * query, fragment, whitespace, control or non-ASCII characters, at most MC_MAX_URL_LEN
 * characters. Returns NULL when it is one, else why not (a static phrase).
 */
const char *mc_check_https_url(const char *s);

/*
 * Checks the bytes read from a token Secret before they become a bearer token in a remote
 * secret: surrounding whitespace is dropped (as client-go does with token files), what is
 * left must be 1-MC_MAX_TOKEN_LEN printable ASCII characters without spaces. Returns NULL
 * and sets *start and *n to the token inside buf, or says why not (a static phrase).
 */
#define MC_MAX_TOKEN_LEN 16384
const char *mc_check_bearer_token(const char *buf, size_t len, size_t *start, size_t *n);

/* A label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends (or empty). */
int mc_is_label_value(const char *s);

#endif
