/* Growable text buffer shared by the logger and the metrics exposition (see sbuf.h). */
#include "k8s/sbuf.h"

#include <stdlib.h>
#include <string.h>

void k8s__sb_reserve(k8s__sbuf *b, size_t extra)
{
    if (b->failed || b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *grown = realloc(b->buf, cap);
    if (!grown) {
        b->failed = 1;
        return;
    }
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
