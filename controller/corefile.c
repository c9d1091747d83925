/*
 * The Corefile editor; see corefile.h. Two passes over the text: find our marker lines (at most
 * one BEGIN followed by one END), then read everything outside them as Caddyfile tokens to check
 * that it is well formed and that no other server block already serves our zone on port 53.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller/corefile.h"
#include "controller/validate.h"

/* Where our block sits: [begin, end) covers both marker lines and their newlines. */
struct span {
    size_t begin, end;
    int found;
};

struct scan {
    const char *text;
    size_t len;
    const char *zone; /* NULL when removing: no conflict check */
    char *why;
    size_t whylen;
};

static enum mc_corefile_outcome fail(struct scan *s, enum mc_corefile_outcome o, const char *fmt,
                                     ...) __attribute__((format(printf, 3, 4)));

static enum mc_corefile_outcome fail(struct scan *s, enum mc_corefile_outcome o, const char *fmt,
                                     ...)
{
    if (s->why && s->whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->why, s->whylen, fmt, ap);
        va_end(ap);
    }
    return o;
}

/* The line [at, *next) without surrounding blanks equals marker. */
static int line_is(const char *t, size_t at, size_t next, const char *marker)
{
    while (at < next && isspace((unsigned char)t[at]))
        at++;
    while (next > at && isspace((unsigned char)t[next - 1]))
        next--;
    size_t n = strlen(marker);
    return next - at == n && memcmp(t + at, marker, n) == 0;
}

static enum mc_corefile_outcome find_markers(struct scan *s, struct span *sp)
{
    int begins = 0, ends = 0;
    for (size_t at = 0; at < s->len;) {
        const char *nl = memchr(s->text + at, '\n', s->len - at);
        size_t next = nl ? (size_t)(nl - s->text) + 1 : s->len;
        if (line_is(s->text, at, next, MC_COREFILE_BEGIN)) {
            begins++;
            sp->begin = at;
        } else if (line_is(s->text, at, next, MC_COREFILE_END)) {
            ends++;
            sp->end = next;
        }
        at = next;
    }
    if (begins == 0 && ends == 0)
        return MC_COREFILE_UNCHANGED;
    if (begins != 1 || ends != 1 || sp->end <= sp->begin)
        return fail(s, MC_COREFILE_MALFORMED,
                    "the Corefile's meshcluster marker lines are not one BEGIN followed by one "
                    "END; fix or remove them by hand");
    sp->found = 1;
    return MC_COREFILE_UNCHANGED;
}

/* A server key ("acme.ts.net:53", "dns://acme.ts.net.", ".:53") serves zone on port 53. */
static int key_serves(const char *key, size_t n, const char *zone)
{
    if (n > 6 && strncasecmp(key, "dns://", 6) == 0) {
        key += 6;
        n -= 6;
    }
    const char *colon = memchr(key, ':', n);
    size_t host = colon ? (size_t)(colon - key) : n;
    if (colon && !(n - host - 1 == 2 && memcmp(colon + 1, "53", 2) == 0))
        return 0;
    if (host > 1 && key[host - 1] == '.')
        host--;
    return host == strlen(zone) && strncasecmp(key, zone, host) == 0;
}

/* Checks the server keys of one block header: tokens, possibly comma-separated. */
static int header_serves(const char *tok, size_t n, const char *zone)
{
    for (size_t a = 0; a < n;) {
        const char *comma = memchr(tok + a, ',', n - a);
        size_t b = comma ? (size_t)(comma - tok) : n;
        if (b > a && key_serves(tok + a, b - a, zone))
            return 1;
        a = b + 1;
    }
    return 0;
}

/*
 * Reads [from, to) as Caddyfile tokens: '#' starts a comment at a token's start, quotes may
 * hold blanks and braces, "{" and "}" as tokens (or a trailing "{") open and close blocks.
 * Tokens at depth 0 before a "{" are server keys.
 */
