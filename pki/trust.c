/*
 * The TrustVerified decision, kept pure (bytes and a clock value in, a verdict out) so the
 * controller can run it anywhere and the tests can replay the seeds' failures without a
 * cluster. The order of the checks is the order an operator should fix things in: agree on
 * one root, have a cacerts Secret, make it valid, make it the agreed root, make istiod serve it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pki/pki.h"

static int finish(struct pki_trust_verdict *v, bool verified, const char *reason, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

static int finish(struct pki_trust_verdict *v, bool verified, const char *reason, const char *fmt,
                  ...)
{
    v->verified = verified;
    v->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof(v->message), fmt, ap);
    va_end(ap);
    return 0;
}

/* The one declared root, or a DeclaredRootsDisagree verdict. Returns 1 when decided. */
static int decide_declared(const struct pki_trust_input *in, struct pki_trust_verdict *v)
{
    for (size_t i = 0; i < in->n_declared_roots; i++) {
        const char *raw = in->declared_roots ? in->declared_roots[i] : NULL;
        if (!raw || !*raw)
            continue;
        char fp[PKI_FP_LEN];
        if (pki_fingerprint_normalize(raw, fp) != 0) {
            finish(v, false, PKI_REASON_DECLARED_ROOTS_DISAGREE,
                   "a MeshCluster declares spec.trust.rootCAFingerprint \"%.100s\", which is not "
                   "a SHA-256 fingerprint (32 hex bytes, colons optional)",
                   raw);
            return 1;
        }
        if (!v->declared_root_fingerprint[0]) {
            memcpy(v->declared_root_fingerprint, fp, sizeof(fp));
        } else if (strcmp(v->declared_root_fingerprint, fp) != 0) {
            finish(v, false, PKI_REASON_DECLARED_ROOTS_DISAGREE,
                   "MeshClusters declare different roots (%s and %s); every cluster of the mesh "
                   "must name the same shared root CA",
                   v->declared_root_fingerprint, fp);
            return 1;
        }
    }
    return 0;
}

static bool has_fingerprint(STACK_OF(X509) * certs, const char *fp)
{
    for (int i = 0; i < sk_X509_num(certs); i++) {
        char other[PKI_FP_LEN];
        if (pki_fingerprint_sha256(sk_X509_value(certs, i), other) == 0 && strcmp(other, fp) == 0)
            return true;
    }
    return false;
}

static int decide_istiod(const struct pki_trust_input *in, struct pki_trust_verdict *v)
{
    if (!in->istiod_root_cert.data)
        return 0;
    STACK_OF(X509) *certs = NULL;
    char err[256];
    int rc = pki_pem_parse_certs(in->istiod_root_cert, &certs, err, sizeof(err));
    if (rc == PKI_ENOMEM)
        return rc;
    if (rc != 0) {
        finish(v, false, PKI_REASON_ISTIOD_ROOT_STALE,
               "the istio-ca-root-cert ConfigMap istiod distributes holds no usable root (%s) "
               "while cacerts holds root %s; restart istiod, then the workloads",
               err, v->cacerts_root_fingerprint);
        return 1;
    }
    pki_fingerprint_sha256(sk_X509_value(certs, 0), v->istiod_root_fingerprint);
    bool serves = has_fingerprint(certs, v->cacerts_root_fingerprint);
    sk_X509_pop_free(certs, X509_free);
    if (serves)
        return 0;
    finish(v, false, PKI_REASON_ISTIOD_ROOT_STALE,
           "istiod distributes root %s (istio-ca-root-cert) but cacerts holds root %s: istiod "
           "started before cacerts existed and still signs with its self-signed CA; restart "
           "istiod, then restart the workloads so they get certificates from the shared root",
           v->istiod_root_fingerprint, v->cacerts_root_fingerprint);
    return 1;
}

/* Whether istiod's distributed roots (istio-ca-root-cert) include fp. Without cacerts this is
 * what tells an external CA (cert-manager's istio-csr, a plug-in signer) from istiod's own
 * self-signed root: the key then never lives in a Secret this controller can read. */
static bool istiod_serves(const struct pki_trust_input *in, const char *fp)
{
    STACK_OF(X509) *certs = NULL;
    char err[64];
    if (!in->istiod_root_cert.data ||
        pki_pem_parse_certs(in->istiod_root_cert, &certs, err, sizeof(err)) != 0)
        return false;
    bool serves = has_fingerprint(certs, fp);
    sk_X509_pop_free(certs, X509_free);
    return serves;
}

static bool cacerts_absent(const struct pki_trust_input *in)
{
    return !in->ca_cert.data && !in->ca_key.data && !in->root_cert.data && !in->cert_chain.data;
}

