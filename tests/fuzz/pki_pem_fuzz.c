/*
 * Fuzzes the path network bytes take through pki/: a Secret's or ConfigMap's PEM data parsed
 * as certificates and keys, and the whole trust evaluation over it. The input is split at
 * "\n===\n" markers into ca-cert, ca-key, root-cert, cert-chain and istiod root, so the
 * checked-in corpus can hold real bundles and the fuzzer can mutate each part.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n===\n";
    struct pki_bytes parts[5];
    memset(parts, 0, sizeof(parts));
    const uint8_t *p = data, *end = data + size;
    for (int i = 0; i < 5 && p <= end; i++) {
        const uint8_t *next = NULL;
        for (const uint8_t *q = p; q + sizeof(sep) - 1 <= end; q++)
            if (memcmp(q, sep, sizeof(sep) - 1) == 0) {
                next = q;
                break;
            }
        const uint8_t *stop = next ? next : end;
        /* Copies make ASan see reads past each part, which a shared buffer would hide. */
        if (stop > p) {
            void *copy = malloc((size_t)(stop - p));
            if (!copy)
                break;
            memcpy(copy, p, (size_t)(stop - p));
            parts[i].data = copy;
            parts[i].len = (size_t)(stop - p);
        }
        if (!next)
            break;
        p = next + sizeof(sep) - 1;
    }

    STACK_OF(X509) *certs = NULL;
    if (pki_pem_parse_certs(parts[0], &certs, NULL, 0) == 0) {
        char fp[PKI_FP_LEN], when[PKI_TIME_LEN];
        for (int i = 0; i < sk_X509_num(certs); i++) {
            pki_fingerprint_sha256(sk_X509_value(certs, i), fp);
            pki_asn1_time_to_rfc3339(X509_get0_notAfter(sk_X509_value(certs, i)), when, NULL);
        }
        sk_X509_pop_free(certs, X509_free);
    }
    EVP_PKEY *key = NULL;
    if (pki_pem_parse_key(parts[1], &key, NULL, 0) == 0)
        EVP_PKEY_free(key);

    const char *declared[] = {"00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
                              "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"};
    struct pki_trust_input in = {
        .ca_cert = parts[0],
        .ca_key = parts[1],
        .root_cert = parts[2],
        .cert_chain = parts[3],
        .istiod_root_cert = parts[4],
        .declared_roots = declared,
        .n_declared_roots = size % 2, /* also reach the no-declaration branches */
        .now = 1800000000,
    };
    struct pki_trust_verdict v;
    pki_trust_evaluate(&in, &v);

    for (int i = 0; i < 5; i++)
        free((void *)parts[i].data);
    return 0;
}
