/*
 * Internal to the reconciler: the state of the controller and of one reconcile pass, and the
 * read-only views of it every part uses (caches, notes, tokens). Not part of controller/'s
 * API, hence the mc__ prefix. The parts depend one way (docs/architecture.md):
 *
 *   reconciler.c (informers, queue, phases) -> reconcile_status.h (phase 2)
 *     -> reconcile_ops.h (requests, phase 1) -> reconcile_pass.h (this: state, views)
 *
 * A request tells the pass it finished through pass->op_done, set by reconciler.c, so the
 * requests know nothing of the phases.
 *
 * A pass runs in phases, each ending when its last request is done (pass->pending reaches
 * zero in mc__pass_op_done): 0 reads the tokens of remotes authenticated by a Secret, 1
 * applies and deletes objects, 2 writes the MeshClusters' status.
 */
#ifndef MC_RECONCILE_PASS_H
#define MC_RECONCILE_PASS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "controller/conditions.h"
#include "controller/desired.h"
#include "controller/dns_sync.h"
#include "controller/istiod_watch.h"
#include "controller/prober.h"
#include "controller/subset.h"
#include "controller/status.h"
#include "controller/trust.h"
#include "k8s/events.h"
#include "k8s/informer.h"
#include "k8s/log.h"
#include "k8s/metrics.h"
#include "k8s/runner.h"

/* The public handle (controller/reconciler.h), whose definition is below: the parts of the
 * reconciler see the state, not the public API, which only reconciler.c implements. */
typedef struct mc_reconciler mc_reconciler;

#define MESH_KEY        "mesh"
#define CONTROLLER_NAME "meshcluster"
#define NOTE_LEN        320
#define TOKEN_RETRY_MS  5000
#define MATCHED_RV_LEN  24 /* etcd revisions have at most 20 digits; longer ones are not kept */
#define PASS_WINDOW     64 /* a phase's requests out at once: see pass_objects_continue */

enum {
    INF_MC,        /* every MeshCluster */
    INF_NS,        /* the istio namespace (network label) */
    INF_ISTIO_CM,  /* the istio ConfigMap (meshNetworks key) */
    INF_CACERTS,   /* istio-system/cacerts (trust check), by name: no other Secret cached */
    INF_ROOT_CM,   /* istiod's istio-ca-root-cert ConfigMap (trust check), by name */
    INF_TOKEN,     /* opted-in token Secrets of --token-namespace: see mc_reconciler.token_ns */
    INF_SVC_ISTIO, /* owned from here on: label-selected */
    INF_SVC_TS,
    INF_SECRET,
    INF_CM,
    INF_GW,
    INF_COUNT
};
#define INF_FIRST_OWNED INF_SVC_ISTIO

struct kind_info {
    const char *kind;
    const char *group; /* "" = core */
    const char *version;
    const char *resource;
};

/* The first trouble of a pass under one condition: its reason (MC_REASON_NONE: none) and
 * "<Reason>: <Kind> <ns>/<name>: <detail>". */
struct note_slot {
    enum mc_reason reason;
    char text[NOTE_LEN];
};

/* What went wrong with a cluster's objects during a pass, by condition. */
struct note {
    struct note_slot egress;
    struct note_slot secret;
    struct note_slot gateway;
};

/* Passes to wait for the watch event of our own write before deciding without it. */
#define OWN_WRITE_WAIT_PASSES 3

/* How long a MeshCluster's status that is not settled (an object just made, an address not yet
 * published) is held back before it is written anyway: long enough for the Tailscale operator
 * and our own watch events on a healthy cluster, short enough that a stuck one shows. A settled
 * status (Ready, or a failure someone must act on) is never held. */
#define STATUS_SETTLE_MS 3000

