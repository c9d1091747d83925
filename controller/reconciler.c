/* The live MeshCluster controller: informers, the pass as the k8s/runner reconcile function,
 * the phases of a pass and the life cycle; see reconciler.h for what a pass does and why. */
#include "controller/reconciler.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/meshcluster.h"
#include "controller/reconcile_ops.h"
#include "controller/reconcile_pass.h"
#include "controller/reconcile_status.h"
#include "k8s/base64.h"
#include "k8s/defer.h"

/* ---- small helpers ------------------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int inf_for(const mc_reconciler *r, const char *kind, const char *ns, unsigned flags)
{
    if (!kind)
        return -1;
    if (strcmp(kind, "Namespace") == 0)
        return INF_NS;
    if (strcmp(kind, "Service") == 0 && ns)
        return strcmp(ns, r->istio_ns) == 0 ? INF_SVC_ISTIO
               : strcmp(ns, r->ts_ns) == 0  ? INF_SVC_TS
                                            : -1;
    if (strcmp(kind, "Secret") == 0)
        return INF_SECRET;
    if (strcmp(kind, "ConfigMap") == 0)
        return (flags & MC_DESIRED_MUST_EXIST) ? INF_ISTIO_CM : INF_CM;
    if (strcmp(kind, "Gateway") == 0)
        return INF_GW;
    return -1;
}

static void enqueue(mc_reconciler *r)
{
    if (!r->stopping && r->runner)
        (void)k8s_runner_add(r->runner, MESH_KEY); /* -ESHUTDOWN only: nothing to do then */
}

/* Something besides an informer event (a probe, istiod, DNS, leadership, a relist) may move
 * any status: the next pass is a full one. */
static void enqueue_all(mc_reconciler *r)
{
    mc__dirty_all(r);
    enqueue(r);
}

/* istiod's answer changed (or it stopped or started answering): statuses follow in a pass. */
static void on_istiod_change(void *data)
{
    enqueue_all(data);
}

/* A probe's verdict changed: the remote's status follows in a pass (probes never write); a
 * path that goes down, and one that comes back, is also an Event on the remote's MeshCluster. */
static void on_probe_change(const char *cluster, enum mc_probe_kind kind,
                            const struct mc_probe_state *state, enum mc_probe_change change,
                            void *data)
{
    mc_reconciler *r = data;
    const char *type = kind == MC_PROBE_API ? MC_COND_PEER_API : MC_COND_PEER_GATEWAY;
    char text[256];
    if (change == MC_PROBE_WENT_DOWN) {
        snprintf(text, sizeof(text), "%s=False: %s", type,
                 state->detail[0] ? state->detail : k8s_probe_failure_name(state->reason));
        k8s_log_warn(r->log, "peer unreachable", "cluster", cluster, "path",
                     mc_probe_kind_name(kind), "error", text);
        mc__event(r, cluster, "Warning", "PeerUnreachable", text);
    } else if (change == MC_PROBE_RECOVERED) {
        snprintf(text, sizeof(text), "%s=True again", type);
        k8s_log_info(r->log, "peer reachable again", "cluster", cluster, "path",
                     mc_probe_kind_name(kind));
        mc__event(r, cluster, "Normal", "PeerReachable", text);
    }
    enqueue_all(r);
}

/* Cluster DNS's outcome moved: DNSReady follows in a pass. */
static void on_dns_change(void *data)
{
    enqueue_all(data);
}

/*
 * After a pass, cluster DNS follows its desired state: the local cluster's zone and DNSConfig,
 * or nothing (removal) once no accepted local MeshCluster asks for them. A local MeshCluster
 * that is not accepted leaves DNS as it was, like its other objects: a typo must not pull the
 * tailnet's names out of cluster DNS.
 */
static void dns_follow(mc_reconciler *r, const struct pass *p)
{
    size_t ci = mc__cluster_index(p, r->cluster_name);
    if (ci < p->d.nclusters && !p->d.clusters[ci].accepted)
        return;
    if (mc_dns_sync_want(r->dns, r->leading, p->d.dns.zone, p->d.dns.dns_config) != 0)
        k8s_log_warn(r->log, "cluster DNS", "error", "out of memory");
}

/* ---- informers ---------------------------------------------------------------------------- */

static void note_mc_change(mc_reconciler *r, const k8s_informer *inf)
{
    if (inf == r->inf[INF_MC])
        r->mc_version++;
}

static bool same_json(const cJSON *a, const cJSON *b)
{
    return a == b || (a && b && cJSON_Compare(a, b, true));
}

/*
 * The desired state reads a MeshCluster's spec, name, uid, creationTimestamp and whether it is
 * being deleted. Status writes (ours, one per cluster whose conditions moved) change none of
 * them, and must not throw the cached desired state away: at 1,000 clusters recomputing it is
 * most of a repair's CPU.
 */
static bool desired_inputs_changed(const cJSON *o, const cJSON *n)
{
    const cJSON *om = jpath(o, "metadata", NULL), *nm = jpath(n, "metadata", NULL);
    return !same_json(jpath(o, "spec", NULL), jpath(n, "spec", NULL)) ||
           !same_json(jpath(om, "uid", NULL), jpath(nm, "uid", NULL)) ||
           !same_json(jpath(om, "creationTimestamp", NULL), jpath(nm, "creationTimestamp", NULL)) ||
           terminating(o) != terminating(n);
}

static int inf_index(const mc_reconciler *r, const k8s_informer *inf)
{
    for (int i = 0; i < INF_COUNT; i++)
        if (r->inf[i] == inf)
            return i;
    return -1;
}

/* What an event is about, for the next pass's plan (reconcile_narrow.c). */
static void note_dirty(mc_reconciler *r, const k8s_informer *inf, const char *key)
{
    int i = inf_index(r, inf);
    if (i < 0)
        mc__dirty_all(r);
    else
        mc__dirty_note(r, i, key);
}

static void on_inf_add(k8s_informer *inf, const char *key, const cJSON *obj, void *data)
{
    (void)obj;
    note_mc_change(data, inf);
    note_dirty(data, inf, key);
    enqueue(data);
}

