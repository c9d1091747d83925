/* Standard base64; see base64.h. Encoding is OpenSSL's; decoding is strict in ways OpenSSL's
 * EVP_DecodeBlock is not (it accepts misplaced padding and cannot say how many bytes padding
 * removed), so it is written out here, once. */
#include "k8s/base64.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int k8s_base64_decode(const char *in, size_t max_len, unsigned char **out, size_t *len)
{
    if (!out || !len)
        return -EINVAL;
    *out = NULL;
    *len = 0;
    if (!in)
        return -EINVAL;
    size_t inlen = strlen(in);
    /* Every 4 characters make at most 3 bytes; refuse before allocating for a huge value. */
    if (max_len && inlen / 4 * 3 > max_len + 3)
        return -EINVAL;
    unsigned char *buf = malloc(inlen / 4 * 3 + 4);
    if (!buf)
        return -ENOMEM;

    size_t n = 0, sextets = 0, pads = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < inlen; i++) {
        unsigned char c = (unsigned char)in[i];
        if (is_blank(c))
            continue;
        if (c == '=') {
            pads++;
            continue;
        }
        int v = sextet(c);
        if (v < 0 || pads > 0) /* a foreign character, or data after padding */
            goto bad;
        acc = (acc << 6) | (unsigned)v;
        if (++sextets % 4 == 0) {
            buf[n++] = (unsigned char)(acc >> 16);
            buf[n++] = (unsigned char)(acc >> 8);
            buf[n++] = (unsigned char)acc;
            acc = 0;
        }
    }
    size_t rest = sextets % 4;
    if (rest == 1 || pads > 2 || (pads > 0 && (sextets + pads) % 4 != 0))
        goto bad;
    if (rest == 2) {
        buf[n++] = (unsigned char)(acc >> 4);
    } else if (rest == 3) {
        buf[n++] = (unsigned char)(acc >> 10);
        buf[n++] = (unsigned char)(acc >> 2);
    }
    if (max_len && n > max_len)
        goto bad;
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
bad:
    free(buf);
    return -EINVAL;
}

char *k8s_base64_encode(const void *in, size_t len)
{
    if (len > (size_t)INT_MAX / 4 * 3)
        return NULL; /* EVP_EncodeBlock takes an int */
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)len);
    return out;
}
