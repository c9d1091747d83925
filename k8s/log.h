/*
 * Structured logger: one record a line, either a JSON object or logfmt-style text, with the time
 * (RFC 3339, UTC, milliseconds), the level, the message and key/value fields in call order:
 *
 *   {"time":"2026-11-23T13:03:08.123Z","level":"info","msg":"applied","meshcluster":"west"}
 *   time=2026-11-23T13:03:08.123Z level=info msg=applied meshcluster=west
 *
 * Secrets never reach the output. The value of any field whose key names a secret (token,
 * password, secret, kubeconfig, data; matched case-insensitively as a word of the key, so
 * "bearerToken", "client_password" and "secret.data" count but "metadata" does not) is replaced
 * by "[redacted]", and every value registered with k8s_log_add_secret() is replaced by
 * "[redacted]" wherever it appears: in the message, in any value, in any key.
 *
 * A logger may be shared between threads: records are written whole, one fwrite each.
 */
#ifndef K8S_LOG_H
#define K8S_LOG_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    K8S_LOG_DEBUG,
    K8S_LOG_INFO,
    K8S_LOG_WARN,
    K8S_LOG_ERROR,
} k8s_log_level;

typedef enum {
    K8S_LOG_JSON,
    K8S_LOG_TEXT,
} k8s_log_format;

typedef struct k8s_log k8s_log;

/* Wall-clock milliseconds since the Unix epoch; injectable so tests get fixed times. */
typedef int64_t (*k8s_log_clock_fn)(void *ctx);

/*
 * out is borrowed and must outlive the logger; records below min_level are dropped. Returns NULL
 * on allocation failure.
 */
k8s_log *k8s_log_new(FILE *out, k8s_log_format format, k8s_log_level min_level);

/* Frees the logger and wipes the registered secrets from memory. NULL is a no-op. */
void k8s_log_free(k8s_log *log);

void k8s_log_set_level(k8s_log *log, k8s_log_level min_level);
void k8s_log_set_clock(k8s_log *log, k8s_log_clock_fn now, void *ctx);

/* Whether a record at level would be written (to skip building expensive fields). */
int k8s_log_enabled(const k8s_log *log, k8s_log_level level);

/*
 * Registers a secret value to redact everywhere, together with its base64 form (Secret data
 * travels base64-encoded). The value is copied. Returns 0, -EINVAL for values shorter than 4
 * bytes (redacting those would garble every record while hiding nothing), or -ENOMEM.
 */
int k8s_log_add_secret(k8s_log *log, const char *value);

/* Parses "debug|info|warn|error" (also "warning") and "json|text". 0 or -EINVAL. */
int k8s_log_parse_level(const char *s, k8s_log_level *out);
int k8s_log_parse_format(const char *s, k8s_log_format *out);

/*
 * Writes one record. The variadic part is key, value pairs of strings ended by NULL. A NULL
 * value is written as null (JSON) or "" (text) and also ends the list, since reading on past it
 * could run off the arguments; pass "" to go on. Use the macros below, which add the NULL. At
 * most 32 fields are written.
 */
void k8s_log_write(k8s_log *log, k8s_log_level level, const char *msg, ...)
    __attribute__((sentinel));

/* The same with fields in an array of 2 * nfields strings. */
void k8s_log_writev(k8s_log *log, k8s_log_level level, const char *msg, const char *const *kv,
                    size_t nfields);

#define k8s_log_debug(log, ...) k8s_log_write((log), K8S_LOG_DEBUG, __VA_ARGS__, (const char *)0)
#define k8s_log_info(log, ...)  k8s_log_write((log), K8S_LOG_INFO, __VA_ARGS__, (const char *)0)
#define k8s_log_warn(log, ...)  k8s_log_write((log), K8S_LOG_WARN, __VA_ARGS__, (const char *)0)
#define k8s_log_error(log, ...) k8s_log_write((log), K8S_LOG_ERROR, __VA_ARGS__, (const char *)0)

#endif