static void on_inf_update(k8s_informer *inf, const char *key, const cJSON *o, const cJSON *n,
                          void *data)
{
    (void)key;
    /* A resync delivers o == n: recompute then too, from scratch (no memo carried over), a
     * backstop like the resync itself. */
    mc_reconciler *r = data;
    if (o == n && inf == r->inf[INF_MC])
        r->full_pass_due = true;
    if (o == n || desired_inputs_changed(o, n))
        note_mc_change(data, inf);
    if (o == n)
        mc__dirty_all(r);
    else
        note_dirty(r, inf, key);
    enqueue(data);
}

static void on_inf_delete(k8s_informer *inf, const char *key, const cJSON *obj, void *data)
{
    (void)obj;
    note_mc_change(data, inf);
    note_dirty(data, inf, key);
    enqueue(data);
}

static void on_inf_synced(k8s_informer *inf, void *data)
{
    mc_reconciler *r = data;
    if (inf == r->inf[INF_TOKEN])
        r->token_list_err = K8S_OK;
    enqueue_all(data);
}

/* The token informer cannot list (RBAC, a missing namespace...): a pass says so in the
 * status of the remotes waiting for a token, once per change of cause. */
static void on_token_inf_error(k8s_informer *inf, const k8s_error *err, void *data)
{
    (void)inf;
    mc_reconciler *r = data;
    if (r->token_list_err == err->code)
        return;
    r->token_list_err = err->code;
    k8s_log_warn(r->log, "cannot list token Secrets", "namespace", r->token_ns, "error",
                 k8s_err_name(err->code));
    enqueue_all(r);
}

/*
 * Fields that the server and other controllers add and that nothing here reads or compares (no
 * desired body sets them): not cached. A field a desired body sets must never be listed, or it
 * would never match and be applied on every pass. managedFields stay for the objects we only
 * contribute fields to (the namespace, istiod's ConfigMap): whether we still own any decides
 * if there is something to withdraw.
 */
static const char *const unread[] = {"metadata.managedFields", NULL};
static const char *const owned_unread[] = {"metadata.managedFields", "metadata.creationTimestamp",
                                           NULL};
static const char *const svc_unread[] = {"metadata.managedFields",
                                         "metadata.creationTimestamp",
                                         "metadata.finalizers",
                                         "spec.sessionAffinity",
                                         "spec.clusterIP",
                                         "spec.clusterIPs",
                                         "spec.ipFamilies",
                                         "spec.ipFamilyPolicy",
                                         "spec.internalTrafficPolicy",
                                         "spec.externalTrafficPolicy",
                                         "spec.allocateLoadBalancerNodePorts",
                                         "status.conditions[].lastTransitionTime",
                                         NULL};

static int informer_new(mc_reconciler *r, int which, const char *ns, const char *label_selector,
                        const char *field_selector)
{
    const struct kind_info *ki = mc__kind_lookup(mc__inf_kind[which]);
    k8s_informer_opts o = {
        .watch =
            {
                .ref = {.group = ki->group,
                        .version = ki->version,
                        .resource = ki->resource,
                        .namespace = ns},
                .label_selector = label_selector,
                .field_selector = field_selector,
            },
        .resync_ms = r->resync_ms,
        .drop_fields = which == INF_SVC_ISTIO || which == INF_SVC_TS ? svc_unread
                       : which >= INF_FIRST_OWNED                    ? owned_unread
                       : which == INF_NS || which == INF_ISTIO_CM    ? NULL
                                                                     : unread,
        .handlers = {.on_add = on_inf_add,
                     .on_update = on_inf_update,
                     .on_delete = on_inf_delete,
                     .on_synced = on_inf_synced,
                     .data = r,
                     .on_error = which == INF_TOKEN ? on_token_inf_error : NULL},
        /* Conditions are only compared and carried over: kept as lines (status.h). */
        .transform = which == INF_MC ? mc_status_compact : NULL,
    };
    return k8s_informer_new(r->client, &o, &r->inf[which]);
}

/* ---- a pass ------------------------------------------------------------------------------- */

/* Whether the object cached under key in informer inf is a desired one. */
static bool is_desired(const struct pass *p, int inf, const char *key)
{
    return mc__memo_find(p->by_key, p->nby_key, inf, key) != NULL;
}

static void free_tokens(struct mc_remote_token *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)t[i].cluster);
        free((char *)t[i].token);
    }
    free(t);
}

static void cache_clear(struct desired_cache *c)
{
    mc__memo_free(c->memo, c->d.nobjects); /* its keys are c->d's */
    mc_desired_free(&c->d);
    free(c->by_key);
    free(c->status_fp);
    free_tokens(c->tokens, c->ntokens);
    memset(c, 0, sizeof(*c));
}

static bool same_tokens(const struct mc_remote_token *a, size_t na, const struct mc_remote_token *b,
                        size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) { /* read in completion order: compare as sets */
        bool found = false;
        for (size_t j = 0; j < nb && !found; j++)
            found = strcmp(a[i].cluster, b[j].cluster) == 0 && strcmp(a[i].token, b[j].token) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* Moves the cached desired state into p when it still holds (see mc_reconciler.cache). */
static bool cache_take(mc_reconciler *r, struct pass *p)
{
    struct desired_cache *c = &r->cache;
    if (!c->valid || c->mc_version != p->mc_version ||
        !same_tokens(c->tokens, c->ntokens, p->tokens, p->ntokens))
        return false;
    p->d = c->d;
    p->by_key = c->by_key;
    p->nby_key = c->nby_key;
    p->memo = c->memo;
    p->status_fp = c->status_fp;
    p->desired_reused = true;
    memset(&c->d, 0, sizeof(c->d));
    c->by_key = NULL;
    c->nby_key = 0;
    c->memo = NULL;
    c->status_fp = NULL;
    cache_clear(c);
    return true;
}

/* Frees p; its complete desired state (and the tokens it came from) becomes the cache. */
static void pass_free(struct pass *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->notes && i < p->d.nclusters; i++)
        free(p->notes[i]);
    free(p->notes);
    free(p->token_problems);
    mc__pass_plan_free(p);
    if (p->desired_ok) {
        struct desired_cache *c = &p->r->cache;
        cache_clear(c);
        *c = (struct desired_cache){.valid = true,
                                    .mc_version = p->mc_version,
                                    .d = p->d,
                                    .by_key = p->by_key,
                                    .nby_key = p->nby_key,
                                    .memo = p->memo,
                                    .status_fp = p->status_fp,
                                    .tokens = p->tokens,
                                    .ntokens = p->ntokens};
    } else {
        mc__memo_free(p->memo, p->d.nobjects); /* its keys are p->d's */
        mc_desired_free(&p->d);
        free(p->by_key);
        free(p->status_fp);
        free_tokens(p->tokens, p->ntokens);
    }
    free(p);
}

