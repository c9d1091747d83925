/*
 * TrustVerified: turns the Secret, ConfigMap and MeshCluster set into pki_trust_evaluate's
 * byte-level input and its verdict into a condition, status fields and an Event. The cluster
 * data is untrusted (anyone with Secret write access shapes it), so every key is checked for
 * type and encoding before the certificate code sees it.
 */
#include "controller/trust.h"
#include "k8s/base64.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Reading the objects                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* The decoded cacerts keys; the buffers are owned here and freed by secret_parts_clear. */
struct secret_parts {
    unsigned char *buf[4];
    size_t len[4];
    char problem[200]; /* the first unusable key, "" when every present key decoded */
};

static const char *const secret_keys[4] = {"ca-cert.pem", "ca-key.pem", "root-cert.pem",
                                           "cert-chain.pem"};

static void secret_parts_clear(struct secret_parts *p)
{
    for (size_t i = 0; i < 4; i++)
        free(p->buf[i]);
    memset(p, 0, sizeof(*p));
}

/*
 * Decodes each key of the Secret's data. An absent key stays NULL (the evaluator decides
 * whether it was required); a key that is present but unusable is recorded in p->problem
 * and also left NULL. Returns 0 or -ENOMEM.
 */
static int secret_parts_read(const cJSON *secret, struct secret_parts *p)
{
    memset(p, 0, sizeof(*p));
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(secret, "data");
    if (data && !cJSON_IsObject(data) && !cJSON_IsNull(data)) {
        snprintf(p->problem, sizeof(p->problem), "its data is not an object");
        return 0;
    }
    for (size_t i = 0; i < 4; i++) {
        const cJSON *v = data ? cJSON_GetObjectItemCaseSensitive(data, secret_keys[i]) : NULL;
        if (!v || cJSON_IsNull(v))
            continue;
        int rc = cJSON_IsString(v)
                     ? k8s_base64_decode(v->valuestring, PKI_MAX_PEM_BYTES, &p->buf[i], &p->len[i])
                     : -EINVAL;
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0 && !p->problem[0])
            snprintf(p->problem, sizeof(p->problem), "data[\"%s\"] is not valid base64%s",
                     secret_keys[i], cJSON_IsString(v) ? "" : " (not a string)");
    }
    return 0;
}

static struct pki_bytes part_bytes(const struct secret_parts *p, size_t i)
{
    return (struct pki_bytes){.data = p->buf[i], .len = p->len[i]};
}

static struct pki_bytes configmap_root(const cJSON *cm)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(cm, "data");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, "root-cert.pem");
    if (!cJSON_IsString(v))
        return (struct pki_bytes){0};
    return (struct pki_bytes){.data = v->valuestring, .len = strlen(v->valuestring)};
}

/* ------------------------------------------------------------------------------------------ */
/* The verdict as condition, status and Event                                                 */
/* ------------------------------------------------------------------------------------------ */

/* The fingerprint of the first certificate of root (istiod's ConfigMap); "" when unusable. */
static void root_fingerprint(struct pki_bytes root, char out[PKI_FP_LEN])
{
    out[0] = '\0';
    X509 *cert = NULL;
    if (root.data && pki_pem_parse_cert(root, &cert, NULL, 0) == 0 &&
        pki_fingerprint_sha256(cert, out) < 0)
        out[0] = '\0';
    X509_free(cert);
}

static void fill_result(const struct pki_trust_verdict *v, struct pki_bytes istiod_root,
                        struct mc_trust_result *out)
{
    out->status = v->verified ? "True" : "False";
    out->reason = v->reason;
    snprintf(out->message, sizeof(out->message), "%s", v->message);
    snprintf(out->cacerts_root_fingerprint, PKI_FP_LEN, "%s", v->cacerts_root_fingerprint);
    snprintf(out->declared_root_fingerprint, PKI_FP_LEN, "%s", v->declared_root_fingerprint);
    snprintf(out->istiod_root_fingerprint, PKI_FP_LEN, "%s", v->istiod_root_fingerprint);
    /* The evaluator stops before looking at istiod's root on some early verdicts (NoCacerts). */
    if (!out->istiod_root_fingerprint[0])
        root_fingerprint(istiod_root, out->istiod_root_fingerprint);
    snprintf(out->intermediate_not_after, PKI_TIME_LEN, "%s", v->not_after);
    /* The root in use is the one workloads get certificates from: cacerts' when istiod has
     * loaded it, otherwise whatever istiod distributes (its self-signed root). */
    snprintf(out->root_fingerprint, PKI_FP_LEN, "%s",
             v->cacerts_root_fingerprint[0] ? v->cacerts_root_fingerprint
                                            : out->istiod_root_fingerprint);

