/*
 * Helpers shared by the files of pki/ and by nothing outside it.
 */
#ifndef MC_PKI_INTERNAL_H
#define MC_PKI_INTERNAL_H

#include <stddef.h>

/*
 * Writes a printf-style line to err (when err is non-NULL), followed by the oldest OpenSSL
 * error on this thread's queue if there is one, and clears that queue either way so a later
 * call never reports a stale error.
 */
void pki__set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
