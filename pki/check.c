/*
 * Checking a cacerts bundle the way a verifier in another cluster will: the intermediate must
 * chain to exactly one trusted root, be a CA allowed to sign certificates, be within its
 * validity, and match its key. Every problem is collected rather than stopping at the first,
 * so `meshctl pki verify` can print them all and the controller can pick the most telling.
 *
 * The checks accept bundles made by the seeds' openssl recipe and by Istio's Makefile as well
 * as our own: a non-critical basicConstraints or a keyUsage without cRLSign still verifies.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki/pki.h"

static void add_problem(struct pki_check_report *r, enum pki_problem_kind kind, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

static void add_problem(struct pki_check_report *r, enum pki_problem_kind kind, const char *fmt,
                        ...)
{
    if (r->n_problems >= PKI_MAX_PROBLEMS)
        return;
    struct pki_problem *p = &r->problems[r->n_problems++];
    p->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->text, sizeof(p->text), fmt, ap);
    va_end(ap);
}

bool pki_report_has(const struct pki_check_report *r, enum pki_problem_kind kind)
{
    for (size_t i = 0; i < r->n_problems; i++)
        if (r->problems[i].kind == kind)
            return true;
    return false;
}

void pki_bundle_clear(struct pki_bundle *b)
{
    if (!b)
        return;
    X509_free(b->ca_cert);
    EVP_PKEY_free(b->ca_key);
    sk_X509_pop_free(b->roots, X509_free);
    sk_X509_pop_free(b->chain, X509_free);
    memset(b, 0, sizeof(*b));
}

int pki_bundle_parse(const struct pki_bundle_bytes *in, bool require_all, struct pki_bundle *out,
                     struct pki_check_report *r)
{
    memset(out, 0, sizeof(*out));
    memset(r, 0, sizeof(*r));
    char err[256];
    int rc = 0;

    if (!in->ca_cert.data)
        add_problem(r, PKI_PROBLEM_MISSING, "ca-cert.pem: missing");
    else if ((rc = pki_pem_parse_cert(in->ca_cert, &out->ca_cert, err, sizeof(err))) != 0)
        add_problem(r, PKI_PROBLEM_MISSING, "ca-cert.pem: %s", err);
    if (rc == PKI_ENOMEM)
        return rc;

    rc = 0;
    if (!in->root_cert.data)
        add_problem(r, PKI_PROBLEM_MISSING, "root-cert.pem: missing");
    else if ((rc = pki_pem_parse_certs(in->root_cert, &out->roots, err, sizeof(err))) != 0)
        add_problem(r, PKI_PROBLEM_MISSING, "root-cert.pem: %s", err);
    if (rc == PKI_ENOMEM)
        return rc;

    rc = 0;
    if (!in->ca_key.data) {
        if (require_all)
            add_problem(r, PKI_PROBLEM_MISSING, "ca-key.pem: missing");
    } else if ((rc = pki_pem_parse_key(in->ca_key, &out->ca_key, err, sizeof(err))) != 0) {
        add_problem(r, PKI_PROBLEM_MISSING, "ca-key.pem: %s", err);
    }
    if (rc == PKI_ENOMEM)
        return rc;

    rc = 0;
    if (!in->cert_chain.data) {
        if (require_all)
            add_problem(r, PKI_PROBLEM_MISSING, "cert-chain.pem: missing");
    } else if ((rc = pki_pem_parse_certs(in->cert_chain, &out->chain, err, sizeof(err))) != 0) {
        add_problem(r, PKI_PROBLEM_MISSING, "cert-chain.pem: %s", err);
    }
    return rc == PKI_ENOMEM ? rc : 0;
}

/* Time errors of the intermediate and the anchor are reported by check_validity already. */
struct verify_ctx {
    X509 *ca_cert;
    X509 *anchor;
};

static int on_verify_step(int ok, X509_STORE_CTX *ctx)
{
    if (ok)
        return 1;
    int e = X509_STORE_CTX_get_error(ctx);
    struct verify_ctx *v = X509_STORE_CTX_get_app_data(ctx);
    X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
    bool time_error = e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID;
    if (time_error && v && cur && (X509_cmp(cur, v->ca_cert) == 0 || X509_cmp(cur, v->anchor) == 0))
        return 1;
    return 0;
}

static int check_chain(const struct pki_bundle *b, X509 *anchor, time_t now,
                       struct pki_check_report *r)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = PKI_ENOMEM;
    if (!store || !ctx || X509_STORE_add_cert(store, anchor) != 1)
        goto out;
    X509_STORE_set_verify_cb(store, on_verify_step);
    if (X509_STORE_CTX_init(ctx, store, b->ca_cert, b->chain) != 1)
        goto out;
    struct verify_ctx v = {b->ca_cert, anchor};
    X509_STORE_CTX_set_app_data(ctx, &v);
    X509_STORE_CTX_set_time(ctx, 0, now);
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        add_problem(r, PKI_PROBLEM_CHAIN, "ca-cert.pem does not chain to root %s: %s",
                    r->root_fingerprint, X509_verify_cert_error_string(e));
    }
    rc = 0;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return rc;
}

