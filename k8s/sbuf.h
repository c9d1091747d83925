/*
 * A growable, always NUL-terminated byte buffer for building text (log lines, the metrics
 * exposition). Internal to k8s/. Allocation failure is sticky: once `failed` is set every
 * later put is a no-op, so callers check once at the end instead of after each append.
 * Zero-initialise to start; the caller owns `buf` and frees it.
 */
#ifndef K8S_SBUF_H
#define K8S_SBUF_H

#include <stddef.h>

typedef struct k8s__sbuf {
    char *buf;
    size_t len, cap;
    int failed;
} k8s__sbuf;

/* Makes room for extra more bytes (plus the NUL). */
void k8s__sb_reserve(k8s__sbuf *b, size_t extra);
void k8s__sb_put(k8s__sbuf *b, const char *s, size_t n);
void k8s__sb_str(k8s__sbuf *b, const char *s);

#endif
