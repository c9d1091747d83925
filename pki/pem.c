/*
 * PEM from bytes and back. The parsing side reads network input (a Secret's data, a
 * ConfigMap), so it is bounded, never prompts for a passphrase, rejects trailing bytes inside
 * a DER block, and leaves nothing on OpenSSL's error queue. tests/fuzz/pki_pem_fuzz.c drives it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "pki/internal.h"
#include "pki/pki.h"

static int open_input(struct pki_bytes in, const char *what, BIO **bio, char *err, size_t errlen)
{
    *bio = NULL;
    if (!in.data || in.len == 0) {
        pki__set_err(err, errlen, "%s is empty", what);
        return PKI_EBADMSG;
    }
    if (in.len > PKI_MAX_PEM_BYTES) {
        pki__set_err(err, errlen, "%s is larger than %d bytes", what, PKI_MAX_PEM_BYTES);
        return PKI_EBADMSG;
    }
    *bio = BIO_new_mem_buf(in.data, (int)in.len);
    if (!*bio) {
        pki__set_err(err, errlen, "out of memory");
        return PKI_ENOMEM;
    }
    return 0;
}

/* True when the last PEM_read_bio failure only meant "no further PEM block". */
static int pem_at_end(void)
{
    unsigned long e = ERR_peek_last_error();
    return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

int pki_pem_parse_certs(struct pki_bytes in, STACK_OF(X509) * *out, char *err, size_t errlen)
{
    if (!out)
        return PKI_EINVAL;
    *out = NULL;
    ERR_clear_error();
    BIO *bio;
    int rc = open_input(in, "certificate PEM", &bio, err, errlen);
    if (rc != 0)
        return rc;
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (!certs)
        rc = PKI_ENOMEM;
    while (rc == 0) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        if (PEM_read_bio(bio, &name, &header, &data, &len) != 1) {
            if (!pem_at_end()) {
                pki__set_err(err, errlen, "corrupt PEM block");
                rc = PKI_EBADMSG;
            }
            break;
        }
        if (strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0) {
            const unsigned char *p = data;
            X509 *cert = d2i_X509(NULL, &p, len);
            if (!cert || p != data + len) {
                pki__set_err(err, errlen, "a CERTIFICATE block is not a valid X.509 certificate");
                X509_free(cert);
                rc = PKI_EBADMSG;
            } else if (!sk_X509_push(certs, cert)) {
                X509_free(cert);
                rc = PKI_ENOMEM;
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }
    BIO_free(bio);
    if (rc == 0 && sk_X509_num(certs) == 0) {
        pki__set_err(err, errlen, "no CERTIFICATE block found");
        rc = PKI_EBADMSG;
    }
    ERR_clear_error();
    if (rc != 0) {
        sk_X509_pop_free(certs, X509_free);
        return rc;
    }
    *out = certs;
    return 0;
}

int pki_pem_parse_cert(struct pki_bytes in, X509 **out, char *err, size_t errlen)
{
    if (!out)
        return PKI_EINVAL;
    *out = NULL;
    STACK_OF(X509) *certs = NULL;
    int rc = pki_pem_parse_certs(in, &certs, err, errlen);
    if (rc != 0)
        return rc;
    *out = sk_X509_shift(certs);
    sk_X509_pop_free(certs, X509_free);
    return 0;
}

/* Encrypted keys are refused rather than prompted for: there is no terminal behind a Secret. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int pki_pem_parse_key(struct pki_bytes in, EVP_PKEY **out, char *err, size_t errlen)
{
    if (!out)
        return PKI_EINVAL;
    *out = NULL;
    ERR_clear_error();
    BIO *bio;
    int rc = open_input(in, "private key PEM", &bio, err, errlen);
    if (rc != 0)
        return rc;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (!key) {
        pki__set_err(err, errlen, "no unencrypted private key found");
        return PKI_EBADMSG;
    }
    ERR_clear_error();
    *out = key;
    return 0;
}

/* Copies a memory BIO out as a NUL-terminated string, wiping the BIO's copy (it may be a key). */
static int take_bio(BIO *bio, char **out, size_t *len)
{
    char *mem = NULL;
    long n = BIO_get_mem_data(bio, &mem);
    int rc = 0;
    if (n <= 0 || !mem) {
        rc = PKI_ECRYPTO;
    } else {
        char *copy = malloc((size_t)n + 1);
        if (!copy) {
            rc = PKI_ENOMEM;
        } else {
            memcpy(copy, mem, (size_t)n);
            copy[n] = '\0';
            *out = copy;
            if (len)
                *len = (size_t)n;
        }
        OPENSSL_cleanse(mem, (size_t)n);
    }
    BIO_free(bio);
    return rc;
}

int pki_pem_encode_cert(X509 *cert, char **out, size_t *len)
{
    if (!cert || !out)
        return PKI_EINVAL;
    *out = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return PKI_ENOMEM;
    if (PEM_write_bio_X509(bio, cert) != 1) {
        BIO_free(bio);
        ERR_clear_error();
        return PKI_ECRYPTO;
    }
    return take_bio(bio, out, len);
}

int pki_pem_encode_key(EVP_PKEY *key, char **out, size_t *len)
{
    if (!key || !out)
        return PKI_EINVAL;
    *out = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return PKI_ENOMEM;
    if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        ERR_clear_error();
        return PKI_ECRYPTO;
    }
    return take_bio(bio, out, len);
}
