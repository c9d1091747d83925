/* Token bucket; see ratelimit.h. */
#include "k8s/ratelimit.h"

void k8s_ratelimit_init(k8s_ratelimit *rl, double qps, int burst, uint64_t now_ms)
{
    rl->qps = qps;
    rl->burst = burst < 1 ? 1 : burst;
    rl->tokens = rl->burst;
    rl->last_ms = now_ms;
}

static void refill(k8s_ratelimit *rl, uint64_t now_ms)
{
    /* A clock that goes backwards (or a caller mixing clocks) must not mint tokens. */
    if (now_ms > rl->last_ms) {
        rl->tokens += (double)(now_ms - rl->last_ms) * rl->qps / 1000.0;
        if (rl->tokens > rl->burst)
            rl->tokens = rl->burst;
        rl->last_ms = now_ms;
    }
}

uint64_t k8s_ratelimit_reserve(k8s_ratelimit *rl, uint64_t now_ms)
{
    if (rl->qps <= 0)
        return 0;
    refill(rl, now_ms);
    rl->tokens -= 1.0;
    if (rl->tokens >= 0)
        return 0;
    double wait = -rl->tokens * 1000.0 / rl->qps;
    uint64_t w = (uint64_t)wait;
    return (double)w < wait ? w + 1 : w;
}

bool k8s_ratelimit_try(k8s_ratelimit *rl, uint64_t now_ms)
{
    if (rl->qps <= 0)
        return true;
    refill(rl, now_ms);
    if (rl->tokens < 1.0)
        return false;
    rl->tokens -= 1.0;
    return true;
}
