/*
 * Base64 as Kubernetes writes []byte fields (Secret data, kubeconfig *-data): the standard
 * alphabet of RFC 4648 section 4. The one codec of the project; every module uses it.
 */
#ifndef K8S_BASE64_H
#define K8S_BASE64_H

#include <stddef.h>

/*
 * Decodes in (NUL-terminated) into a malloc'd buffer with a NUL after the data (*out, caller
 * frees; *len excludes the NUL). ASCII whitespace is ignored (kubeconfigs wrap lines); padding
 * is optional but, when present, must be right and last. Input that would decode to more than
 * max_len bytes is refused before anything is allocated for it (0: no limit). Returns 0, -EINVAL
 * (not base64, or too long) or -ENOMEM; on error *out is NULL.
 */
int k8s_base64_decode(const char *in, size_t max_len, unsigned char **out, size_t *len);

/* Encodes len bytes with padding; returns a malloc'd NUL-terminated string or NULL. */
char *k8s_base64_encode(const void *in, size_t len);

#endif
