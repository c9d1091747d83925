/*
 * Structured logger with redaction. Every record is built in memory, redacted and escaped, then
 * written with one fwrite under the logger's lock, so concurrent records never interleave.
 */
#include "k8s/log.h"
#include "k8s/sbuf.h"
#include "k8s/utf8.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "k8s/base64.h"

#define REDACTED "[redacted]"

struct k8s_log {
    FILE *out;
    k8s_log_format format;
    k8s_log_level min_level;
    k8s_log_clock_fn now;
    void *now_ctx;
    pthread_mutex_t lock; /* guards secrets and the writes to out */
    char **secrets;       /* kept longest first, so a longer secret wins over its prefix */
    size_t nsecrets;
};

static int64_t realtime_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

k8s_log *k8s_log_new(FILE *out, k8s_log_format format, k8s_log_level min_level)
{
    if (!out)
        return NULL;
    k8s_log *log = calloc(1, sizeof(*log));
    if (!log)
        return NULL;
    if (pthread_mutex_init(&log->lock, NULL) != 0) {
        free(log);
        return NULL;
    }
    log->out = out;
    log->format = format;
    log->min_level = min_level;
    log->now = realtime_ms;
    return log;
}

void k8s_log_free(k8s_log *log)
{
    if (!log)
        return;
    for (size_t i = 0; i < log->nsecrets; i++) {
        /* Do not leave the secrets readable in freed memory. */
        OPENSSL_cleanse(log->secrets[i], strlen(log->secrets[i]));
        free(log->secrets[i]);
    }
    free(log->secrets);
    pthread_mutex_destroy(&log->lock);
    free(log);
}

void k8s_log_set_level(k8s_log *log, k8s_log_level min_level)
{
    log->min_level = min_level;
}

void k8s_log_set_clock(k8s_log *log, k8s_log_clock_fn now, void *ctx)
{
    log->now = now ? now : realtime_ms;
    log->now_ctx = ctx;
}

int k8s_log_enabled(const k8s_log *log, k8s_log_level level)
{
    return log && level >= log->min_level;
}

int k8s_log_parse_level(const char *s, k8s_log_level *out)
{
    static const struct {
        const char *name;
        k8s_log_level level;
    } names[] = {{"debug", K8S_LOG_DEBUG},
                 {"info", K8S_LOG_INFO},
                 {"warn", K8S_LOG_WARN},
                 {"warning", K8S_LOG_WARN},
                 {"error", K8S_LOG_ERROR}};
    for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

int k8s_log_parse_format(const char *s, k8s_log_format *out)
{
    if (s && strcasecmp(s, "json") == 0)
        *out = K8S_LOG_JSON;
    else if (s && strcasecmp(s, "text") == 0)
        *out = K8S_LOG_TEXT;
    else
        return -EINVAL;
    return 0;
}

/* Inserts keeping the list longest first. Called with the lock held; takes ownership of v. */
static int secret_insert(k8s_log *log, char *v)
{
    for (size_t i = 0; i < log->nsecrets; i++) {
        if (strcmp(log->secrets[i], v) == 0) {
            OPENSSL_cleanse(v, strlen(v));
            free(v);
            return 0;
        }
    }
    char **grown = realloc(log->secrets, (log->nsecrets + 1) * sizeof(char *));
    if (!grown) {
        OPENSSL_cleanse(v, strlen(v));
        free(v);
        return -ENOMEM;
    }
    log->secrets = grown;
    size_t at = 0, len = strlen(v);
    while (at < log->nsecrets && strlen(log->secrets[at]) >= len)
        at++;
    memmove(&log->secrets[at + 1], &log->secrets[at], (log->nsecrets - at) * sizeof(char *));
    log->secrets[at] = v;
    log->nsecrets++;
    return 0;
}

int k8s_log_add_secret(k8s_log *log, const char *value)
{
    if (!log || !value || strlen(value) < 4)
        return -EINVAL;
    size_t len = strlen(value);
    char *raw = strdup(value);
    char *b64 = k8s_base64_encode(value, len);
    if (!raw || !b64) {
        free(raw);
        free(b64);
        return -ENOMEM;
    }
    pthread_mutex_lock(&log->lock);
    int rc = secret_insert(log, raw);
    int rc2 = secret_insert(log, b64);
    pthread_mutex_unlock(&log->lock);
    return rc ? rc : rc2;
}

/* ---------------------------------------------------------------------------------------- */
/* Redaction                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/*
 * Whether a key names secret material. The key is split into words at non-alphanumerics and at
 * camelCase boundaries ("APIToken" → "API", "Token"), and any word equal to one of the secret
 * words counts.
 */
static int key_is_secret(const char *key)
{
    static const char *const words[] = {"token", "password", "secret", "data", "kubeconfig"};
    size_t n = strlen(key);
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        int boundary = i == n || !isalnum((unsigned char)key[i]);
        int camel = 0;
        if (!boundary && i > start && isupper((unsigned char)key[i])) {
            unsigned char prev = (unsigned char)key[i - 1];
            unsigned char next = i + 1 < n ? (unsigned char)key[i + 1] : 0;
            camel = islower(prev) || isdigit(prev) || (isupper(prev) && islower(next));
        }
        if (!boundary && !camel)
            continue;
        size_t wlen = i - start;
        for (size_t w = 0; wlen && w < sizeof(words) / sizeof(words[0]); w++)
            if (strlen(words[w]) == wlen && strncasecmp(key + start, words[w], wlen) == 0)
                return 1;
        start = boundary ? i + 1 : i;
    }
    return 0;
}