/* What is kept per cluster result's status for as long as the desired state lives. */
struct status_memo {
    /* A hash of everything the status was last built from when it needed no write (0: none):
     * the same inputs build the same status. */
    uint64_t fp;
    /* Our last status write: the MeshCluster version the cache held when we sent it ("" none)
     * and the pass that sent it. While the cache still holds that version, the write's watch
     * event is on its way and a second write would be a duplicate. */
    char written_over[MATCHED_RV_LEN];
    unsigned long written_pass;
    /* When a status that is not settled (mc_conditions_settled) was first held back (mc__now_ms;
     * 0: none held). Reset by a write and by a settled status; see STATUS_SETTLE_MS. */
    uint64_t unsettled_since;
};

/* What is kept per desired object for as long as the desired state lives. */
struct desired_memo {
    int inf;               /* the informer caching it, -1 for none */
    const char *store_key; /* its key in that cache: the desired object's, borrowed */
    /* The resourceVersion of the live object last found to match it ("" for none): while
     * neither changes there is nothing to compare, so a pass after one event compares one
     * object, not the whole mesh. */
    char matched[MATCHED_RV_LEN];
    /* Our last successful apply: the cached version it was sent over (wrote_over, "" when the
     * cache held none: a create) and the pass that sent it. While the cache still holds that
     * version the watch event of our own write is on its way, and comparing the old version
     * would apply again for nothing (controller-runtime's expectations); after
     * OWN_WRITE_WAIT_PASSES passes we decide without it. */
    bool wrote;
    char wrote_over[MATCHED_RV_LEN];
    unsigned long wrote_pass;
    char healed_at[MATCHED_RV_LEN]; /* the version our colliding-entry removal made, if any */
    /* Set when an apply conflicted with another manager's fields, reported then: while the
     * live object stays at that version the apply is not repeated (it would conflict again),
     * only the report. NULL for none; owned, freed with the memo (mc__memo_free). */
    struct memo_conflict *conflict;
};

struct announced {
    char cluster[64];
    enum mc_cond_type type;
    char reason[64];
};

struct memo_conflict {
    char rv[MATCHED_RV_LEN];
    enum mc_reason reason;
    char detail[NOTE_LEN];
};

/* An informer event's subject, kept until the next pass plans (controller/reconcile_narrow.c). */
struct dirty_key {
    int inf;
    char *key; /* owned */
};

struct pass {
    mc_reconciler *r;
    struct mc_desired d;
    bool desired_reused; /* d came from the cache: MeshClusters and tokens unchanged */
    /* One slot per d.clusters entry, a note made on the cluster's first trouble (NULL: none).
     * Troubles are rare and a note is a kilobyte: all of them at 1,000 clusters were a
     * megabyte touched by every pass. */
    struct note **notes;
    struct note_slot meshnet_note;
    /* The memos of the desired objects that a cache holds, sorted by kind and cache key:
     * what collection and withdrawal look their objects up in. */
    const struct desired_memo **by_key;
    size_t nby_key;
    struct desired_memo *memo;     /* one per desired object */
    size_t owned_found;            /* desired objects found in the owned caches this pass */
    struct status_memo *status_fp; /* per cluster result */
    int pending;
    size_t next_object; /* phase 1: the next desired object to reconcile */
    size_t next_status; /* phase 2: the next d.clusters entry whose status to reconcile */
    /* Phase 2's inputs shared by every cluster, decided once when it begins. */
    struct mc_meshnet_observation meshnet;
    struct mc_trust_result trust;
    uint64_t status_shared_fp; /* their hash, part of every cluster's status fingerprint */
    bool issuing;              /* phase 1 or 2 is inside its issuing loop */
    int errors;
    int writes;
    int phase;                      /* 0 token reads, 1 objects, 2 status */
    k8s_runner_job *job;            /* the runner's handle for this pass's key; finished with it */
    struct mc_remote_token *tokens; /* for remotes with remoteSecret auth "secret"; owned */
    size_t ntokens, tokens_cap;
    struct token_problem *token_problems; /* one per remote whose token is missing; owned */
    size_t ntoken_problems, token_problems_cap;
    /*
     * The local MeshCluster is gone while objects made for it remain: this cluster left the
     * mesh, so everything we made here goes, in an order that survives a crash at any point
     * (the local objects are the evidence of membership, so they go last): first our fields
     * in objects that are not ours, then the objects made for remotes, then the local ones.
     */
    bool teardown;
    size_t owned_local, owned_other; /* our objects labelled for this cluster, for others */
    int withdrawing;                 /* withdrawals of our fields issued this pass */
    bool deferred;                   /* deletions held for a later pass */
    /* The soonest a held status (STATUS_SETTLE_MS) is due, in ms from now; 0: none held. The
     * pass queues itself again after it, in case no event comes first. */
    uint64_t status_recheck_ms;
    unsigned long mc_version; /* r->mc_version when the desired state was taken */
    bool desired_ok;          /* d, memo and by_key are complete (reusable) */
    /* A narrow pass (reconcile_narrow.c) visits only todo (desired object indices, sorted)
     * in phase 1 and todo_clusters (d.clusters indices) in phase 2, and collects only gc_keys
     * (touched keys of owned caches that no desired object has). Owned. */
    bool narrow;
    size_t *todo, ntodo;
    size_t *todo_clusters, ntodo_clusters;
    struct dirty_key *gc_keys;
    size_t ngc_keys;
    /* Phase 2 decided the shared inputs (it was not held for meshNetworks); and, in a narrow
     * pass, found them moved since the last pass: a full pass follows. */
    bool status_visited;
    bool shared_moved;
    /* One request of the pass finished (set by reconciler.c): moves to the next phase after
     * the last one. */
    void (*op_done)(struct pass *p);
};

