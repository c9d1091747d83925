/*
 * UTF-8 well-formedness, internal to k8s/. The API server only ever sends valid UTF-8 (Go's
 * encoding/json replaces bad bytes with U+FFFD), and it refuses invalid UTF-8 in what we send
 * back; cJSON keeps raw bytes in strings as they came. Bytes from the network are checked at
 * the edge so that a broken or hostile peer cannot plant strings in our caches that every later
 * write would carry and the server would reject forever.
 */
#ifndef K8S_UTF8_H
#define K8S_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at s (n > 0 bytes left), or 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
size_t k8s__utf8_len(const unsigned char *s, size_t n);

/* True when all n bytes of s are well-formed UTF-8 (NUL bytes included as such). */
bool k8s__utf8_valid(const char *s, size_t n);

#endif
