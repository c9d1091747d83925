/*
 * Private key generation. Synchronous and slow for RSA 4096 (seconds), which is why the
 * daemon must run it on the threadpool; EC P-256 takes well under a millisecond.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "pki/internal.h"
#include "pki/pki.h"

int pki_key_generate(enum pki_key_type type, EVP_PKEY **out, char *err, size_t errlen)
{
    if (!out)
        return PKI_EINVAL;
    *out = NULL;
    EVP_PKEY *key = NULL;
    switch (type) {
    case PKI_KEY_EC_P256:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case PKI_KEY_RSA_4096:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
        break;
    default:
        pki__set_err(err, errlen, "unknown key type %d", (int)type);
        return PKI_EINVAL;
    }
    if (!key) {
        pki__set_err(err, errlen, "generating the %s key failed",
                     type == PKI_KEY_EC_P256 ? "EC P-256" : "RSA 4096");
        return PKI_ECRYPTO;
    }
    *out = key;
    return 0;
}

enum pki_key_type pki_key_type_of(const EVP_PKEY *key)
{
    return EVP_PKEY_is_a(key, "RSA") ? PKI_KEY_RSA_4096 : PKI_KEY_EC_P256;
}
