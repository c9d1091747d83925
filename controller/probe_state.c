/* Probe hysteresis; see probe_state.h. */
#include <stdio.h>

#include "controller/probe_state.h"

static void remember(struct mc_probe_state *s, const k8s_probe_result *r)
{
    s->http_status = r->status;
    s->seconds = r->seconds;
    snprintf(s->detail, sizeof(s->detail), "%s", r->detail ? r->detail : "");
}

static enum mc_probe_change on_success(struct mc_probe_state *s, const k8s_probe_result *r)
{
    s->fail_streak = 0;
    s->candidate_streak = 0;
    if (s->status == MC_PROBE_UP)
        return MC_PROBE_SAME; /* the latency of a later success changes nothing written */
    s->status = MC_PROBE_UP;
    remember(s, r);
    return MC_PROBE_WENT_UP;
}

static enum mc_probe_change on_failure(struct mc_probe_state *s, const k8s_probe_result *r)
{
    s->fail_streak++;
    if (s->candidate_streak && s->candidate == r->failure)
        s->candidate_streak++;
    else {
        s->candidate = r->failure;
        s->candidate_streak = 1;
    }
    if (s->status != MC_PROBE_DOWN) {
        if (s->fail_streak < MC_PROBE_FALL)
            return MC_PROBE_SAME;
        s->status = MC_PROBE_DOWN;
        s->reason = r->failure;
        remember(s, r);
        return MC_PROBE_WENT_DOWN;
    }
    if (r->failure == s->reason || s->candidate_streak < MC_PROBE_FALL)
        return MC_PROBE_SAME;
    s->reason = r->failure;
    remember(s, r);
    return MC_PROBE_REASON_CHANGED;
}

enum mc_probe_change mc_probe_state_observe(struct mc_probe_state *s, const k8s_probe_result *r)
{
    if (r->failure == K8S_PROBE_CANCELLED)
        return MC_PROBE_SAME;
    return r->failure == K8S_PROBE_OK ? on_success(s, r) : on_failure(s, r);
}

uint64_t mc_probe_next_delay_ms(const struct mc_probe_state *s, uint64_t base_ms,
                                double unit_random)
{
    if (unit_random < 0 || unit_random >= 1)
        unit_random = 0.5;
    double d = (double)base_ms * (s->fail_streak > MC_PROBE_BACKOFF_AFTER ? 2.0 : 1.0);
    return (uint64_t)(d * (0.9 + 0.2 * unit_random));
}
