/*
 * Helpers for the pki tests (see chain_util.h). Failures abort: a helper that cannot build
 * its fixture must not let a test pass vacuously.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "chain_util.h"

static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "test fixture failed: %s\n", what);
        abort();
    }
}

struct pki_bytes tbytes(const char *s)
{
    struct pki_bytes b = {s, s ? strlen(s) : 0};
    return b;
}

void tfingerprint(X509 *cert, char out[PKI_FP_LEN])
{
    must(pki_fingerprint_sha256(cert, out) == 0, "fingerprint");
}

char *tpem_cert(X509 *cert)
{
    char *pem = NULL;
    must(pki_pem_encode_cert(cert, &pem, NULL) == 0, "encode cert");
    return pem;
}

char *tconcat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    must(s != NULL, "malloc");
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

static void make_intermediate(struct tchain *c, const char *cluster, int days)
{
    char err[256] = "";
    struct pki_ca_opts opts = {
        .locality = cluster, .san_dns = "istiod.istio-system.svc", .days = days};
    must(pki_key_generate(PKI_KEY_EC_P256, &c->ca_key, err, sizeof(err)) == 0, err);
    must(pki_intermediate_create(c->root, c->root_key, c->ca_key, &opts, &c->ca, err,
                                 sizeof(err)) == 0,
         err);
    c->ca_pem = tpem_cert(c->ca);
    must(pki_pem_encode_key(c->ca_key, &c->ca_key_pem, NULL) == 0, "encode key");
    c->chain_pem = tconcat(c->ca_pem, c->root_pem);
}

void tchain_make(struct tchain *c, const char *cluster, int intermediate_days)
{
    memset(c, 0, sizeof(*c));
    char err[256] = "";
    struct pki_ca_opts opts = {.days = 3650};
    must(pki_key_generate(PKI_KEY_EC_P256, &c->root_key, err, sizeof(err)) == 0, err);
    must(pki_root_create(c->root_key, &opts, &c->root, err, sizeof(err)) == 0, err);
    c->root_pem = tpem_cert(c->root);
    make_intermediate(c, cluster, intermediate_days);
}

void tchain_make_sibling(struct tchain *c, const struct tchain *base, const char *cluster)
{
    memset(c, 0, sizeof(*c));
    must(EVP_PKEY_up_ref(base->root_key) == 1 && X509_up_ref(base->root) == 1, "up_ref");
    c->root_key = base->root_key;
    c->root = base->root;
    c->root_pem = tpem_cert(c->root);
    make_intermediate(c, cluster, 730);
}

void tchain_free(struct tchain *c)
{
    EVP_PKEY_free(c->root_key);
    EVP_PKEY_free(c->ca_key);
    X509_free(c->root);
    X509_free(c->ca);
    free(c->root_pem);
    free(c->ca_pem);
    free(c->ca_key_pem);
    free(c->chain_pem);
    memset(c, 0, sizeof(*c));
}

static void add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
    if (!value)
        return;
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    must(ext != NULL, value);
    must(X509_add_ext(cert, ext, -1) == 1, "add ext");
    X509_EXTENSION_free(ext);
}

X509 *tcert_custom(X509 *issuer_cert, EVP_PKEY *issuer_key, EVP_PKEY *key, const char *cn,
                   const char *basic_constraints, const char *key_usage, int days)
{
    X509 *cert = X509_new();
    must(cert != NULL, "X509_new");
    X509_set_version(cert, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(cert, issuer_cert ? X509_get_subject_name(issuer_cert) : name);
    X509_set_pubkey(cert, key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer_cert ? issuer_cert : cert, cert, NULL, NULL, 0);
    add_ext(cert, &ctx, NID_basic_constraints, basic_constraints);
    add_ext(cert, &ctx, NID_key_usage, key_usage);
    add_ext(cert, &ctx, NID_subject_key_identifier, "hash");
    must(X509_sign(cert, issuer_key, EVP_sha256()) > 0, "sign");
    return cert;
}