static void check_ca_flags(X509 *cert, const char *what, bool key_usage_required,
                           struct pki_check_report *r)
{
    uint32_t flags = X509_get_extension_flags(cert);
    if (flags & EXFLAG_INVALID) {
        add_problem(r, PKI_PROBLEM_NOT_CA, "%s: has malformed or duplicate extensions", what);
        return;
    }
    if (!(flags & EXFLAG_BCONS) || !(flags & EXFLAG_CA))
        add_problem(r, PKI_PROBLEM_NOT_CA, "%s: not a CA (basicConstraints CA:TRUE missing)", what);
    if (flags & EXFLAG_KUSAGE) {
        if (!(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN))
            add_problem(r, PKI_PROBLEM_KEY_USAGE, "%s: keyUsage lacks keyCertSign", what);
    } else if (key_usage_required) {
        add_problem(r, PKI_PROBLEM_KEY_USAGE,
                    "%s: no keyUsage extension (keyCertSign, cRLSign expected)", what);
    }
}

static void check_validity(X509 *cert, const char *what, bool is_anchor, time_t now,
                           struct pki_check_report *r)
{
    char when[PKI_TIME_LEN];
    if (X509_cmp_time(X509_get0_notAfter(cert), &now) < 0) {
        pki_asn1_time_to_rfc3339(X509_get0_notAfter(cert), when, NULL);
        add_problem(r, is_anchor ? PKI_PROBLEM_ROOT_EXPIRED : PKI_PROBLEM_EXPIRED,
                    "%s: expired at %s", what, when);
    } else if (X509_cmp_time(X509_get0_notBefore(cert), &now) > 0) {
        pki_asn1_time_to_rfc3339(X509_get0_notBefore(cert), when, NULL);
        add_problem(r, is_anchor ? PKI_PROBLEM_ROOT_EXPIRED : PKI_PROBLEM_NOT_YET_VALID,
                    "%s: not valid before %s", what, when);
    }
}

/*
 * Istio's Makefile writes cert-chain.pem as the intermediate then the root; the seeds' lesson
 * stores the intermediate alone. Both work, so the rule is: it starts with ca-cert.pem, each
 * certificate is issued by the next, and it ends at the anchor or at a cert the anchor issued.
 */
static void check_chain_file(const struct pki_bundle *b, X509 *anchor, struct pki_check_report *r)
{
    int n = sk_X509_num(b->chain);
    if (n <= 0)
        return;
    if (X509_cmp(sk_X509_value(b->chain, 0), b->ca_cert) != 0) {
        add_problem(r, PKI_PROBLEM_CHAIN_FILE, "cert-chain.pem: does not start with ca-cert.pem");
        return;
    }
    for (int i = 0; i + 1 < n; i++) {
        if (X509_check_issued(sk_X509_value(b->chain, i + 1), sk_X509_value(b->chain, i)) !=
            X509_V_OK) {
            add_problem(r, PKI_PROBLEM_CHAIN_FILE,
                        "cert-chain.pem: certificate %d is not issued by certificate %d", i + 1,
                        i + 2);
            return;
        }
    }
    X509 *last = sk_X509_value(b->chain, n - 1);
    if (X509_cmp(last, anchor) != 0 && X509_check_issued(anchor, last) != X509_V_OK)
        add_problem(r, PKI_PROBLEM_CHAIN_FILE, "cert-chain.pem: does not lead to root %s",
                    r->root_fingerprint);
}

int pki_bundle_check(const struct pki_bundle *b, X509 *anchor, time_t now,
                     struct pki_check_report *r)
{
    if (!anchor && b->roots && sk_X509_num(b->roots) > 0)
        anchor = sk_X509_value(b->roots, 0);
    if (anchor)
        pki_fingerprint_sha256(anchor, r->root_fingerprint);
    if (b->ca_cert) {
        pki_asn1_time_to_rfc3339(X509_get0_notAfter(b->ca_cert), r->not_after_rfc3339,
                                 &r->not_after);
        r->expiring_soon = r->not_after != 0 && r->not_after - now < PKI_EXPIRING_SOON_SECONDS;
    }
    if (!b->ca_cert || !anchor)
        return 0; /* pki_bundle_parse has said what is missing */

    if (b->roots) {
        bool listed = false;
        for (int i = 0; i < sk_X509_num(b->roots) && !listed; i++)
            listed = X509_cmp(sk_X509_value(b->roots, i), anchor) == 0;
        if (!listed) {
            char fp[PKI_FP_LEN];
            pki_fingerprint_sha256(sk_X509_value(b->roots, 0), fp);
            add_problem(r, PKI_PROBLEM_ROOT_DIFFERS,
                        "root-cert.pem: holds root %s, not the trusted root %s", fp,
                        r->root_fingerprint);
        }
    }
    check_validity(b->ca_cert, "ca-cert.pem", false, now, r);
    check_validity(anchor, "root certificate", true, now, r);
    check_ca_flags(b->ca_cert, "ca-cert.pem", true, r);
    /* Roots made by `openssl req -x509` carry no keyUsage, which RFC 5280 reads as "any". */
    check_ca_flags(anchor, "root certificate", false, r);
    if (b->ca_key && X509_check_private_key(b->ca_cert, b->ca_key) != 1)
        add_problem(r, PKI_PROBLEM_KEY_MISMATCH, "ca-key.pem: does not match ca-cert.pem");
    ERR_clear_error();
    if (b->chain)
        check_chain_file(b, anchor, r);
    return check_chain(b, anchor, now, r);
}
