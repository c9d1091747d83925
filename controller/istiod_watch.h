/*
 * Asks istiod, periodically, which remote clusters it has loaded (its /debug/clusterz, read by
 * controller/istiod_sync.h) and keeps the last answer, so each remote's IstiodSynced condition
 * can say what istiod itself says. It writes nothing: when the answer changes (or istiod stops
 * or starts answering) it calls on_change, and the reconciler decides what status follows.
 *
 * istiod authenticates its debug endpoints like xDS clients: the bearer token is read from
 * token_file before every poll (a projected ServiceAccount token for audience istio-ca,
 * rotated by the kubelet), never kept longer than the request. Lifecycle as libuv's:
 * mc_istiod_watch_new, _start, _close(cb).
 */
#ifndef MC_ISTIOD_WATCH_H
#define MC_ISTIOD_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/istiod_sync.h"
#include "k8s/probe.h"

struct mc_istiod_watch_opts {
    const char *url; /* istiod's monitoring base URL, e.g. http://istiod.istio-system.svc:15014 */
    const char *token_file;        /* NULL: no Authorization header */
    uint64_t interval_ms;          /* required, > 0 */
    long timeout_ms;               /* per poll; 0: 5000 */
    void (*on_change)(void *data); /* required */
    void *data;
};

typedef struct mc_istiod_watch mc_istiod_watch;

/* http is borrowed and must outlive the watch; strings are copied. 0, -EINVAL or -ENOMEM. */
int mc_istiod_watch_new(k8s_http *http, uv_loop_t *loop, const struct mc_istiod_watch_opts *o,
                        mc_istiod_watch **out);
int mc_istiod_watch_start(mc_istiod_watch *w);

/* The last answer, or NULL while istiod has not answered (or stopped answering, or answered
 * something that is not a cluster list); borrowed until the next loop turn. */
const struct mc_istiod_clusters *mc_istiod_watch_clusters(const mc_istiod_watch *w);
/* Why istiod's answer is missing ("" when there is one): for the condition's message. */
const char *mc_istiod_watch_error(const mc_istiod_watch *w);

void mc_istiod_watch_close(mc_istiod_watch *w, void (*cb)(void *data), void *data);

#endif
