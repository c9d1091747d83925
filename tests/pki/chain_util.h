/*
 * Test helpers for tests/pki: in-memory CA chains built with pki/ itself, plus hand-made
 * certificates with chosen extensions for the negative cases pki/ would never issue.
 */
#ifndef MC_TESTS_PKI_CHAIN_UTIL_H
#define MC_TESTS_PKI_CHAIN_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "pki/pki.h"

struct tchain {
    EVP_PKEY *root_key, *ca_key;
    X509 *root, *ca;
    /* PEM of each part, malloc'd and NUL-terminated. */
    char *root_pem, *ca_pem, *ca_key_pem, *chain_pem;
};

/* A fresh EC root and an intermediate for cluster signed by it (intermediate_days long). */
void tchain_make(struct tchain *c, const char *cluster, int intermediate_days);
/* An intermediate for another cluster under the same root as base. */
void tchain_make_sibling(struct tchain *c, const struct tchain *base, const char *cluster);
void tchain_free(struct tchain *c);

/* A pki_bytes over a NUL-terminated string (or absent for NULL). */
struct pki_bytes tbytes(const char *s);

/* The canonical fingerprint of cert. */
void tfingerprint(X509 *cert, char out[PKI_FP_LEN]);

/*
 * A certificate for key signed by issuer (issuer_cert NULL = self-signed), with the given
 * extension values as openssl.cnf would write them (NULL = extension absent).
 */
X509 *tcert_custom(X509 *issuer_cert, EVP_PKEY *issuer_key, EVP_PKEY *key, const char *cn,
                   const char *basic_constraints, const char *key_usage, int days);

char *tpem_cert(X509 *cert);
/* Concatenates two malloc'd-or-static strings into a new malloc'd one. */
char *tconcat(const char *a, const char *b);

#endif