/* How many desired objects phase 1 visits, and the index of the i-th. */
static inline size_t mc__objects_to_visit(const struct pass *p)
{
    return p->narrow ? p->ntodo : p->d.nobjects;
}

static inline size_t mc__object_at(const struct pass *p, size_t i)
{
    return p->narrow ? p->todo[i] : i;
}

/* How many statuses phase 2 visits, and the d.clusters index of the i-th. */
static inline size_t mc__statuses_to_visit(const struct pass *p)
{
    return p->narrow ? p->ntodo_clusters : p->d.nclusters;
}

static inline size_t mc__status_at(const struct pass *p, size_t i)
{
    return p->narrow ? p->todo_clusters[i] : i;
}

/* A pass's desired state kept for the next one: see mc_reconciler.cache. */
struct desired_cache {
    bool valid;
    unsigned long mc_version;
    struct mc_desired d;
    const struct desired_memo **by_key;
    size_t nby_key;
    struct desired_memo *memo;
    struct status_memo *status_fp;
    struct mc_remote_token *tokens; /* the tokens it was computed with; owned */
    size_t ntokens;
};

/*
 * After a new desired state was computed into p (memos indexed, status memos allocated): moves
 * from the old state what it learnt about each object whose identity and body are unchanged,
 * and the clusters' status memos (controller/reconcile_carry.c). Returns the objects carried.
 */
size_t mc__memo_carry(struct pass *p, struct desired_cache *old);
/* The kind each informer caches (INF_*). */
extern const char *const mc__inf_kind[INF_COUNT];
/* Sorts memo pointers by identity: kind (not cache: a ConfigMap of ours named like the istio
 * one is still the istio one), then cache key. */
void mc__memo_sort(const struct desired_memo **by_key, size_t n);
/* The memo in by_key (sorted by mc__memo_sort) of the object cached under (inf, key), or
 * NULL: no desired object has it. */
const struct desired_memo *mc__memo_find(const struct desired_memo *const *by_key, size_t n,
                                         int inf, const char *key);

/* Narrow passes (reconcile_narrow.c). An informer event's subject; something only a full
 * pass covers; forget what was noted. */
void mc__dirty_note(mc_reconciler *r, int inf, const char *key);
void mc__dirty_all(mc_reconciler *r);
void mc__dirty_clear(mc_reconciler *r);
/* After phase 1's desired state is in place: decides whether p is narrow and what it visits,
 * taking what was noted. */