static void maybe_stopped(mc_reconciler *r);

/* What the runner does with the mesh key next: retry with backoff after an error; after a
 * pass that held deletions back or held a settling status, a late look (the writes that let
 * deletions go, or the awaited event, usually bring us back sooner; this is the backstop). */
static k8s_result pass_result(const struct pass *p)
{
    if (p->errors)
        return (k8s_result){.kind = K8S_RESULT_ERROR};
    /* A status held while it settles is written by a later pass at the latest when its hold
     * ends; an event usually brings one sooner. */
    uint64_t after = p->deferred ? TOKEN_RETRY_MS : 0;
    if (p->status_recheck_ms && (!after || p->status_recheck_ms < after))
        after = p->status_recheck_ms;
    if (after)
        return (k8s_result){.kind = K8S_RESULT_REQUEUE_AFTER, .after_ms = after};
    return (k8s_result){.kind = K8S_RESULT_DONE};
}

static void pass_finish(struct pass *p)
{
    mc_reconciler *r = p->r;
    r->passes++;
    if (p->writes == 0)
        r->idle_passes++;
    if (p->writes || p->errors) {
        char w[32], e[32];
        snprintf(w, sizeof(w), "%d", p->writes);
        snprintf(e, sizeof(e), "%d", p->errors);
        k8s_log_debug(r->log, "reconciled", "writes", w, "errors", e);
    }
    r->pass = NULL;
    if (!r->stopping) {
        mc__probe_targets_update(r, p);
        dns_follow(r, p);
    }
    mc__pass_plan_done(p);
    if (p->shared_moved)
        enqueue_all(r); /* the statuses this narrow pass did not visit */
    k8s_runner_job *job = p->job;
    k8s_result res = pass_result(p);
    pass_free(p);
    k8s_runner_finish(job, res);
    maybe_stopped(r);
}

static void pass_objects(struct pass *p);
static void pass_objects_continue(struct pass *p);
static void pass_status_continue(struct pass *p);

/* A request of p finished: after the last one of a phase, the next phase. */
static void pass_op_done(struct pass *p)
{
    if (--p->pending > 0) {
        if (p->phase == 1 && p->next_object < mc__objects_to_visit(p) && p->pending < PASS_WINDOW)
            pass_objects_continue(p);
        else if (p->phase == 2 && p->next_status < mc__statuses_to_visit(p) &&
                 p->pending < PASS_WINDOW)
            pass_status_continue(p);
        return;
    }
    if (p->phase == 0) {
        if (p->r->stopping || !p->r->leading) {
            pass_finish(p);
            return;
        }
        pass_objects(p);
        return;
    }
    if (p->phase == 1 && !p->r->stopping && p->r->leading) {
        p->phase = 2;
        p->pending = 1; /* held while the status writes are issued */
        mc__pass_status(p);
        pass_status_continue(p);
        return;
    }
    pass_finish(p);
}

struct gc_ctx {
    struct pass *p;
    int inf;
};

static int gc_visit(void *data, const char *key, const cJSON *obj)
{
    struct gc_ctx *g = data;
    struct pass *p = g->p;
    const char *kind = mc__inf_kind[g->inf];
    const cJSON *md = jpath(obj, "metadata", NULL);
    if (terminating(obj) || is_desired(p, g->inf, key) ||
        mc__deletion_sent(p->r, g->inf, key, jstr(md, "uid")))
        return 0;
    const char *cluster = label_of(obj, MC_LABEL_CLUSTER);
    if (p->teardown) {
        bool local = cluster && strcmp(cluster, p->r->cluster_name) == 0;
        if (p->withdrawing || (local && p->owned_other)) {
            p->deferred = true; /* see struct pass: the local objects go last */
            return 0;
        }
    }
    for (size_t i = p->teardown ? p->d.nclusters : mc__cluster_index(p, cluster);
         i < p->d.nclusters && strcmp(p->d.clusters[i].name, cluster) == 0; i++) {
        const struct mc_cluster_result *cr = &p->d.clusters[i];
        if (!cr->accepted && !mc__left_by_deleted(p->r, cr->name))
            return 0; /* its MeshCluster is rejected: touch nothing of it */
        if (!cr->accepted)
            break; /* left by a deleted MeshCluster of that name: an orphan */
        if (cr->remote_secret_pending && strcmp(kind, "Secret") == 0)
            return 0; /* keep a working remote secret while its token cannot be read */
    }
    struct op *op = mc__op_new(p, obj, kind, -1);
    if (!op) {
        p->errors++;
        return 0;
    }
    p->pending++;
    if (!mc__managed_by_us(obj)) {
        /* Adopted from another tool (Helm): not ours to delete; give our fields back. */
        p->withdrawing++;
        mc__op_withdraw(op, obj);
        return 0;
    }
    const char *uid = jstr(md, "uid");
    op->inf = g->inf;
    snprintf(op->uid, sizeof(op->uid), "%s", uid ? uid : "");
    mc__op_delete(op, uid, OP_DELETE);
    return 0;
}

/* A narrow pass collects only the touched owned objects that no desired object has. */
static void collect_touched(struct pass *p)
{
    for (size_t i = 0; i < p->ngc_keys; i++) {
        const cJSON *obj = mc__cached_key(p->r, p->gc_keys[i].inf, p->gc_keys[i].key, NULL);
        struct gc_ctx g = {p, p->gc_keys[i].inf};
        if (obj)
            gc_visit(&g, p->gc_keys[i].key, obj);
    }
}

