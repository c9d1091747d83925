/*
 * istiod's own view of the remote clusters it reads: the JSON list its monitoring port serves
 * at /debug/clusterz, [{"id":"cluster2","secretName":"istio-system/istio-remote-secret-cluster2",
 * "syncStatus":"synced"}, ...] (istio.io/istio pkg/cluster DebugInfo; the first entry is
 * istiod's own cluster, without a secret). This turns that answer and the time a remote secret
 * has existed into the IstiodSynced verdict for one remote: the objects we wrote are only half
 * the story until istiod says it has loaded them.
 *
 * istiod authenticates callers of its /debug/ endpoints like its xDS clients (a Kubernetes
 * ServiceAccount token for audience istio-ca) and, by default, serves them only to identities in
 * its own system namespace or in DEBUG_ENDPOINT_AUTH_ALLOWED_NAMESPACES; a 401/403 is reported as
 * such.
 */
#ifndef MC_ISTIOD_SYNC_H
#define MC_ISTIOD_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A remote secret istiod has not loaded within this long is a Warning, not just pending. */
#define MC_ISTIOD_LOAD_GRACE_MS (2 * 60 * 1000)
#define MC_ISTIOD_MAX_CLUSTERS  4096 /* entries read from one answer; the rest are ignored */

enum mc_istiod_sync {
    MC_ISTIOD_SYNCED,          /* istiod reports the remote synced */
    MC_ISTIOD_SYNCING,         /* loaded, still syncing */
    MC_ISTIOD_TIMEOUT,         /* istiod gave up waiting for its initial sync */
    MC_ISTIOD_CLOSED,          /* loaded and closed (the secret was removed or replaced) */
    MC_ISTIOD_NOT_LOADED,      /* istiod lists no such remote, within the grace period */
    MC_ISTIOD_NOT_LOADED_LATE, /* ... and past it */
    MC_ISTIOD_UNREACHABLE,     /* no usable answer from istiod: nothing is known */
    MC_ISTIOD_OTHER,           /* a syncStatus this version does not know */
};

struct mc_istiod_cluster {
    char id[254];
    char secret_name[254]; /* "namespace/name", "" for istiod's own cluster */
    char sync_status[32];
};

struct mc_istiod_clusters {
    struct mc_istiod_cluster *items;
    size_t n;
};

/* Parses a /debug/clusterz body (len bytes); items come out sorted by id. 0, -EINVAL (not a JSON
 * array of objects with string fields as above; *out is then empty) or -ENOMEM. Entries with fields
 * too long or not strings are skipped. Free with mc_istiod_clusters_free. */
int mc_istiod_clusters_parse(const char *body, size_t len, struct mc_istiod_clusters *out);
void mc_istiod_clusters_free(struct mc_istiod_clusters *c);

/*
 * The verdict for remote cluster id. clusters NULL: istiod could not be asked (unreachable,
 * 401/403, malformed answer). secret_age_ms: how long our remote secret for it has existed.
 */
enum mc_istiod_sync mc_istiod_sync_of(const struct mc_istiod_clusters *clusters, const char *id,
                                      uint64_t secret_age_ms);

/* How long ago an object was created, from its metadata.creationTimestamp ("2026-12-02T18:30:04Z",
 * as the API server writes it); 0 when it does not parse or lies in the future. */
uint64_t mc_istiod_age_ms(const char *creation_timestamp, time_t now);

/* The reason word written in the condition ("Synced", "Syncing", "Timeout", "Closed",
 * "NotLoaded", "IstiodUnreachable", "Unknown"), static. */
const char *mc_istiod_sync_reason(enum mc_istiod_sync s);

#endif