void mc__pass_plan(struct pass *p);
void mc__pass_plan_free(struct pass *p);
/* When p ends: what the next plan needs to know of it. */
void mc__pass_plan_done(struct pass *p);

/* Why a remote's token could not be taken from its Secret, for RemoteSecretReady. */
struct token_problem {
    char cluster[64];
    struct mc_field_error why;
};

/* Room for a Kubernetes uid (36 characters) with its terminator. */
#define MC_UID_LEN 40

/* An object we deleted (200, or 404/409: gone already) that the cache still shows: its
 * informer, cache key (owned) and uid. */
struct deletion_sent {
    int inf;
    char *key;
    char uid[MC_UID_LEN];
};

/* A MeshCluster last seen accepted: its name and uid (both owned). */
struct accepted_uid {
    char *name;
    char *uid;
    /* When a desired state first found the name gone (mc__now_ms; 0: present). A gone name is
     * kept ACCEPTED_GONE_KEEP_MS: an object created for it just before its deletion may reach
     * the cache only after the pass that collected the rest, and if a rejected namesake comes
     * first, that object must still count as left by the deleted one (found by bench/storm). */
    uint64_t gone_since;
};
#define ACCEPTED_GONE_KEEP_MS 60000

struct mc_reconciler {
    k8s_client *client;
    char *cluster_name;
    char *istio_ns;
    char *ts_ns;
    char *cluster_domain;
    char *helm_values_name;
    /* Token Secrets are watched in this one namespace, selected by the opt-in label
     * (MC_LABEL_REMOTE_TOKEN), so a rotation arrives as an event; "" when auth "secret" is
     * disabled (inf[INF_TOKEN] is then NULL). Waited for before a pass unless its list
     * fails: see mc_reconciler_synced. */
    char *token_ns;
    struct mc_secret_policy policy;
    k8s_err token_list_err; /* the token informer's last list/watch failure, K8S_OK once synced */
    struct mc_desired_options dopts;
    bool allow_replace;
    bool force_meshnet; /* see mc_reconciler_opts.force_mesh_networks */
    uint64_t resync_ms;
    k8s_log *log;
    k8s_metrics *metrics;
    k8s_event_recorder *events;