static int count_owned(void *data, const char *key, const cJSON *obj)
{
    (void)key;
    struct pass *p = data;
    const char *cluster = label_of(obj, MC_LABEL_CLUSTER);
    if (cluster && strcmp(cluster, p->r->cluster_name) == 0)
        p->owned_local++;
    else
        p->owned_other++;
    return 0;
}

/* Whether the local MeshCluster was deleted: it is absent (a rejected one is present and
 * keeps everything as it is) while objects made for it remain. A daemon started with a
 * mistyped --cluster-name finds no objects labelled with that name, so it removes nothing. */
static bool left_mesh(struct pass *p)
{
    if (mc__cluster_index(p, p->r->cluster_name) < p->d.nclusters)
        return false;
    for (int i = INF_FIRST_OWNED; i < INF_COUNT; i++)
        k8s_store_foreach(k8s_informer_store(p->r->inf[i]), count_owned, p);
    return p->owned_local > 0;
}

static bool local_accepted(const struct pass *p)
{
    size_t i = mc__cluster_index(p, p->r->cluster_name);
    return i < p->d.nclusters && p->d.clusters[i].accepted;
}

/* Our server-side-apply manager still owns fields of obj. */
static bool has_our_fields(const cJSON *obj)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, jpath(obj, "metadata", "managedFields"))
    {
        const char *manager = jstr(e, "manager"), *operation = jstr(e, "operation");
        if (manager && operation && strcmp(manager, MC_FIELD_MANAGER) == 0 &&
            strcmp(operation, "Apply") == 0 && !jstr(e, "subresource"))
            return true;
    }
    return false;
}

struct withdraw_ctx {
    struct pass *p;
    int inf;
};

/*
 * Gives up our fields in an object that is not ours (the istio namespace's network label,
 * the istio ConfigMap's meshNetworks key) once they are no longer desired: after the local
 * MeshCluster left, or when --mesh-networks no longer includes the ConfigMap.
 */
static int withdraw_visit(void *data, const char *key, const cJSON *obj)
{
    struct withdraw_ctx *w = data;
    struct pass *p = w->p;
    const char *kind = mc__inf_kind[w->inf];
    if (terminating(obj) || !has_our_fields(obj) || is_desired(p, w->inf, key))
        return 0;
    struct op *op = mc__op_new(p, obj, kind, -1);
    if (!op) {
        p->errors++;
        return 0;
    }
    p->pending++;
    p->withdrawing++;
    mc__op_withdraw(op, obj);
    return 0;
}

static int collect_meshclusters(void *data, const char *key, const cJSON *obj)
{
    (void)key;
    if (!terminating(obj))
        cJSON_AddItemReferenceToArray(data, (cJSON *)obj);
    return 0;
}

static int add_token(struct pass *p, const char *cluster, char *token)
{
    if (p->ntokens == p->tokens_cap) {
        size_t cap = p->tokens_cap ? p->tokens_cap * 2 : 4;
        struct mc_remote_token *t = realloc(p->tokens, cap * sizeof(*t));
        if (!t)
            return -ENOMEM;
        p->tokens = t;
        p->tokens_cap = cap;
    }
    char *c = strdup(cluster);
    if (!c)
        return -ENOMEM;
    p->tokens[p->ntokens].cluster = c;
    p->tokens[p->ntokens].token = token;
    p->ntokens++;
    return 0;
}

/* Records why cluster has no token (the status names it in RemoteSecretReady) and returns
 * where to write it, or NULL when out of memory: the remote stays pending either way. */
static struct mc_field_error *token_problem(struct pass *p, const char *cluster)
{
    if (p->ntoken_problems == p->token_problems_cap) {
        size_t cap = p->token_problems_cap ? p->token_problems_cap * 2 : 4;
        struct token_problem *t = realloc(p->token_problems, cap * sizeof(*t));
        if (!t)
            return NULL;
        p->token_problems = t;
        p->token_problems_cap = cap;
    }
    struct token_problem *t = &p->token_problems[p->ntoken_problems++];
    snprintf(t->cluster, sizeof(t->cluster), "%s", cluster);
    return &t->why;
}

#define REF_FIELD "spec.remoteSecret.secretRef"

/* The token in data[key] of a cached token Secret, trimmed and checked, or NULL (and why). */
static char *token_from_secret(struct pass *p, const struct mc_meshcluster *mc, const cJSON *sec,
                               const char *ref)
{
    const cJSON *labels = jpath(sec, "metadata", "labels");
    const char *manager = jstr(labels, MC_LABEL_MANAGED_BY);
    if (manager && strcmp(manager, MC_FIELD_MANAGER) == 0) {
        mc_field_error_set(token_problem(p, mc->name), "SecretRefNotAllowed", REF_FIELD,
                           "Secret %s is managed by the controller itself and is never read as "
                           "a token",
                           ref);
        return NULL;
    }
    const char *b64 = jstr(jpath(sec, "data", NULL), mc->secret_key);
    size_t len = 0, start = 0, n = 0;
    /* No bound of our own: the API server keeps a Secret under 1 MiB. */
    unsigned char *bytes = NULL;
    if (b64 && k8s_base64_decode(b64, 0, &bytes, &len) != 0)
        bytes = NULL;
    char *raw = (char *)bytes;
    const char *why = !b64 ? "has no key" : !raw ? "is not base64" : NULL;
    if (!why)
        why = mc_check_bearer_token(raw, len, &start, &n);
    if (why) {
        mc_field_error_set(token_problem(p, mc->name), b64 ? "TokenInvalid" : "TokenKeyMissing",
                           REF_FIELD, "Secret %s: key \"%s\" %s", ref, mc->secret_key, why);
        free(raw);
        return NULL;
    }
    memmove(raw, raw + start, n);
    raw[n] = '\0';
    return raw;
}

/*
 * Phase 0, for a remote whose remoteSecret auth is "secret": its token, from the watched cache
 * of labelled Secrets in --token-namespace (so a rotation is applied as soon as it is seen).
 * A ref the policy refuses is skipped: the desired state rejects that MeshCluster.
 */
