/* Client-side token bucket (QPS + burst), like client-go's flowcontrol limiter.
 *
 * Pure: the caller passes the current time (ms, e.g. uv_now()), so tests need no clock.
 * Reservations may drive the bucket negative: each caller is told how long to wait for its
 * token, and later callers queue behind earlier ones fairly.
 */
#ifndef K8S_RATELIMIT_H
#define K8S_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct k8s_ratelimit {
    double qps;    /* tokens per second; <= 0 means unlimited */
    double burst;  /* bucket size, >= 1 */
    double tokens; /* may be negative while reservations are outstanding */
    uint64_t last_ms;
} k8s_ratelimit;

/* Starts full (burst tokens available). burst < 1 is treated as 1. */
void k8s_ratelimit_init(k8s_ratelimit *rl, double qps, int burst, uint64_t now_ms);

/* Takes one token and returns how many ms the caller must wait before using it (0 = now). */
uint64_t k8s_ratelimit_reserve(k8s_ratelimit *rl, uint64_t now_ms);

/* Takes one token only if available now. */
bool k8s_ratelimit_try(k8s_ratelimit *rl, uint64_t now_ms);

#endif