    k8s_informer *inf[INF_COUNT];
    k8s_runner *runner;
    bool started;
    bool leading;
    bool stopping;
    int stop_pending;
    void (*stop_cb)(mc_reconciler *r, void *data);
    void *stop_data;
    struct pass *pass;
    unsigned long passes, idle_passes;
    /* The desired state depends only on the MeshClusters and the remotes' tokens: while
     * neither changed, a pass (a drift repair, a status update) reuses the last one instead of
     * recomputing and freeing the whole mesh, most of a pass's CPU at 1,000 clusters. */
    unsigned long mc_version; /* bumped by every MeshCluster event */
    struct desired_cache cache;
    /* A new desired state carries the old one's memos over (mc__memo_carry) unless a resync
     * asked for a full pass: then every object is compared afresh, the backstop for anything
     * the memos got wrong. */
    bool full_pass_due;
    /* What informer events touched since the last pass planned, for a narrow pass
     * (reconcile_narrow.c); dirty_all: something only a full pass covers. Owned. */
    struct dirty_key *dirty;
    size_t ndirty;
    bool dirty_all;
    bool last_pass_clean;    /* the last pass ended without errors, deferrals or withdrawals */
    unsigned narrow_run;     /* narrow passes since the last full one */
    uint64_t last_shared_fp; /* the last phase 2's shared-inputs fingerprint */
    bool last_shared_valid;
    /* Work per event, on /metrics: desired states computed (by mode) and bodies rebuilt to
     * compare with a live object. NULL without metrics. */
    k8s_metric *m_computations;
    k8s_metric *m_bodies;
    k8s_metric *m_visited; /* desired objects a pass looked at (narrow: few; full: all) */
    /* Every MeshCluster parsed (not terminating, well-formed), kept while mc_version holds:
     * for the trust check and the token reads. See mc__parsed_meshclusters. */
    struct mc_meshcluster *parsed_mcs;
    size_t nparsed_mcs;
    unsigned long parsed_mcs_version;
    bool parsed_mcs_valid;
    /* Consecutive passes that found meshNetworks written but not yet seen back; see
     * mc__pass_status. */
    unsigned meshnet_pending_passes;
    /* The last trust verdict and what it was decided from (the MeshClusters' version, the
     * cached cacerts and istio-ca-root-cert versions, when): parsing the certificates on every
     * pass was most of a quiet pass's time. Kept TRUST_MEMO_MS at most, since an intermediate's
     * expiry moves with the clock. */
    struct {
        bool valid;
        unsigned long mc_version;
        char cacerts_rv[MATCHED_RV_LEN], root_rv[MATCHED_RV_LEN];
        uint64_t at_ms;
        int rc;
        struct mc_trust_result res;
    } trust_memo;
    /* intermediateNotAfter of the last IntermediateExpiringSoon Event: one per intermediate. */
    char trust_warned[PKI_TIME_LEN];
    bool warned_unknown_local; /* the UnknownLocalCluster warning was logged (warn_unknown_local) */
    /* The False conditions announced by an Event (reconcile_status.c), so a status written
     * again before the cache shows the first write does not announce twice. Few; owned. */
    struct announced *announced;
    size_t nannounced;
    /* By name (sorted), the uid each MeshCluster had when a desired state last accepted it,
     * kept while it is rejected. A rejected MeshCluster's objects are left alone ("nothing is
     * changed for that cluster meanwhile"), but only its own: one of another uid was deleted
     * and created again, rejected, before a pass saw it gone, and what the deleted one left is
     * an orphan (found by bench/storm). In memory: after a restart such leftovers are kept.
     * Owned; see mc__accepted_remember. */
    struct accepted_uid *accepted;
    size_t naccepted;
    /* The objects deleted whose watch events have not come yet: until they do, a pass skips
     * them instead of deleting again (each pass used to send another DELETE and record another
     * Event while the cache lagged; found by bench/storm). Few; owned. */
    struct deletion_sent *deleted;
    size_t ndeleted;
    mc_prober *prober;       /* NULL: probing is off */
    mc_istiod_watch *istiod; /* NULL: istiod is not asked */
    mc_dns_sync *dns;        /* cluster DNS (Step 3); idle unless a local dns: managed */
};

/* ---- pure helpers ---------------------------------------------------------------------------- */