    /* Without cacerts the evaluator cannot name the root in use; istiod's ConfigMap can. */
    if (strcmp(v->reason, PKI_REASON_NO_CACERTS) == 0 && out->istiod_root_fingerprint[0]) {
        size_t used = strlen(out->message);
        snprintf(out->message + used, sizeof(out->message) - used,
                 " (istiod distributes its self-signed root %s)", out->istiod_root_fingerprint);
    }

    if (v->expiring_soon && v->not_after[0]) {
        out->warn = true;
        snprintf(out->event_message, sizeof(out->event_message),
                 "the istio-system/cacerts intermediate (ca-cert.pem) expires at %s; issue a new "
                 "one from the shared root and update cacerts",
                 v->not_after);
    }
}

static void fill_failure(struct mc_trust_result *out, const char *reason, const char *msg)
{
    out->status = "False";
    out->reason = reason;
    snprintf(out->message, sizeof(out->message), "%s", msg);
}

/* Every MeshCluster's spec.trust.rootCAFingerprint ("": none), borrowed from in; a new
 * array of in->nclusters (> 0) the caller frees, NULL when out of memory. */
static const char **declared_roots(const struct mc_trust_input *in)
{
    const char **declared = calloc(in->nclusters, sizeof(*declared));
    for (size_t i = 0; declared && i < in->nclusters; i++)
        declared[i] = in->clusters[i].root_ca_fingerprint;
    return declared;
}

/*
 * An undecodable key is a broken Secret even when the evaluator could do without that key;
 * only a disagreement among MeshClusters outranks it (nothing to compare against). Turns *out
 * into ChainInvalid naming the problem then.
 */
static void report_broken_secret(const struct pki_trust_verdict *v,
                                 const struct secret_parts *parts, bool secret_empty,
                                 struct mc_trust_result *out)
{
    bool outranks = strcmp(v->reason, PKI_REASON_DECLARED_ROOTS_DISAGREE) == 0;
    if (outranks || (!parts->problem[0] && !secret_empty))
        return;
    char msg[sizeof(out->message)];
    snprintf(msg, sizeof(msg),
             "istio-system/cacerts is invalid: %s; recreate it from the shared root's "
             "intermediate (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem), then "
             "restart istiod",
             parts->problem[0] ? parts->problem : "it has none of the cacerts keys");
    fill_failure(out, PKI_REASON_CHAIN_INVALID, msg);
}

int mc_trust_evaluate(const struct mc_trust_input *in, struct mc_trust_result *out)
{
    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (!in || (in->nclusters && !in->clusters)) {
        fill_failure(out, PKI_REASON_CHAIN_INVALID, "trust evaluation called without input");
        return -EINVAL;
    }

    const char **declared = NULL;
    if (in->nclusters && !(declared = declared_roots(in)))
        goto nomem;

    struct secret_parts parts;
    if (in->cacerts_secret) {
        if (secret_parts_read(in->cacerts_secret, &parts) < 0) {
            secret_parts_clear(&parts);
            free(declared);
            goto nomem;
        }
    } else {
        memset(&parts, 0, sizeof(parts));
    }

    struct pki_trust_input ti = {
        .ca_cert = part_bytes(&parts, 0),
        .ca_key = part_bytes(&parts, 1),
        .root_cert = part_bytes(&parts, 2),
        .cert_chain = part_bytes(&parts, 3),
        .istiod_root_cert =
            in->root_configmap ? configmap_root(in->root_configmap) : (struct pki_bytes){0},
        .declared_roots = declared,
        .n_declared_roots = in->nclusters,
        .now = in->now,
    };
    /* A Secret with none of the keys is still "cacerts exists": istiod would fail on it
     * rather than fall back to self-signing, so report it as broken, not as absent. */
    bool secret_empty = in->cacerts_secret && !ti.ca_cert.data && !ti.ca_key.data &&
                        !ti.root_cert.data && !ti.cert_chain.data;

    struct pki_trust_verdict v;
    int rc = pki_trust_evaluate(&ti, &v);
    free(declared);
    if (rc < 0) {
        secret_parts_clear(&parts);
        goto nomem;
    }
    fill_result(&v, ti.istiod_root_cert, out);

    report_broken_secret(&v, &parts, secret_empty, out);
    secret_parts_clear(&parts);
    return 0;

nomem:
    fill_failure(out, PKI_REASON_CHAIN_INVALID, "trust evaluation failed: out of memory");
    return -ENOMEM;
}

cJSON *mc_trust_status_json(const struct mc_trust_result *r)
{
    if (!r)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (r->root_fingerprint[0] &&
        !cJSON_AddStringToObject(o, "rootCAFingerprint", r->root_fingerprint))
        goto fail;
    if (r->intermediate_not_after[0] &&
        !cJSON_AddStringToObject(o, "intermediateNotAfter", r->intermediate_not_after))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}