static void read_token(struct pass *p, const struct mc_meshcluster *mc)
{
    mc_reconciler *r = p->r;
    if (mc->auth != MC_AUTH_SECRET || strcmp(mc->name, r->cluster_name) == 0 || !mc->secret_name[0])
        return;
    struct mc_verdict v = {.accepted = 1};
    mc_validate_secret_ref(mc, &r->policy, &v);
    if (!v.accepted)
        return;
    char ref[400];
    snprintf(ref, sizeof(ref), "%s/%s", mc->secret_namespace, mc->secret_name);
    k8s_informer *inf = r->inf[INF_TOKEN];
    if (!inf || !k8s_informer_has_synced(inf)) {
        bool forbidden = r->token_list_err == K8S_ERR_FORBIDDEN;
        mc_field_error_set(
            token_problem(p, mc->name), forbidden ? "TokenSecretForbidden" : "TokenPending",
            REF_FIELD,
            "Secret %s cannot be read yet: listing Secrets labelled " MC_LABEL_REMOTE_TOKEN
            "=true in namespace %s %s",
            ref, mc->secret_namespace,
            forbidden ? "is Forbidden: grant list and watch on secrets there (as "
                        "deploy/'s RBAC does)"
            : r->token_list_err != K8S_OK ? k8s_err_name(r->token_list_err)
                                          : "has not completed");
        return;
    }
    const cJSON *sec = mc__cached(r, INF_TOKEN, mc->secret_namespace, mc->secret_name);
    if (!sec) {
        mc_field_error_set(
            token_problem(p, mc->name), "TokenSecretMissing", REF_FIELD,
            "Secret %s does not exist or is not labelled " MC_LABEL_REMOTE_TOKEN "=true", ref);
        return;
    }
    char *token = token_from_secret(p, mc, sec, ref);
    if (!token)
        return;
    k8s_log_add_secret(r->log, token);
    if (add_token(p, mc->name, token) != 0)
        free(token);
}

static void pass_start(mc_reconciler *r, k8s_runner_job *job)
{
    struct pass *p = calloc(1, sizeof(*p));
    if (!p) {
        k8s_log_error(r->log, "reconcile could not start: out of memory");
        k8s_runner_finish(job, (k8s_result){.kind = K8S_RESULT_ERROR});
        return;
    }
    p->r = r;
    p->job = job;
    p->op_done = pass_op_done;
    p->phase = 0;
    r->pass = p;
    p->pending = 1; /* phase 0 reads caches only: done when this returns */
    if (mc__parsed_meshclusters(r) != 0)
        p->errors++;
    for (size_t i = 0; i < r->nparsed_mcs; i++)
        read_token(p, &r->parsed_mcs[i]);
    mc__pass_op_done(p);
}

/* Each desired object's cache and key there (memo), from its identity (no body is built), and
 * the cached ones sorted by identity for collection (by_key). 0 or -ENOMEM (what was made is
 * freed with the pass). */
static int index_desired(const mc_reconciler *r, struct pass *p)
{
    size_t n = p->d.nobjects;
    p->memo = calloc(n ? n : 1, sizeof(*p->memo));
    p->by_key = calloc(n ? n : 1, sizeof(*p->by_key));
    if (!p->memo || !p->by_key)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct mc_desired_object *o = &p->d.objects[i];
        const char *slash = strchr(o->key, '/');
        char ns[128] = "";
        if (slash && (size_t)(slash - o->key) < sizeof(ns))
            memcpy(ns, o->key, (size_t)(slash - o->key));
        p->memo[i].inf = inf_for(r, o->kind, slash ? ns : NULL, o->flags);
        p->memo[i].store_key = o->key;
        if (p->memo[i].inf >= 0)
            p->by_key[p->nby_key++] = &p->memo[i];
    }
    mc__memo_sort(p->by_key, p->nby_key);
    return 0;
}

/*
 * MeshClusters exist but none has the daemon's --cluster-name (a typo, or the wrong value in
 * the chart): every one is rejected with UnknownLocalCluster, which a debug log alone hid.
 * Warned once per occurrence, again only after the name was found in between.
 */
static void warn_unknown_local(struct pass *p)
{
    mc_reconciler *r = p->r;
    bool unknown = p->d.nclusters > 0 && mc__cluster_index(p, r->cluster_name) >= p->d.nclusters;
    if (unknown && !r->warned_unknown_local)
        k8s_log_warn(r->log,
                     "no MeshCluster is named like this daemon's --cluster-name: every "
                     "MeshCluster is rejected (UnknownLocalCluster)",
                     "cluster_name", r->cluster_name);
    r->warned_unknown_local = unknown;
}

/* Phase 1: desired state from the MeshClusters as cached now, then every object. */
static void pass_objects(struct pass *p)
{
    mc_reconciler *r = p->r;
    p->phase = 1;
    p->pending = 1; /* held while phase 1 is issued */
    p->mc_version = r->mc_version;
    if (!cache_take(r, p)) {
        cJSON *mcs = cJSON_CreateArray();
        if (!mcs)
            goto fail;
        k8s_store_foreach(k8s_informer_store(r->inf[INF_MC]), collect_meshclusters, mcs);
        /* Compact: kept between passes, a body rebuilt only where a live object differs. */
        int rc = mc_desired_compute_compact(mcs, r->cluster_name, &r->dopts, p->tokens, p->ntokens,
                                            &p->d);
        cJSON_Delete(mcs); /* references only: the store keeps its objects */
        if (rc != 0)
            goto fail;
        p->status_fp = calloc(p->d.nclusters ? p->d.nclusters : 1, sizeof(*p->status_fp));
        if (!p->status_fp || index_desired(r, p) != 0 || mc__accepted_remember(r, &p->d) != 0)
            goto fail;
        bool full = r->full_pass_due || !r->cache.valid;
        if (!full)
            mc__memo_carry(p, &r->cache);
        r->full_pass_due = false;
        if (r->m_computations)
            k8s_metric_inc(r->m_computations, (const char *[]){full ? "full" : "incremental"});
    }
    p->desired_ok = true;
    mc__pass_plan(p);
    if (r->m_visited)
        k8s_metric_add(r->m_visited, NULL, (double)mc__objects_to_visit(p));
    p->notes = calloc(p->d.nclusters ? p->d.nclusters : 1, sizeof(*p->notes));
    if (!p->notes)
        goto fail;
    for (size_t i = 0; i < p->d.nclusters; i++)
        if (!p->d.clusters[i].accepted)
            k8s_log_debug(r->log, "not accepted", "meshcluster", p->d.clusters[i].name, "field",
                          p->d.clusters[i].why.field, "reason", p->d.clusters[i].why.reason);
    warn_unknown_local(p);
    p->next_object = 0;
    pass_objects_continue(p);
    return;
fail:
    k8s_log_error(r->log, "reconcile could not run: out of memory");
    p->errors++;
    p->phase = 2; /* no status from a failed computation */
    p->next_status = mc__statuses_to_visit(p);
    mc__pass_op_done(p);
}

