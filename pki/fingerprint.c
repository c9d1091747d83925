/*
 * Fingerprints and times in the forms people compare by eye: the SHA-256 fingerprint exactly
 * as `openssl x509 -noout -fingerprint -sha256` prints it (upper-case pairs, colons), and
 * notAfter as RFC 3339 UTC like Kubernetes status fields.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>

#include "pki/pki.h"

static void format_fingerprint(const unsigned char *md, size_t n, char out[PKI_FP_LEN])
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < PKI_FP_LEN; i++) {
        if (i > 0)
            out[o++] = ':';
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 0xf];
    }
    out[o] = '\0';
}

int pki_fingerprint_sha256(X509 *cert, char out[PKI_FP_LEN])
{
    out[0] = '\0';
    if (!cert)
        return PKI_EINVAL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32)
        return PKI_ECRYPTO;
    format_fingerprint(md, n, out);
    return 0;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int pki_fingerprint_normalize(const char *in, char out[PKI_FP_LEN])
{
    out[0] = '\0';
    if (!in)
        return PKI_EINVAL;
    while (isspace((unsigned char)*in))
        in++;
    static const char *const prefixes[] = {
        "sha256 Fingerprint=", "SHA256 Fingerprint=", "sha256:", NULL};
    for (const char *const *p = prefixes; *p; p++) {
        size_t plen = strlen(*p);
        if (strncasecmp(in, *p, plen) == 0) {
            in += plen;
            break;
        }
    }
    unsigned char md[32];
    size_t n = 0;
    int hi = -1;
    for (; *in && !isspace((unsigned char)*in); in++) {
        if (*in == ':') {
            if (hi >= 0) /* a colon splitting a byte is a typo, not a separator */
                return PKI_EINVAL;
            continue;
        }
        int v = hex_value((unsigned char)*in);
        if (v < 0)
            return PKI_EINVAL;
        if (hi < 0) {
            hi = v;
        } else {
            if (n == sizeof(md))
                return PKI_EINVAL;
            md[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    while (isspace((unsigned char)*in))
        in++;
    if (*in || hi >= 0 || n != sizeof(md))
        return PKI_EINVAL;
    format_fingerprint(md, n, out);
    return 0;
}

int pki_asn1_time_to_rfc3339(const ASN1_TIME *t, char out[PKI_TIME_LEN], time_t *unix_out)
{
    if (out)
        out[0] = '\0';
    if (unix_out)
        *unix_out = 0;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return PKI_EBADMSG;
    if (out && strftime(out, PKI_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return PKI_EBADMSG;
    if (unix_out)
        *unix_out = timegm(&tm);
    return 0;
}
