/*
 * What a series of probe results means, with hysteresis: a peer is Up after one success and
 * Down after MC_PROBE_FALL failures in a row, so one lost probe never flips a condition, and a
 * broken or repaired peer shows within two probe intervals. A Down peer's reason changes only
 * when a new failure class has itself been seen MC_PROBE_FALL times in a row, so a peer that
 * fails in two ways by turns does not rewrite its status every interval. Callers write status
 * (and emit Events) only when mc_probe_state_observe reports a change: steady probing costs no
 * write. Pure: the caller supplies results and randomness.
 */
#ifndef MC_PROBE_STATE_H
#define MC_PROBE_STATE_H

#include <stdint.h>

#include "k8s/probe.h"

#define MC_PROBE_FALL 2
/* Past this many failures in a row the interval doubles (a peer that is down for long is
 * probed half as often); a repaired peer is still seen within two doubled intervals. */
#define MC_PROBE_BACKOFF_AFTER 10

enum mc_probe_status { MC_PROBE_UNKNOWN, MC_PROBE_UP, MC_PROBE_DOWN };

enum mc_probe_change {
    MC_PROBE_SAME,
    MC_PROBE_WENT_UP,
    MC_PROBE_WENT_DOWN,
    MC_PROBE_REASON_CHANGED, /* still Down, for another reason now */
};

struct mc_probe_state {
    enum mc_probe_status status;
    unsigned fail_streak;
    /* While Down: the failure being reported, and the one that may replace it. */
    k8s_probe_failure reason;
    k8s_probe_failure candidate;
    unsigned candidate_streak;
    /* The result behind the current status: what its condition message says. */
    int http_status;
    double seconds;
    char detail[160];
};

/* Feeds one result (CANCELLED results are ignored: a probe stopped by shutdown says nothing
 * about the peer). */
enum mc_probe_change mc_probe_state_observe(struct mc_probe_state *s, const k8s_probe_result *r);

/* The delay before the next probe: base_ms, doubled past MC_PROBE_BACKOFF_AFTER failures, times
 * a jitter of +-10% from unit_random in [0, 1). */
uint64_t mc_probe_next_delay_ms(const struct mc_probe_state *s, uint64_t base_ms,
                                double unit_random);

#endif