/* Copies s into b with every registered secret replaced. Called with the lock held. */
static void redact_into(const k8s_log *log, k8s__sbuf *b, const char *s)
{
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n) {
        size_t hit = 0;
        for (size_t k = 0; k < log->nsecrets && !hit; k++) {
            size_t len = strlen(log->secrets[k]);
            if (len <= n - i && memcmp(s + i, log->secrets[k], len) == 0)
                hit = len;
        }
        if (hit) {
            k8s__sb_str(b, REDACTED);
            i += hit;
        } else {
            k8s__sb_put(b, s + i, 1);
            i++;
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Encoding                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* JSON string body: escapes quotes, backslashes and controls; bad UTF-8 becomes U+FFFD. */
static void put_json_string(k8s__sbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    k8s__sb_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            k8s__sb_put(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            char esc[8];
            if (c == '\n')
                snprintf(esc, sizeof(esc), "\\n");
            else if (c == '\t')
                snprintf(esc, sizeof(esc), "\\t");
            else if (c == '\r')
                snprintf(esc, sizeof(esc), "\\r");
            else
                snprintf(esc, sizeof(esc), "\\u%04x", c);
            k8s__sb_str(b, esc);
            i++;
        } else {
            size_t len = k8s__utf8_len(p + i, n - i);
            if (len) {
                k8s__sb_put(b, s + i, len);
                i += len;
            } else {
                k8s__sb_str(b, "\\ufffd");
                i++;
            }
        }
    }
    k8s__sb_put(b, "\"", 1);
}

/* logfmt value: bare when it is a plain token, else quoted with JSON-style escapes. */
static void put_text_value(k8s__sbuf *b, const char *s)
{
    int bare = *s != '\0';
    for (const unsigned char *p = (const unsigned char *)s; *p && bare; p++)
        bare = *p > 0x20 && *p < 0x7F && *p != '"' && *p != '=' && *p != '\\';
    if (bare)
        k8s__sb_str(b, s);
    else
        put_json_string(b, s);
}

/* logfmt key: anything outside a plain token becomes '_', so a key cannot break the record. */
static void put_text_key(k8s__sbuf *b, const char *s)
{
    if (!*s)
        k8s__sb_put(b, "_", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char c = (*p > 0x20 && *p < 0x7F && *p != '"' && *p != '=') ? (char)*p : '_';
        k8s__sb_put(b, &c, 1);
    }
}

static void put_time(k8s__sbuf *b, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    struct tm tm;
    char out[40];
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, sizeof(out) - n, ".%03dZ", frac);
    k8s__sb_str(b, out);
}

