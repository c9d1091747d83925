/*
 * Issuing the mesh's CA certificates: a self-signed root and per-cluster intermediates.
 * The extensions follow the seeds' openssl recipe (basicConstraints CA:TRUE, marked critical
 * here as RFC 5280 asks for CA certificates, and keyUsage=critical,keyCertSign,cRLSign), and
 * the subject follows Istio's Makefile.selfsigned.mk (O=Istio, CN=Intermediate CA, L=cluster).
 * No pathlen: the seeds set none, and Istio's workload certificates sit one level below.
 */
#include <stdbool.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pki/internal.h"
#include "pki/pki.h"

/* Backdating absorbs small clock differences between the signer and the verifiers. */
#define PKI_BACKDATE_SECONDS 60

/* RFC 5280 serials are positive and at most 20 octets; 128 random bits satisfy both. */
static int set_random_serial(X509 *cert)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return PKI_ECRYPTO;
    raw[0] &= 0x7f;
    raw[0] |= 0x40; /* never zero, always a full 16 octets */
    BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
    if (!bn)
        return PKI_ENOMEM;
    ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    if (!serial)
        return PKI_ENOMEM;
    int ok = X509_set_serialNumber(cert, serial);
    ASN1_INTEGER_free(serial);
    return ok == 1 ? 0 : PKI_ECRYPTO;
}

static int add_name_entry(X509_NAME *name, const char *field, const char *value)
{
    if (!value || !*value)
        return 0;
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1,
                                      -1, 0) == 1
               ? 0
               : PKI_EINVAL;
}

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    if (!ext)
        return PKI_ECRYPTO;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : PKI_ECRYPTO;
}

/*
 * Builds and signs one certificate: a CA, or with leaf set a TLS server's certificate.
 * issuer_cert NULL means self-signed (the root): the certificate is then its own issuer for
 * the authority key identifier. san_list (may be NULL) is a whole subjectAltName value
 * ("DNS:a,IP:127.0.0.1") and wins over opts->san_dns.
 */
static int make_cert(X509 *issuer_cert, EVP_PKEY *issuer_key, EVP_PKEY *key,
                     const struct pki_ca_opts *opts, const char *default_cn, bool leaf,
                     const char *san_list, X509 **out, char *err, size_t errlen)
{
    if (!issuer_key || !key || !opts || !out || opts->days <= 0) {
        pki__set_err(err, errlen, "invalid certificate options (validity must be positive)");
        return PKI_EINVAL;
    }
    *out = NULL;
    int rc = PKI_ECRYPTO;
    X509 *cert = X509_new();
    if (!cert) {
        pki__set_err(err, errlen, "out of memory");
        return PKI_ENOMEM;
    }
    if (X509_set_version(cert, X509_VERSION_3) != 1 || (rc = set_random_serial(cert)) != 0) {
        pki__set_err(err, errlen, "setting the serial number failed");
        goto fail;
    }
    rc = PKI_ECRYPTO;

    time_t start = opts->not_before ? opts->not_before : time(NULL) - PKI_BACKDATE_SECONDS;
    if (!ASN1_TIME_adj(X509_getm_notBefore(cert), start, 0, 0) ||
        !ASN1_TIME_adj(X509_getm_notAfter(cert), start, opts->days, 0)) {
        pki__set_err(err, errlen, "setting the validity failed");
        goto fail;
    }
    if (issuer_cert &&
        ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(issuer_cert)) > 0 &&
        !X509_set1_notAfter(cert, X509_get0_notAfter(issuer_cert))) {
        pki__set_err(err, errlen, "limiting the validity to the root's failed");
        goto fail;
    }

    X509_NAME *subject = X509_get_subject_name(cert);
    if (add_name_entry(subject, "O", opts->org ? opts->org : "Istio") != 0 ||
        add_name_entry(subject, "CN", opts->cn ? opts->cn : default_cn) != 0 ||
        add_name_entry(subject, "L", opts->locality) != 0) {
        pki__set_err(err, errlen, "invalid subject name");
        rc = PKI_EINVAL;
        goto fail;
    }
    X509_NAME *issuer_name = issuer_cert ? X509_get_subject_name(issuer_cert) : subject;
    if (X509_set_issuer_name(cert, issuer_name) != 1 || X509_set_pubkey(cert, key) != 1) {
        pki__set_err(err, errlen, "setting issuer or public key failed");
        goto fail;
    }

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer_cert ? issuer_cert : cert, cert, NULL, NULL, 0);
    if (add_ext(cert, &ctx, NID_basic_constraints,
                leaf ? "critical,CA:FALSE" : "critical,CA:TRUE") != 0 ||
        add_ext(cert, &ctx, NID_key_usage,
                leaf ? "critical,digitalSignature,keyEncipherment"
                     : "critical,keyCertSign,cRLSign") != 0 ||
        (leaf && add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth") != 0) ||
        add_ext(cert, &ctx, NID_subject_key_identifier, "hash") != 0 ||
        add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") != 0) {
        pki__set_err(err, errlen, "adding the certificate's extensions failed");
        goto fail;
    }
    if (san_list && *san_list) {
        if (add_ext(cert, &ctx, NID_subject_alt_name, san_list) != 0) {
            pki__set_err(err, errlen, "invalid subjectAltName list");
            rc = PKI_EINVAL;
            goto fail;
        }
    } else if (opts->san_dns && *opts->san_dns) {
        char san[300];
        if ((size_t)snprintf(san, sizeof(san), "DNS:%s", opts->san_dns) >= sizeof(san) ||
            add_ext(cert, &ctx, NID_subject_alt_name, san) != 0) {
            pki__set_err(err, errlen, "invalid subjectAltName DNS name");
            rc = PKI_EINVAL;
            goto fail;
        }
    }
    if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) {
        pki__set_err(err, errlen, "signing the certificate failed");
        goto fail;
    }
    *out = cert;
    return 0;
fail:
    X509_free(cert);
    return rc;
}

int pki_root_create(EVP_PKEY *key, const struct pki_ca_opts *opts, X509 **out, char *err,
                    size_t errlen)
{
    return make_cert(NULL, key, key, opts, "Root CA", false, NULL, out, err, errlen);
}

int pki_intermediate_create(X509 *root_cert, EVP_PKEY *root_key, EVP_PKEY *key,
                            const struct pki_ca_opts *opts, X509 **out, char *err, size_t errlen)
{
    if (!root_cert || !root_key) {
        pki__set_err(err, errlen, "no root certificate or key");
        return PKI_EINVAL;
    }
    if (X509_check_private_key(root_cert, root_key) != 1) {
        pki__set_err(err, errlen, "the root key does not belong to the root certificate");
        return PKI_EINVAL;
    }
    return make_cert(root_cert, root_key, key, opts, "Intermediate CA", false, NULL, out, err,
                     errlen);
}

int pki_serving_self_signed(EVP_PKEY *key, const struct pki_ca_opts *opts, const char *san_list,
                            X509 **out, char *err, size_t errlen)
{
    if (!san_list || !*san_list) {
        pki__set_err(err, errlen, "a serving certificate needs at least one subjectAltName");
        return PKI_EINVAL;
    }
    return make_cert(NULL, key, key, opts, "localhost", true, san_list, out, err, errlen);
}
