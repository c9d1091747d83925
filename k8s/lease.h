/*
 * Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection.
 *
 * Every retry period a candidate reads the Lease. It takes the lease when nobody holds it (empty
 * holderIdentity), or when the record has not changed for leaseDurationSeconds as measured by
 * THIS client's clock from the moment it last saw the record change: clocks of different
 * machines are never compared. Taking and renewing are PUTs carrying the last seen
 * resourceVersion, so of two racing candidates exactly one wins and the other gets 409.
 * A leader renews every retry period; a 409 means someone else took the lease (leadership is
 * lost at once), and failing to renew for the renew deadline also ends leadership, which
 * happens before any standby may take over (renew deadline < lease duration).
 *
 * A clean release writes an empty holder with leaseDurationSeconds 1, so a standby takes over
 * on its next retry instead of waiting out the lease.
 *
 * Callbacks run on the client's loop; never inside k8s_lease_start().
 */
#ifndef K8S_LEASE_H
#define K8S_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "k8s/request.h"

typedef struct k8s_lease k8s_lease;

typedef struct {
    const char *namespace; /* required; copied */
    const char *name;      /* required; copied */
    /* NULL: $POD_NAME (else the host name) plus "-" and a random suffix. Copied. */
    const char *identity;
    uint64_t lease_duration_ms; /* 0: 15000 */
    uint64_t renew_deadline_ms; /* 0: 10000; must be below the lease duration */
    uint64_t retry_period_ms;   /* 0: 2000 */
    void (*on_started_leading)(k8s_lease *l, void *data);
    void (*on_stopped_leading)(k8s_lease *l, void *data);
    void *data;
    uint64_t seed; /* identity suffix and retry jitter; 0: from the clock */
} k8s_lease_opts;

/* c is borrowed and must outlive the elector. Returns 0, -EINVAL or -ENOMEM. */
int k8s_lease_new(k8s_client *c, const k8s_lease_opts *opts, k8s_lease **out);

/* Begins campaigning on a later loop turn. */
int k8s_lease_start(k8s_lease *l);

/*
 * Stops campaigning. With release and while leading, first writes the empty holder so that a
 * standby takes over at once. on_stopped_leading runs (if leading) before cb; cb (may be NULL)
 * runs when nothing is in flight, after which k8s_lease_free() is allowed. Without release a
 * leader just goes quiet: standbys take over once the lease expires.
 */
void k8s_lease_close(k8s_lease *l, bool release, void (*cb)(k8s_lease *l, void *data), void *data);

void k8s_lease_free(k8s_lease *l);

bool k8s_lease_is_leader(const k8s_lease *l);

/* Borrowed. */
const char *k8s_lease_identity(const k8s_lease *l);

/* Writes now (UTC) as a Kubernetes MicroTime "2006-01-02T15:04:05.000000Z". */
void k8s_micro_time_now(char *buf, size_t len);

#endif