static const char *level_name(k8s_log_level level)
{
    switch (level) {
    case K8S_LOG_DEBUG:
        return "debug";
    case K8S_LOG_INFO:
        return "info";
    case K8S_LOG_WARN:
        return "warn";
    case K8S_LOG_ERROR:
        return "error";
    }
    return "info";
}

/* One field: key=value or "key":"value", redacted. value NULL is JSON null / empty text. */
static void put_field(const k8s_log *log, k8s__sbuf *b, const char *key, const char *value,
                      int redact_value)
{
    k8s__sbuf tmp = {0};
    redact_into(log, &tmp, key);
    const char *k = tmp.buf ? tmp.buf : "";
    if (log->format == K8S_LOG_JSON) {
        k8s__sb_put(b, ",", 1);
        put_json_string(b, k);
        k8s__sb_put(b, ":", 1);
    } else {
        k8s__sb_put(b, " ", 1);
        put_text_key(b, k);
        k8s__sb_put(b, "=", 1);
    }
    free(tmp.buf);
    if (!value) {
        if (log->format == K8S_LOG_JSON)
            k8s__sb_str(b, "null");
        else
            k8s__sb_str(b, "\"\"");
        return;
    }
    k8s__sbuf val = {0};
    if (redact_value)
        k8s__sb_str(&val, REDACTED);
    else
        redact_into(log, &val, value);
    const char *v = val.buf ? val.buf : "";
    if (log->format == K8S_LOG_JSON)
        put_json_string(b, v);
    else
        put_text_value(b, v);
    b->failed |= val.failed;
    free(val.buf);
}

void k8s_log_writev(k8s_log *log, k8s_log_level level, const char *msg, const char *const *kv,
                    size_t nfields)
{
    if (!k8s_log_enabled(log, level))
        return;
    k8s__sbuf b = {0};
    int64_t now = log->now(log->now_ctx);

    pthread_mutex_lock(&log->lock);
    if (log->format == K8S_LOG_JSON) {
        k8s__sb_str(&b, "{\"time\":\"");
        put_time(&b, now);
        k8s__sb_str(&b, "\",\"level\":\"");
        k8s__sb_str(&b, level_name(level));
        k8s__sb_str(&b, "\"");
    } else {
        k8s__sb_str(&b, "time=");
        put_time(&b, now);
        k8s__sb_str(&b, " level=");
        k8s__sb_str(&b, level_name(level));
    }
    put_field(log, &b, "msg", msg ? msg : "", 0);
    for (size_t i = 0; i < nfields; i++) {
        const char *key = kv[2 * i] ? kv[2 * i] : "";
        put_field(log, &b, key, kv[2 * i + 1], key_is_secret(key));
    }
    k8s__sb_str(&b, log->format == K8S_LOG_JSON ? "}\n" : "\n");
    if (!b.failed) {
        fwrite(b.buf, 1, b.len, log->out);
        fflush(log->out);
    }
    pthread_mutex_unlock(&log->lock);
    free(b.buf);
}

void k8s_log_write(k8s_log *log, k8s_log_level level, const char *msg, ...)
{
    if (!k8s_log_enabled(log, level))
        return;
    /* Fields are few; a fixed array keeps the hot path free of allocation. */
    const char *kv[64];
    size_t n = 0;
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        const char *value = va_arg(ap, const char *);
        if (n + 2 <= sizeof(kv) / sizeof(kv[0])) {
            kv[n] = key;
            kv[n + 1] = value;
            n += 2;
        }
        if (!value)
            break; /* a NULL value doubles as the terminator: never read past it */
    }
    va_end(ap);
    k8s_log_writev(log, level, msg, kv, n / 2);
}