/*
 * Issues the next desired objects while fewer than PASS_WINDOW requests of the pass are out,
 * then, once all are issued, what phase 1 does after them, and lets go of the phase's hold.
 * Issuing all 4,000 objects of a 1,000-cluster mesh at once queued as many requests (and the
 * Events their creation records) behind the client's rate limit: megabytes held for minutes.
 */
static void pass_objects_continue(struct pass *p)
{
    mc_reconciler *r = p->r;
    if (p->issuing)
        return; /* an op finished synchronously inside the loop below */
    if (r->stopping || !r->leading) {
        /* Stopping: no more requests and no collection; the ones out finish the pass. */
        p->next_object = mc__objects_to_visit(p);
        mc__pass_op_done(p);
        return;
    }
    p->issuing = true;
    size_t n = mc__objects_to_visit(p);
    while (p->next_object < n && p->pending < PASS_WINDOW)
        mc__reconcile_object(p, (long)mc__object_at(p, p->next_object++));
    p->issuing = false;
    if (p->next_object < n)
        return; /* the hold stays: mc__pass_op_done calls back as requests finish */

    p->teardown = left_mesh(p);
    if (p->teardown)
        k8s_log_info(r->log, "the local MeshCluster is gone: removing this cluster from the mesh",
                     "meshcluster", r->cluster_name);
    if (p->teardown || local_accepted(p)) {
        static const int partial[] = {INF_NS, INF_ISTIO_CM};
        for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
            struct withdraw_ctx w = {p, partial[i]};
            k8s_store_foreach(k8s_informer_store(r->inf[partial[i]]), withdraw_visit, &w);
        }
    }
    /* Every cached object of ours is a desired one (keys are unique): nothing to collect,
     * and no need to look each one up, which at 1,000 clusters is most of a quiet pass. */
    mc__deletions_prune(r); /* the deletions the cache has caught up with */
    if (p->narrow) {
        collect_touched(p);
    } else {
        size_t owned = 0;
        for (int i = INF_FIRST_OWNED; i < INF_COUNT; i++)
            owned += k8s_store_size(k8s_informer_store(r->inf[i]));
        for (int i = INF_FIRST_OWNED; i < INF_COUNT && (p->teardown || owned != p->owned_found);
             i++) {
            struct gc_ctx g = {p, i};
            k8s_store_foreach(k8s_informer_store(r->inf[i]), gc_visit, &g);
        }
    }
    k8s_metric *managed =
        r->metrics ? k8s_metrics_find_own(r->metrics, K8S_M_MANAGED_OBJECTS) : NULL;
    if (managed) {
        double svc = (double)(k8s_store_size(k8s_informer_store(r->inf[INF_SVC_ISTIO])) +
                              k8s_store_size(k8s_informer_store(r->inf[INF_SVC_TS])));
        k8s_metric_set(managed, (const char *[]){"Service"}, svc);
        k8s_metric_set(managed, (const char *[]){"Secret"},
                       (double)k8s_store_size(k8s_informer_store(r->inf[INF_SECRET])));
        k8s_metric_set(managed, (const char *[]){"ConfigMap"},
                       (double)k8s_store_size(k8s_informer_store(r->inf[INF_CM])));
        k8s_metric_set(managed, (const char *[]){"Gateway"},
                       (double)k8s_store_size(k8s_informer_store(r->inf[INF_GW])));
    }
    mc__pass_op_done(p); /* the hold taken in pass_objects */
}

/* Phase 2 in windows like phase 1: a mesh coming up changes every cluster's status at once,
 * and 1,000 status writes queued behind the rate limit held their bodies (2.5 MB) for the
 * twenty seconds they took. Lets go of the phase's hold once all are issued. */
static void pass_status_continue(struct pass *p)
{
    if (p->issuing)
        return; /* an op finished synchronously inside the loop below */
    if (p->r->stopping || !p->r->leading)
        p->next_status =
            mc__statuses_to_visit(p); /* no more requests; the ones out finish the pass */
    p->issuing = true;
    bool all = mc__pass_status_issue(p);
    p->issuing = false;
    if (all)
        mc__pass_op_done(p); /* the hold taken when phase 2 began */
}

/* Before every cache is complete a pass could delete what it has not seen yet. */
static bool ready_to_reconcile(void *data)
{
    mc_reconciler *r = data;
    return !r->stopping && r->leading && mc_reconciler_synced(r);
}

static void reconcile_mesh(k8s_runner_job *job, void *data)
{
    pass_start(data, job);
}

/* ---- life cycle --------------------------------------------------------------------------- */

/* The parts beside the informers: the prober and istiod's watch when asked for, and cluster
 * DNS (idle until a MeshCluster asks for it). 0 or a negative errno; the caller frees r. */
