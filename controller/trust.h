/*
 * The TrustVerified condition: does this cluster's Istio sign workloads under the root the
 * mesh declares? A pure adapter between what the controller reads from the cluster (the
 * istio-system/cacerts Secret, istiod's istio-ca-root-cert ConfigMap, the MeshCluster set)
 * and pki_trust_evaluate, which does the certificate work. No I/O, no clock, no globals:
 * the reconciler watches the objects, calls mc_trust_evaluate whenever any of them changes,
 * and writes the result (condition, .status.trust, an optional Warning Event).
 *
 * It catches the two failures of the trust-federation seed before traffic does:
 *   - clusters on different roots (cacerts root != declared root)   -> RootMismatch
 *   - istiod started before cacerts existed (it still serves its own
 *     self-signed root in istio-ca-root-cert)                         -> IstiodRootStale
 *
 * Certificate work runs OpenSSL (chain verification, a few ECDSA/RSA verifies): a few
 * milliseconds, cheap enough for the loop thread; everything in the result is plain
 * fixed-size data, so it may also be computed on the threadpool and handed back.
 */
#ifndef MC_TRUST_H
#define MC_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "controller/meshcluster.h"
#include "pki/pki.h"

#define MC_COND_TRUST_VERIFIED "TrustVerified"

/* Where Istio keeps its CA material; the controller watches these by name (field selector
 * metadata.name=...), since they are not labelled as ours. */
#define MC_TRUST_CACERTS_SECRET    "cacerts"
#define MC_TRUST_ROOT_CONFIGMAP    "istio-ca-root-cert"
#define MC_TRUST_DEFAULT_NAMESPACE "istio-system"

/* Event reason (type Warning) when the intermediate expires within 30 days. */
#define MC_TRUST_EVENT_EXPIRING "IntermediateExpiringSoon"

/* Everything borrowed for the duration of the call. */
struct mc_trust_input {
    /* The istio-system/cacerts Secret as the API server returns it (its base64 `data` keys
     * ca-cert.pem, root-cert.pem, cert-chain.pem, optional ca-key.pem), or NULL when absent. */
    const cJSON *cacerts_secret;
    /* The istio-ca-root-cert ConfigMap of the istio namespace (key root-cert.pem), or NULL. */
    const cJSON *root_configmap;
    /* The parsed MeshCluster set (local and remotes): each spec.trust.rootCAFingerprint is a
     * declaration of the mesh root; "" means not declared. They must all agree. */
    const struct mc_meshcluster *clusters;
    size_t nclusters;
    time_t now;
};

/*
 * The outcome, plain data. Map the condition onto the reconciler's struct mc_condition as
 * {MC_COND_TRUST_VERIFIED, status, reason, message}; the strings live in this struct.
 */
struct mc_trust_result {
    const char *status; /* "True" or "False" (static) */
    const char *reason; /* CamelCase, one of PKI_REASON_* (static) */
    char message[1024]; /* names the fingerprints involved and what to do */

    /* .status.trust: the root actually in use (cacerts' root, else the self-signed root istiod
     * distributes, else ""), and the intermediate's notAfter (RFC 3339, "" when unknown). */
    char root_fingerprint[PKI_FP_LEN];
    char intermediate_not_after[PKI_TIME_LEN];

    /* Fingerprints as found, for logs and tests ("" when unknown). */
    char cacerts_root_fingerprint[PKI_FP_LEN];
    char declared_root_fingerprint[PKI_FP_LEN];
    char istiod_root_fingerprint[PKI_FP_LEN];

    /* A Warning Event to record (reason MC_TRUST_EVENT_EXPIRING) when warn is set. Dedupe by
     * intermediate_not_after: the same intermediate warrants one Event, not one per resync. */
    bool warn;
    char event_message[256];
};

/*
 * Decides TrustVerified from in. Never fails on bad cluster data: a missing or corrupt Secret
 * key (non-string value, invalid base64, PEM that does not parse) becomes False/ChainInvalid
 * with a message naming the key. Always fills *out; returns 0, -EINVAL for NULL arguments, or
 * -ENOMEM when memory runs out (*out then holds a False condition saying so).
 */
int mc_trust_evaluate(const struct mc_trust_input *in, struct mc_trust_result *out);

/*
 * The .status.trust object for r: {"rootCAFingerprint", "intermediateNotAfter"}, each left out
 * when unknown. New object owned by the caller, NULL on allocation failure.
 */
cJSON *mc_trust_status_json(const struct mc_trust_result *r);

#endif
