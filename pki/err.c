/*
 * Error lines for pki/: the caller's message plus OpenSSL's own reason, so a failure such as
 * "signing the intermediate: ... wrong curve" keeps the library's detail text.
 */
#include <stdarg.h>
#include <stdio.h>

#include <openssl/err.h>

#include "pki/internal.h"

void pki__set_err(char *err, size_t errlen, const char *fmt, ...)
{
    unsigned long e = ERR_peek_error();
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        if (e != 0 && n >= 0 && (size_t)n < errlen) {
            char detail[256];
            ERR_error_string_n(e, detail, sizeof(detail));
            snprintf(err + n, errlen - (size_t)n, " (%s)", detail);
        }
    }
    ERR_clear_error();
}
