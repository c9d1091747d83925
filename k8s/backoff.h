/* Capped, jittered exponential backoff.
 *
 * Pure: no clock, no globals, no allocation. The random source is injected so tests are
 * deterministic and each caller (request retries, the reflector, the work queue) can own
 * its own state. Not thread-safe; one k8s_backoff per retrying thing.
 *
 * Delay for attempt n (0-based, n = number of failures so far minus one):
 *     d = min(cap, base * factor^n)
 *     jittered = d * (1 - jitter) + rnd * d * jitter,   rnd uniform in [0, 1)
 * so jitter = 0 gives the plain exponential, jitter = 1 gives "full jitter" [0, d).
 */
#ifndef K8S_BACKOFF_H
#define K8S_BACKOFF_H

#include <stdint.h>

/* Returns a uniformly distributed 64-bit value. ctx is k8s_backoff_opts.rng_ctx. */
typedef uint64_t (*k8s_rng_fn)(void *ctx);

typedef struct k8s_backoff_opts {
    uint64_t base_ms; /* first delay; 0 means 100 ms */
    uint64_t cap_ms;  /* maximum delay before jitter; 0 means 30000 ms */
    double factor;    /* growth per attempt; <= 1.0 means 2.0 */
    double jitter;    /* fraction of the delay that is randomised, clamped to [0, 1] */
    k8s_rng_fn rng;   /* NULL: a built-in xorshift seeded from `seed` */
    void *rng_ctx;    /* passed to rng; not owned */
    uint64_t seed;    /* seed for the built-in generator; 0 picks a fixed non-zero one */
} k8s_backoff_opts;

typedef struct k8s_backoff {
    k8s_backoff_opts opts; /* normalised copy */
    uint32_t attempt;      /* failures since the last reset */
    uint64_t state;        /* built-in rng state */
} k8s_backoff;

/* Copies and normalises opts (NULL = all defaults). Starts at attempt 0. */
void k8s_backoff_init(k8s_backoff *b, const k8s_backoff_opts *opts);

/* Delay to wait before the next retry; advances the attempt counter. Never exceeds cap_ms. */
uint64_t k8s_backoff_next(k8s_backoff *b);

/* Un-jittered delay of attempt n without touching state (for logs/tests). */
uint64_t k8s_backoff_peek(const k8s_backoff *b, uint32_t attempt);

/* After a success: next delay is base again. */
void k8s_backoff_reset(k8s_backoff *b);

/* Failures since the last reset. */
uint32_t k8s_backoff_attempts(const k8s_backoff *b);

/* Built-in generator, exposed so a caller can pass it explicitly: ctx is a uint64_t *state
 * (must be non-zero). */
uint64_t k8s_backoff_xorshift(void *ctx);

#endif
