/* Growable text buffer shared across k8s/ (see sbuf.h). */
#include "k8s/sbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

void k8s__sb_reserve(k8s__sbuf *b, size_t extra)
{
    if (b->failed)
        return;
    if (extra > SIZE_MAX - 1 - b->len) {
        b->failed = 1; /* len + extra + 1 would wrap */
        return;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need; /* doubling would wrap; the exact size still fits */
            break;
        }
        cap *= 2;
    }
    char *grown = realloc(b->buf, cap);
    if (!grown) {
        b->failed = 1;
        return;
    }
    grown[b->len] = '\0'; /* a first allocation must read as "" too */
    b->buf = grown;
    b->cap = cap;
}

void k8s__sb_put(k8s__sbuf *b, const char *s, size_t n)
{
    k8s__sb_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void k8s__sb_str(k8s__sbuf *b, const char *s)
{
    k8s__sb_put(b, s, strlen(s));
}

char *k8s__sb_take(k8s__sbuf *b)
{
    k8s__sb_reserve(b, 0); /* an empty buffer still hands over "" */
    char *out = b->failed ? NULL : b->buf;
    if (!out)
        free(b->buf);
    memset(b, 0, sizeof(*b));
    return out;
}

void k8s__give_back(size_t freed)
{
#ifdef __GLIBC__
    if (freed >= K8S__GIVE_BACK_MIN)
        malloc_trim(0);
#else
    (void)freed;
#endif
}
