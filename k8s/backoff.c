/* Capped, jittered exponential backoff; see backoff.h. */
#include "k8s/backoff.h"

#include <stddef.h>

#define BACKOFF_DEFAULT_BASE_MS 100u
#define BACKOFF_DEFAULT_CAP_MS  30000u
#define BACKOFF_DEFAULT_SEED    0x9e3779b97f4a7c15ull

uint64_t k8s_backoff_xorshift(void *ctx)
{
    uint64_t *s = ctx;
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

void k8s_backoff_init(k8s_backoff *b, const k8s_backoff_opts *opts)
{
    k8s_backoff_opts o = {0};
    if (opts)
        o = *opts;
    if (o.base_ms == 0)
        o.base_ms = BACKOFF_DEFAULT_BASE_MS;
    if (o.cap_ms == 0)
        o.cap_ms = BACKOFF_DEFAULT_CAP_MS;
    if (o.cap_ms < o.base_ms)
        o.cap_ms = o.base_ms;
    if (!(o.factor > 1.0))
        o.factor = 2.0;
    if (!(o.jitter > 0.0)) /* also catches NaN */
        o.jitter = 0.0;
    if (o.jitter > 1.0)
        o.jitter = 1.0;
    if (o.seed == 0)
        o.seed = BACKOFF_DEFAULT_SEED;
    b->opts = o;
    b->attempt = 0;
    b->state = o.seed;
}

uint64_t k8s_backoff_peek(const k8s_backoff *b, uint32_t attempt)
{
    /* Work in double and stop as soon as the cap is hit so large attempts cannot overflow. */
    double d = (double)b->opts.base_ms;
    double cap = (double)b->opts.cap_ms;
    for (uint32_t i = 0; i < attempt && d < cap; i++)
        d *= b->opts.factor;
    if (d > cap)
        d = cap;
    return (uint64_t)d;
}

uint64_t k8s_backoff_next(k8s_backoff *b)
{
    uint64_t d = k8s_backoff_peek(b, b->attempt);
    if (b->attempt < UINT32_MAX)
        b->attempt++;
    if (b->opts.jitter <= 0.0)
        return d;
    uint64_t r = b->opts.rng ? b->opts.rng(b->opts.rng_ctx) : k8s_backoff_xorshift(&b->state);
    /* Top 53 bits give a uniform double in [0, 1). */
    double u = (double)(r >> 11) * (1.0 / 9007199254740992.0);
    double fixed = (double)d * (1.0 - b->opts.jitter);
    double out = fixed + u * (double)d * b->opts.jitter;
    if (out > (double)d)
        out = (double)d;
    return (uint64_t)out;
}

void k8s_backoff_reset(k8s_backoff *b)
{
    b->attempt = 0;
}

uint32_t k8s_backoff_attempts(const k8s_backoff *b)
{
    return b->attempt;
}