static inline const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline const cJSON *jpath(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

static inline const char *label_of(const cJSON *obj, const char *label)
{
    return jstr(jpath(obj, "metadata", "labels"), label);
}

/* obj is ours to delete: it carries our managed-by label, or none (a hand-made object from
 * the guide, adopted: the label is ours since). Another tool's label (Helm) says it is not. */
static inline bool mc__managed_by_us(const cJSON *obj)
{
    const char *m = label_of(obj, MC_LABEL_MANAGED_BY);
    return !m || strcmp(m, MC_FIELD_MANAGER) == 0;
}

static inline bool terminating(const cJSON *obj)
{
    return jpath(obj, "metadata", "deletionTimestamp") != NULL;
}

/* Every field of want is in have with the same value (controller/subset.h). */
static inline bool subset(const cJSON *want, const cJSON *have)
{
    return mc_subset(want, have) != 0;
}

/* ---- shared between the reconciler's files ------------------------------------------------- */

const struct kind_info *mc__kind_lookup(const char *kind);
uint64_t mc__now_ms(const mc_reconciler *r);

/* Cached objects (borrowed until the store changes): by informer and key, for a desired
 * object, and a MeshCluster by name. */
const cJSON *mc__cached(const mc_reconciler *r, int inf, const char *ns, const char *name);
/* The cached object under a cache key and its resourceVersion (rv may be NULL), in one lookup:
 * a quiet pass compares thousands of versions. */
const cJSON *mc__cached_key(const mc_reconciler *r, int inf, const char *key, const char **rv);
/* The cached object of desired object idx, and its resourceVersion (rv may be NULL). */
const cJSON *mc__cached_desired(const struct pass *p, size_t idx, const char **rv);
/* Desired object idx's body as a new tree (the caller owns it), NULL when out of memory. */
cJSON *mc__desired_body(const struct pass *p, size_t idx);
const cJSON *mc__meshcluster(const mc_reconciler *r, const char *name);
/* Fills r->parsed_mcs unless still valid; 0 or -ENOMEM. */
int mc__parsed_meshclusters(mc_reconciler *r);
void mc__parsed_meshclusters_clear(mc_reconciler *r);
/* The parsed MeshCluster of that name (mc__parsed_meshclusters must have filled them), or NULL. */
const struct mc_meshcluster *mc__parsed(const mc_reconciler *r, const char *name);

/* After a new desired state: remembers the uid of every accepted MeshCluster (a rejected one
 * keeps the uid it was last accepted with, a name gone is forgotten). 0 or -ENOMEM. */
int mc__accepted_remember(mc_reconciler *r, const struct mc_desired *d);
void mc__accepted_clear(mc_reconciler *r);
/* Whether the objects labelled for rejected MeshCluster name were made for an earlier one of
 * that name (accepted under another uid, since deleted). */
bool mc__left_by_deleted(const mc_reconciler *r, const char *name);

/* A status write for cluster failed: nothing of it will come back through the watch, so the
 * retry pass the error brings must not wait for it (it used to, and then the status stayed
 * stale until some other event). */
void mc__status_write_failed(struct pass *p, const char *cluster);

/* Records that op's deletion is done (the object is gone or going); whether a cached object
 * (informer inf, key, uid) is one already deleted; and forgets the deletions the cache has
 * caught up with (at the start of a pass's collection). */
void mc__deletion_remember(mc_reconciler *r, int inf, const char *ns, const char *name,
                           const char *uid);
bool mc__deletion_sent(const mc_reconciler *r, int inf, const char *key, const char *uid);
void mc__deletions_prune(mc_reconciler *r);
void mc__deletions_clear(mc_reconciler *r);

/* Probing and istiod (reconcile_probes.c). After a pass, the prober's targets follow its
 * desired state; a remote's probe states and istiod verdict go into its status fingerprint
 * (0 when both are off). */
void mc__probe_targets_update(mc_reconciler *r, const struct pass *p);
uint64_t mc__probe_fingerprint(const mc_reconciler *r, const char *cluster, const cJSON *secret);
/* istiod's verdict for a remote whose remote secret (cached, may be NULL) is secret. */
enum mc_istiod_sync mc__istiod_verdict(const mc_reconciler *r, const char *cluster,
                                       const cJSON *secret);

/* An Event on the MeshCluster named cluster (only while leading). */
void mc__event(mc_reconciler *r, const char *cluster, const char *type, const char *reason,
               const char *message);
void mc__metric_inc(mc_reconciler *r, const char *family, const char *const *values);

/* Per-cluster trouble of this pass, reported in the conditions. The cluster's note, made empty
 * when it had none; NULL for an unknown cluster or when memory ran out. */
struct note *mc__note_for(struct pass *p, const char *cluster);
/* The index in p->d.clusters of the first cluster of that name, or d.nclusters. */
size_t mc__cluster_index(const struct pass *p, const char *cluster);
/* Frees n memos and the conflicts they hold. */
void mc__memo_free(struct desired_memo *memo, size_t n);

/* Why cluster's token is missing (NULL: no known reason) during pass p. */
const struct token_problem *mc__token_problem(const struct pass *p, const char *cluster);

/* One request of the pass finished. */
static inline void mc__pass_op_done(struct pass *p)
{
    p->op_done(p);
}

#endif