static enum mc_corefile_outcome check_outside(struct scan *s, size_t from, size_t to, int *depth,
                                              int *conflict)
{
    const char *t = s->text;
    size_t at = from;
    while (at < to) {
        if (isspace((unsigned char)t[at])) {
            at++;
            continue;
        }
        if (t[at] == '#') {
            while (at < to && t[at] != '\n')
                at++;
            continue;
        }
        size_t start = at;
        int quoted = 0;
        while (at < to && (quoted || !isspace((unsigned char)t[at]))) {
            if (t[at] == '\\' && quoted && at + 1 < to)
                at++;
            else if (t[at] == '"')
                quoted = !quoted;
            at++;
        }
        if (quoted)
            return fail(s, MC_COREFILE_MALFORMED, "the Corefile has an unterminated %s",
                        "quoted string");
        size_t n = at - start;
        const char *tok = t + start;
        if (n == 1 && tok[0] == '}') {
            if (--*depth < 0)
                return fail(s, MC_COREFILE_MALFORMED, "the Corefile has an unmatched %s", "}");
        } else if (n == 1 && tok[0] == '{') {
            ++*depth;
        } else if (tok[n - 1] == '{' && !(n > 1 && tok[0] == '{')) {
            if (*depth == 0 && s->zone && header_serves(tok, n - 1, s->zone))
                *conflict = 1;
            ++*depth;
        } else if (*depth == 0 && s->zone && tok[0] != '{' && header_serves(tok, n, s->zone)) {
            *conflict = 1; /* a key; its "{" follows as its own token */
        }
    }
    return MC_COREFILE_UNCHANGED;
}

#define BLOCK_FORMAT                                                                               \
    MC_COREFILE_BEGIN "\n%s:53 {\n    errors\n    cache 30\n    forward . %s\n}\n" MC_COREFILE_END \
                      "\n"

/* Our block for want, as text; NULL when out of memory. */
static char *block_text(const struct mc_corefile_want *want)
{
    int n = snprintf(NULL, 0, BLOCK_FORMAT, want->zone, want->nameserver);
    char *b = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (b)
        snprintf(b, (size_t)n + 1, BLOCK_FORMAT, want->zone, want->nameserver);
    return b;
}

static int is_ip_literal(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* text with [sp->begin, sp->end) replaced by block (which may be ""). */
static char *splice(const struct scan *s, const struct span *sp, const char *block)
{
    size_t head = sp->found ? sp->begin : s->len, tail = sp->found ? s->len - sp->end : 0;
    int sep = !sp->found && head > 0 && s->text[head - 1] != '\n' && block[0];
    size_t n = head + (size_t)sep + strlen(block) + tail;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    memcpy(out, s->text, head);
    if (sep)
        out[head] = '\n';
    memcpy(out + head + sep, block, strlen(block));
    memcpy(out + head + sep + strlen(block), s->text + (sp->found ? sp->end : s->len), tail);
    out[n] = '\0';
    return out;
}

enum mc_corefile_outcome mc_corefile_edit(const char *text, size_t len,
                                          const struct mc_corefile_want *want, char **out,
                                          char *why, size_t whylen)
{
    struct scan s = {text, len, want->zone, why, whylen};
    struct span sp = {0};
    *out = NULL;
    if (want->zone && (!mc_is_dns1123_subdomain(want->zone) || !want->nameserver ||
                       !is_ip_literal(want->nameserver)))
        return fail(&s, MC_COREFILE_BAD_INPUT, "%s",
                    "the zone must be a DNS name and the nameserver an IP address");
    if (len > MC_COREFILE_MAX || memchr(text, '\0', len))
        return fail(&s, MC_COREFILE_MALFORMED, "%s", "the Corefile is too long or binary");
    enum mc_corefile_outcome o = find_markers(&s, &sp);
    if (o != MC_COREFILE_UNCHANGED)
        return o;
    int depth = 0, conflict = 0;
    o = check_outside(&s, 0, sp.found ? sp.begin : len, &depth, &conflict);
    if (o == MC_COREFILE_UNCHANGED && depth != 0)
        o = fail(&s, MC_COREFILE_MALFORMED, "the Corefile %s",
                 "has an unclosed block around our markers");
    if (o == MC_COREFILE_UNCHANGED && sp.found)
        o = check_outside(&s, sp.end, len, &depth, &conflict);
    if (o == MC_COREFILE_UNCHANGED && depth != 0)
        o = fail(&s, MC_COREFILE_MALFORMED, "the Corefile has an unmatched %s", "{");
    if (o != MC_COREFILE_UNCHANGED)
        return o;
    if (conflict)
        return fail(&s, MC_COREFILE_CONFLICT,
                    "another server block in the Corefile already serves %s on port 53; remove "
                    "it or set spec.tailscale.dns to external",
                    want->zone);
    char *block = want->zone ? block_text(want) : strdup("");
    if (!block)
        return MC_COREFILE_NOMEM;
    if (sp.found && sp.end - sp.begin == strlen(block) &&
        memcmp(text + sp.begin, block, strlen(block)) == 0) {
        free(block);
        return MC_COREFILE_UNCHANGED;
    }
    if (!sp.found && !want->zone) {
        free(block);
        return MC_COREFILE_UNCHANGED;
    }
    *out = splice(&s, &sp, block);
    free(block);
    return *out ? MC_COREFILE_CHANGED : MC_COREFILE_NOMEM;
}
