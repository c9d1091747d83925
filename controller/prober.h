/*
 * The prober: for every remote cluster, checks the two paths a working mesh uses from this
 * cluster, periodically, and remembers what they mean (controller/probe_state.h):
 *   MC_PROBE_API      an HTTPS GET of <server>/readyz with the credentials and CA of our
 *                     remote secret for it, to the URL istiod dials;
 *   MC_PROBE_GATEWAY  a TCP connect to the tls port of the local egress alias of its
 *                     east-west gateway, then an HTTP GET of /healthz/ready on the status port.
 * It writes nothing: on each change of a state (not on each probe) it calls on_change, and the
 * reconciler decides what status follows. Metrics: <prefix>_probe_duration_seconds{peer,target}
 * and <prefix>_probe_failures_total{peer,target,reason}.
 *
 * Lifecycle as libuv's: mc_prober_new, mc_prober_set_targets (any time; targets are copied,
 * unchanged ones keep their state and schedule), mc_prober_close(cb). Everything runs on the
 * loop of the k8s_http it is given; on_change is never called from inside an mc_prober call.
 */
#ifndef MC_PROBER_H
#define MC_PROBER_H

#include <stddef.h>
#include <stdint.h>

#include "controller/probe_state.h"
#include "k8s/probe.h"
#include "k8s/metrics.h"

enum mc_probe_kind { MC_PROBE_API, MC_PROBE_GATEWAY, MC_PROBE_NKINDS };

/* "api" or "gateway": the metrics' target label. */
const char *mc_probe_kind_name(enum mc_probe_kind k);

/* What to probe for one remote; every string is copied by mc_prober_set_targets. */
struct mc_probe_target {
    const char *cluster; /* the remote MeshCluster's name */
    const char *api_url; /* the server our remote secret names */
    const char *ca_pem;  /* its CA bundle; NULL: the system's (Tailscale's public certificates) */
    size_t ca_len;
    const char *token;        /* the bearer token the remote secret carries, as istiod sends it */
    const char *gateway_host; /* the local egress alias of the remote's gateway */
    int gateway_tls_port, gateway_status_port;
};

typedef void (*mc_prober_change_cb)(const char *cluster, enum mc_probe_kind kind,
                                    const struct mc_probe_state *state, enum mc_probe_change change,
                                    void *data);

struct mc_prober_opts {
    uint64_t interval_ms;          /* the base interval (jittered); required, > 0 */
    long timeout_ms;               /* per probe; 0: 5000 */
    const char *const *connect_to; /* borrowed, must outlive the prober (see k8s/probe.h) */
    size_t nconnect_to;
    uint64_t seed;                 /* for the jitter */
    k8s_metrics *metrics;          /* borrowed; NULL: none */
    const char *metrics_prefix;    /* e.g. "meshcluster"; required with metrics */
    mc_prober_change_cb on_change; /* required */
    void *data;
};

typedef struct mc_prober mc_prober;

/* http is borrowed and must outlive the prober. 0, -EINVAL or -ENOMEM. */
int mc_prober_new(k8s_http *http, uv_loop_t *loop, const struct mc_prober_opts *opts,
                  mc_prober **out);

/* Replaces the set of remotes. A target whose fields changed starts over (Unknown). Removed
 * ones are forgotten, with their metric series. 0 or -ENOMEM (the old set is then kept). */
int mc_prober_set_targets(mc_prober *p, const struct mc_probe_target *targets, size_t n);

/* The state of one remote's path, or NULL for a cluster that is not a target. */
const struct mc_probe_state *mc_prober_state(const mc_prober *p, const char *cluster,
                                             enum mc_probe_kind kind);

/* Cancels every probe and timer; cb (may be NULL) runs when all is released and p is freed. */
void mc_prober_close(mc_prober *p, void (*cb)(void *data), void *data);

#endif
