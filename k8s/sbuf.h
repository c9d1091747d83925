/*
 * A growable, always NUL-terminated byte buffer for building text (log lines, the metrics
 * exposition, emitted YAML, HTTP bodies, files read whole). Internal to k8s/. Allocation
 * failure is sticky: once `failed` is set every later put is a no-op, so callers check once at
 * the end instead of after each append. Zero-initialise to start; the caller owns `buf` and
 * frees it (or hands it over with k8s__sb_take). While buf is non-NULL, buf[len] is '\0'.
 *
 * Capacity starts at 256 bytes and doubles; callers that need a hard bound (a maximum body or
 * file size) check it themselves before putting, the buffer has no limit of its own.
 */
#ifndef K8S_SBUF_H
#define K8S_SBUF_H

#include <stddef.h>

typedef struct k8s__sbuf {
    char *buf;
    size_t len, cap;
    int failed;
} k8s__sbuf;

/* Makes room for extra more bytes (plus the NUL). A size that cannot be represented fails. */
void k8s__sb_reserve(k8s__sbuf *b, size_t extra);
void k8s__sb_put(k8s__sbuf *b, const char *s, size_t n);
void k8s__sb_str(k8s__sbuf *b, const char *s);

/*
 * Hands over the text: returns buf (the caller frees it), or NULL after an allocation failure,
 * in which case the partial text has been freed. An empty buffer yields an allocated "".
 * Either way b is left zeroed, ready for reuse.
 */
char *k8s__sb_take(k8s__sbuf *b);

/* Large blocks we free threshold, see k8s__give_back. */
#define K8S__GIVE_BACK_MIN (4u * 1024u * 1024u)

/*
 * To be called after freeing a block of `freed` bytes. glibc raises its mmap threshold each time
 * a large mmapped block is freed, so the next large buffers (response bodies, watch lines) come
 * from the heap and stay resident after free: one burst of huge answers from a broken or hostile
 * server left a daemon at its peak RSS (170 MiB) for good. From K8S__GIVE_BACK_MIN bytes on, the
 * free memory is returned to the system (malloc_trim; a no-op without glibc).
 */
void k8s__give_back(size_t freed);

#endif