/* The first problem that is not about the intermediate's validity period, or NULL. */
static const struct pki_problem *first_structural(const struct pki_check_report *r)
{
    for (size_t i = 0; i < r->n_problems; i++)
        if (r->problems[i].kind != PKI_PROBLEM_EXPIRED &&
            r->problems[i].kind != PKI_PROBLEM_NOT_YET_VALID)
            return &r->problems[i];
    return NULL;
}

static int decide(const struct pki_trust_input *in, struct pki_trust_verdict *v,
                  struct pki_bundle *b, struct pki_check_report *r)
{
    if (decide_declared(in, v))
        return 0;
    const char *declared = v->declared_root_fingerprint;

    if (cacerts_absent(in)) {
        if (declared[0] && istiod_serves(in, declared))
            return finish(v, true, PKI_REASON_ROOT_MATCHES,
                          "no istio-system/cacerts Secret, and istiod distributes the declared "
                          "root %s (an external CA signs for it)",
                          declared);
        if (declared[0])
            return finish(v, false, PKI_REASON_NO_CACERTS,
                          "no istio-system/cacerts Secret: istiod is using its own self-signed "
                          "root instead of the declared root %s, so this cluster's workloads "
                          "are not trusted by its peers; create cacerts from the shared root, "
                          "restart istiod, then the workloads",
                          declared);
        return finish(v, false, PKI_REASON_NO_CACERTS,
                      "no istio-system/cacerts Secret and no MeshCluster declares "
                      "spec.trust.rootCAFingerprint: each cluster is using its own self-signed "
                      "root, so cross-cluster mTLS fails");
    }

    struct pki_bundle_bytes bytes = {in->ca_cert, in->ca_key, in->root_cert, in->cert_chain};
    int rc = pki_bundle_parse(&bytes, false, b, r);
    if (rc == 0)
        rc = pki_bundle_check(b, NULL, in->now, r);
    if (rc != 0)
        return rc;
    memcpy(v->cacerts_root_fingerprint, r->root_fingerprint, PKI_FP_LEN);
    memcpy(v->not_after, r->not_after_rfc3339, PKI_TIME_LEN);
    v->not_after_unix = r->not_after;
    v->expiring_soon = r->expiring_soon;

    const struct pki_problem *p = first_structural(r);
    if (p)
        return finish(v, false, PKI_REASON_CHAIN_INVALID, "istio-system/cacerts is invalid: %s%s",
                      p->text, r->n_problems > 1 ? " (and more)" : "");
    if (r->n_problems > 0)
        return finish(v, false, PKI_REASON_INTERMEDIATE_EXPIRED,
                      "istio-system/cacerts: %s; issue a new intermediate from the shared root, "
                      "update cacerts and restart istiod",
                      r->problems[0].text);
    if (declared[0] && strcmp(declared, v->cacerts_root_fingerprint) != 0)
        return finish(v, false, PKI_REASON_ROOT_MISMATCH,
                      "cacerts root %s is not the declared root %s: this cluster signs "
                      "workloads under a different root than its peers, so cross-cluster mTLS "
                      "fails; recreate cacerts from the shared root, restart istiod, then the "
                      "workloads",
                      v->cacerts_root_fingerprint, declared);
    if ((rc = decide_istiod(in, v)) != 0)
        return rc < 0 ? rc : 0;
    if (r->expiring_soon)
        return finish(v, true, PKI_REASON_EXPIRING_SOON,
                      "cacerts chains to root %s, but its intermediate expires at %s (within 30 "
                      "days); issue a new intermediate from the shared root and update cacerts",
                      v->cacerts_root_fingerprint, v->not_after);
    if (declared[0])
        return finish(v, true, PKI_REASON_ROOT_MATCHES,
                      "cacerts chains to the declared root %s%s; intermediate valid until %s",
                      declared, v->istiod_root_fingerprint[0] ? " and istiod distributes it" : "",
                      v->not_after);
    return finish(v, true, PKI_REASON_CHAIN_VERIFIED,
                  "cacerts chains to root %s (valid until %s), but no MeshCluster declares "
                  "spec.trust.rootCAFingerprint to compare it with",
                  v->cacerts_root_fingerprint, v->not_after);
}

int pki_trust_evaluate(const struct pki_trust_input *in, struct pki_trust_verdict *out)
{
    if (!in || !out)
        return PKI_EINVAL;
    memset(out, 0, sizeof(*out));
    struct pki_bundle b;
    struct pki_check_report *r = calloc(1, sizeof(*r)); /* ~5 KB: keep it off small stacks */
    memset(&b, 0, sizeof(b));
    int rc = r ? decide(in, out, &b, r) : PKI_ENOMEM;
    pki_bundle_clear(&b);
    free(r);
    if (rc != 0)
        finish(out, false, PKI_REASON_CHAIN_INVALID, "trust evaluation failed: out of memory");
    return rc;
}