static int parts_new(mc_reconciler *r, k8s_client *c, const struct mc_reconciler_opts *opts)
{
    int rc = 0;
    if (opts->probe_http && opts->probe_interval_ms > 0) {
        struct mc_prober_opts po = {.interval_ms = opts->probe_interval_ms,
                                    .connect_to = opts->probe_connect_to,
                                    .nconnect_to = opts->nprobe_connect_to,
                                    .seed = (uint64_t)(uintptr_t)r ^ mc__now_ms(r),
                                    .metrics = r->metrics,
                                    .metrics_prefix = "meshcluster",
                                    .on_change = on_probe_change,
                                    .data = r};
        rc = mc_prober_new(opts->probe_http, k8s_client_loop(c), &po, &r->prober);
    }
    if (!rc && opts->probe_http && opts->istiod_url && opts->istiod_url[0]) {
        struct mc_istiod_watch_opts wo = {
            .url = opts->istiod_url,
            .token_file = opts->istiod_token_file,
            .interval_ms = opts->istiod_interval_ms ? opts->istiod_interval_ms : 30000,
            .on_change = on_istiod_change,
            .data = r};
        rc = mc_istiod_watch_new(opts->probe_http, k8s_client_loop(c), &wo, &r->istiod);
    }
    struct mc_dns_sync_opts dso = {.interval_ms = opts->dns_interval_ms,
                                   .retry_ms = opts->dns_retry_ms,
                                   .log = r->log,
                                   .on_change = on_dns_change,
                                   .data = r};
    return rc ? rc : mc_dns_sync_new(c, &dso, &r->dns);
}

/* The work-per-event counters (mc_reconciler.m_computations, m_bodies, m_visited). 0 or
 * -ENOMEM. */
static int work_metrics_new(mc_reconciler *r)
{
    r->m_computations = k8s_metrics_counter(
        r->metrics, "meshcluster_desired_computations_total",
        "Desired states computed after a MeshCluster or token change: full (every object "
        "compared afresh: the first, and after a resync) or incremental (what was known about "
        "unchanged objects kept).",
        (const char *[]){"mode", NULL});
    r->m_bodies = k8s_metrics_counter(
        r->metrics, "meshcluster_desired_bodies_built_total",
        "Desired object bodies built to compare with, or apply to, a live object: the work a "
        "pass does beyond checking versions.",
        NULL);
    r->m_visited = k8s_metrics_counter(
        r->metrics, "meshcluster_objects_visited_total",
        "Desired objects a pass looked at: all of them in a full pass, only those of the "
        "clusters the events since the last pass touched in a narrow one.",
        NULL);
    if (!r->m_computations || !r->m_bodies || !r->m_visited)
        return -ENOMEM;
    /* Both modes shown from the start, so a rate over them is defined at 0. */
    k8s_metric_touch(r->m_computations, (const char *[]){"full"});
    k8s_metric_touch(r->m_computations, (const char *[]){"incremental"});
    return 0;
}

int mc_reconciler_new(k8s_client *c, const struct mc_reconciler_opts *opts, mc_reconciler **out)
{
    if (!c || !opts || !opts->cluster_name || !out)
        return -EINVAL;
    mc_reconciler *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->client = c;
    r->dopts = opts->desired;
    r->cluster_name = xstrdup(opts->cluster_name);
    r->istio_ns =
        xstrdup(opts->desired.istio_namespace ? opts->desired.istio_namespace : "istio-system");
    r->ts_ns = xstrdup(opts->desired.tailscale_namespace ? opts->desired.tailscale_namespace
                                                         : "tailscale");
    r->cluster_domain =
        xstrdup(opts->desired.cluster_domain ? opts->desired.cluster_domain : "cluster.local");
    r->helm_values_name = xstrdup(opts->desired.helm_values_name);
    r->token_ns = xstrdup(opts->desired.token_namespace ? opts->desired.token_namespace : r->ts_ns);
    r->dopts.token_namespace = r->token_ns;
    r->policy =
        (struct mc_secret_policy){.token_namespace = r->token_ns, .istio_namespace = r->istio_ns};
    r->dopts.istio_namespace = r->istio_ns;
    r->dopts.tailscale_namespace = r->ts_ns;
    r->dopts.cluster_domain = r->cluster_domain;
    r->dopts.helm_values_name = r->helm_values_name;
    r->allow_replace = opts->allow_gateway_replacement;
    r->force_meshnet = opts->force_mesh_networks;
    r->resync_ms = opts->resync_ms;
    r->log = opts->log;
    r->metrics = opts->metrics;
    r->events = opts->events;
    if (!r->cluster_name || !r->istio_ns || !r->ts_ns || !r->cluster_domain || !r->token_ns ||
        (opts->desired.helm_values_name && !r->helm_values_name))
        goto nomem;
    if (r->metrics && work_metrics_new(r) != 0)
        goto nomem;

    /* Our objects carry our cluster label; those another tool manages (a Helm-installed
     * gateway Service, adopted in place) keep their managed-by label, so it cannot select. */
    /* Owned objects carry a cluster label; what meshctl makes for the user carries one too
     * (the cacerts Secret) and is never ours: cached as owned, every pass "gave back" fields we
     * never had in it, a write each pass. */
    const char *owned = MC_LABEL_CLUSTER "," MC_LABEL_MANAGED_BY "!=meshctl";
    char ns_field[384];
    snprintf(ns_field, sizeof(ns_field), "metadata.name=%s", r->istio_ns);
    int rc = informer_new(r, INF_MC, NULL, NULL, NULL);
    if (!rc)
        rc = informer_new(r, INF_NS, NULL, NULL, ns_field);
    if (!rc)
        rc = informer_new(r, INF_ISTIO_CM, r->istio_ns, NULL, "metadata.name=" MC_ISTIO_CONFIGMAP);
    /* Istio's CA material for TrustVerified: not labelled as ours, so selected by name; the
     * cache must hold no other Secret of the namespace. */
    if (!rc)
        rc = informer_new(r, INF_CACERTS, r->istio_ns, NULL,
                          "metadata.name=" MC_TRUST_CACERTS_SECRET);
    if (!rc)
        rc = informer_new(r, INF_ROOT_CM, r->istio_ns, NULL,
                          "metadata.name=" MC_TRUST_ROOT_CONFIGMAP);
    /* Only opted-in Secrets are cached, never cacerts (the policy keeps the namespaces apart). */
    if (!rc && r->token_ns[0] && strcmp(r->token_ns, r->istio_ns) != 0)
        rc = informer_new(r, INF_TOKEN, r->token_ns, MC_LABEL_REMOTE_TOKEN "=true", NULL);
    if (!rc)
        rc = informer_new(r, INF_SVC_ISTIO, r->istio_ns, owned, NULL);
    if (!rc)
        rc = informer_new(r, INF_SVC_TS, r->ts_ns, owned, NULL);
    if (!rc)
        rc = informer_new(r, INF_SECRET, r->istio_ns, owned, NULL);
    if (!rc)
        rc = informer_new(r, INF_CM, r->istio_ns, owned, NULL);
    if (!rc)
        rc = informer_new(r, INF_GW, r->istio_ns, owned, NULL);
    if (rc) {
        mc_reconciler_free(r);
        return rc;
    }
    rc = parts_new(r, c, opts);
    if (rc) {
        mc_reconciler_free(r);
        return rc;
    }
    k8s_runner_opts ro = {.name = CONTROLLER_NAME,
                          .metrics = r->metrics,
                          .reconcile = reconcile_mesh,
                          .ready = ready_to_reconcile,
                          .data = r};
    if ((rc = k8s_runner_new(&ro, &r->runner)) != 0) {
        mc_reconciler_free(r);
        return rc;
    }
    *out = r;
    return 0;
nomem:
    mc_reconciler_free(r);
    return -ENOMEM;
}

