/*
 * The reconciler's hand on cluster DNS (the guide's Step 3, controller/dns.h for the pure part):
 * keeps the local cluster's Tailscale DNSConfig applied, reads its nameserver IP and keeps the
 * tailnet's server block in CoreDNS's configuration, or removes both when no MeshCluster asks
 * for them any more.
 *
 * One round at a time, each a short chain of requests (DNSConfig, then coredns-custom, then
 * coredns); a round runs when what is wanted changes and then every interval_ms, which is how
 * drift in kube-system is seen: those ConfigMaps and the DNSConfig are read by name, not
 * watched, so the controller needs neither a kube-system-wide watch nor a watch on a CRD that
 * exists only where the Tailscale operator is installed. Steady state costs reads, never a
 * write. When the outcome (enum mc_dns_state and its detail) changes it calls on_change, and
 * the reconciler's next pass reports it as DNSReady.
 *
 * Lifecycle: mc_dns_sync_new, _want (from the reconciler, after each pass), _close(cb). Not
 * thread-safe; every callback runs on the client's loop.
 */
#ifndef MC_DNS_SYNC_H
#define MC_DNS_SYNC_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "controller/dns.h"
#include "k8s/log.h"
#include "k8s/request.h"

typedef struct mc_dns_sync mc_dns_sync;

struct mc_dns_sync_opts {
    uint64_t interval_ms;   /* between rounds once settled; 0: 30 s */
    uint64_t retry_ms;      /* after a trouble or a pending nameserver; 0: 2 s */
    const char *namespace_; /* where CoreDNS's ConfigMaps live; NULL: kube-system */
    k8s_log *log;           /* may be NULL */
    void (*on_change)(void *data);
    void *data;
};

int mc_dns_sync_new(k8s_client *c, const struct mc_dns_sync_opts *o, mc_dns_sync **out);

/*
 * What to keep: zone (the tailnet) and dns_config (the DNSConfig apply body, borrowed for the
 * call) for the local cluster, or both NULL to remove what we made. A round starts at once when
 * this differs from the last call. The first call without a zone makes one startup look (a GET
 * of the DNSConfig): only a DNSConfig labelled ours, left by an earlier run, starts removal. active
 * false (not leading) stops acting until called again with true.
 */
int mc_dns_sync_want(mc_dns_sync *s, bool active, const char *zone, const cJSON *dns_config);

/* The last round's outcome; *detail (may be NULL) borrowed until the next round ends. */
enum mc_dns_state mc_dns_sync_state(const mc_dns_sync *s, const char **detail);

/* Frees s when it was never given a want (it holds no libuv handle yet); NULL is fine. For a
 * constructor's failure path; everything else closes. */
void mc_dns_sync_free(mc_dns_sync *s);

/* Cancels what is in flight; cb runs once everything is done and s is freed. */
void mc_dns_sync_close(mc_dns_sync *s, void (*cb)(void *data), void *data);

#endif