int mc_reconciler_start(mc_reconciler *r)
{
    int rc = k8s_runner_start(r->runner, k8s_client_loop(r->client));
    if (rc)
        return rc;
    r->started = true;
    for (int i = 0; i < INF_COUNT; i++)
        if (r->inf[i] && (rc = k8s_informer_start(r->inf[i])) != 0)
            return rc;
    return r->istiod ? mc_istiod_watch_start(r->istiod) : 0;
}

void mc_reconciler_set_leader(mc_reconciler *r, bool leading)
{
    r->leading = leading;
    /* A follower must not touch cluster DNS; the next pass as leader says what to keep. */
    if (!leading && r->dns)
        mc_dns_sync_want(r->dns, false, NULL, NULL);
    if (leading)
        enqueue_all(r);
}

bool mc_reconciler_synced(const mc_reconciler *r)
{
    for (int i = 0; i < INF_COUNT; i++) {
        /* The token Secrets are waited for (a pass before them would report every token
         * pending, then not: two status writes per restart) unless listing them failed:
         * without RBAC for them every other cluster must still be served, and a remote
         * waiting for its token says why. Disabled auth "secret": no informer. */
        if (i == INF_TOKEN && (!r->inf[i] || r->token_list_err != K8S_OK))
            continue;
        if (!r->inf[i] || !k8s_informer_has_synced(r->inf[i]))
            return false;
    }
    return true;
}

void mc_reconciler_counts(const mc_reconciler *r, unsigned long *passes, unsigned long *idle)
{
    if (passes)
        *passes = r->passes;
    if (idle)
        *idle = r->idle_passes;
}

static void maybe_stopped(mc_reconciler *r)
{
    if (!r->stopping || r->stop_pending > 0 || r->pass)
        return;
    void (*cb)(mc_reconciler *, void *) = r->stop_cb;
    r->stop_cb = NULL;
    if (cb)
        cb(r, r->stop_data);
}

static void on_part_stopped(mc_reconciler *r)
{
    r->stop_pending--;
    maybe_stopped(r);
}

static void on_informer_stopped(k8s_informer *inf, void *data)
{
    (void)inf;
    on_part_stopped(data);
}

static void on_runner_stopped(k8s_runner *rn, void *data)
{
    (void)rn;
    on_part_stopped(data);
}

static void on_istiod_closed(void *data)
{
    mc_reconciler *r = data;
    r->istiod = NULL;
    on_part_stopped(r);
}

static void on_dns_closed(void *data)
{
    mc_reconciler *r = data;
    r->dns = NULL;
    on_part_stopped(r);
}

static void on_prober_closed(void *data)
{
    mc_reconciler *r = data;
    r->prober = NULL;
    on_part_stopped(r);
}

static void release_stop_hold(void *data)
{
    on_part_stopped(data);
}

void mc_reconciler_close(mc_reconciler *r, void (*cb)(mc_reconciler *r, void *data), void *data)
{
    if (r->stopping)
        return;
    r->stopping = true;
    r->stop_cb = cb;
    r->stop_data = data;
    r->stop_pending = 1; /* held until everything below has been asked to stop */
    for (int i = 0; i < INF_COUNT; i++) {
        if (r->inf[i]) {
            r->stop_pending++;
            k8s_informer_close(r->inf[i], on_informer_stopped, r);
        }
    }
    if (r->started) {
        r->stop_pending++;
        k8s_runner_close(r->runner, on_runner_stopped, r);
    }
    if (r->prober) {
        r->stop_pending++;
        mc_prober_close(r->prober, on_prober_closed, r);
    }
    if (r->istiod) {
        r->stop_pending++;
        mc_istiod_watch_close(r->istiod, on_istiod_closed, r);
    }
    if (r->dns) {
        r->stop_pending++;
        mc_dns_sync_close(r->dns, on_dns_closed, r);
    }
    /* The hold is released on a later turn, so cb never runs from inside this call even when
     * every part had already stopped. */
    if (k8s_defer(k8s_client_loop(r->client), release_stop_hold, r) != 0)
        on_part_stopped(r); /* out of memory: release now */
}

void mc_reconciler_free(mc_reconciler *r)
{
    if (!r)
        return;
    for (int i = 0; i < INF_COUNT; i++)
        k8s_informer_free(r->inf[i]);
    k8s_runner_free(r->runner);
    pass_free(r->pass);
    mc_dns_sync_free(r->dns); /* set only when new failed after making it: never used */
    free(r->cluster_name);
    free(r->istio_ns);
    free(r->ts_ns);
    free(r->cluster_domain);
    cache_clear(&r->cache);
    mc__parsed_meshclusters_clear(r);
    mc__accepted_clear(r);
    mc__deletions_clear(r);
    mc__dirty_clear(r);
    free(r->helm_values_name);
    free(r->token_ns);
    free(r->announced);
    free(r);
}
