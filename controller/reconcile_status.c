/* Phase 2 of a pass: each MeshCluster's conditions from the caches and the pass's notes,
 * written only when they change; see reconciler.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/reconcile_status.h"
#include "controller/tailnet.h"

/* The announcement of condition type on cluster, or NULL. */
static struct announced *announced_find(mc_reconciler *r, const char *cluster,
                                        enum mc_cond_type type)
{
    for (size_t i = 0; i < r->nannounced; i++)
        if (r->announced[i].type == type && strcmp(r->announced[i].cluster, cluster) == 0)
            return &r->announced[i];
    return NULL;
}

/* Whether c is a condition a user must act on: not Accepted, or roots that mismatch. */
static bool worth_announcing(const struct mc_cond *c)
{
    if (c->status != MC_CS_FALSE)
        return false;
    return c->type == MC_CT_ACCEPTED ||
           (c->type == MC_CT_TRUST_VERIFIED && c->reason == MC_REASON_OBSERVED &&
            strcmp(c->reason_text, PKI_REASON_ROOT_MISMATCH) == 0);
}

/*
 * A Warning Event when a MeshCluster becomes not Accepted, or its roots mismatch: conditions a
 * user must act on, which `kubectl get events` showed nothing of. Once per transition into the
 * reason: remembered until the condition leaves it (the cached status may lag our own write).
 */
static void announce_transitions(mc_reconciler *r, const char *name, const cJSON *existing,
                                 const struct mc_conditions *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        const struct mc_cond *c = &cs->c[i];
        if (c->type != MC_CT_ACCEPTED && c->type != MC_CT_TRUST_VERIFIED)
            continue;
        struct announced *a = announced_find(r, name, c->type);
        if (!worth_announcing(c)) {
            if (a) /* left the reason: a later return is announced again */
                *a = r->announced[--r->nannounced];
            continue;
        }
        struct mc_condition s = mc_cond_strings(c);
        if (a && strcmp(a->reason, s.reason) == 0)
            continue;
        struct mc_condition_seen seen; /* already so when we started: announced before */
        bool already = mc_status_condition(existing, s.type, &seen) &&
                       strcmp(seen.status, s.status) == 0 && strcmp(seen.reason, s.reason) == 0;
        if (!a) {
            struct announced *grown =
                realloc(r->announced, (r->nannounced + 1) * sizeof(*r->announced));
            if (!grown)
                continue; /* out of memory: no Event rather than a flood */
            r->announced = grown;
            a = &r->announced[r->nannounced++];
            snprintf(a->cluster, sizeof(a->cluster), "%s", name);
            a->type = c->type;
        }
        snprintf(a->reason, sizeof(a->reason), "%s", s.reason);
        if (already)
            continue;
        char text[NOTE_LEN + 64];
        snprintf(text, sizeof(text), "%s=False: %s", s.type, s.message ? s.message : "");
        mc__event(r, name, "Warning", s.reason, text);
    }
}

/* Observes meshNetworks for MeshNetworksReady, shared by every MeshCluster. Returns true when
 * it is only pending: this pass wrote meshNetworks and its watch event has not come back yet. */
static bool meshnet_observe(struct pass *p, struct mc_meshnet_observation *m)
{
    memset(m, 0, sizeof(*m));
    if (p->meshnet_note.reason != MC_REASON_NONE) {
        m->state = MC_MESHNET_TROUBLE;
        m->note = (struct mc_apply_note){p->meshnet_note.reason, p->meshnet_note.text};
        return false;
    }
    /* The meshNetworks ConfigMaps are the local cluster's: look at those two, in the desired
     * state's order, not at every object of the mesh. */
    size_t local = mc__cluster_index(p, p->r->cluster_name);
    long cms[2] = {-1, -1};
    if (local < p->d.nclusters) {
        cms[0] = p->d.clusters[local].objects[MC_ROLE_MESH_NETWORKS];
        cms[1] = p->d.clusters[local].objects[MC_ROLE_HELM_VALUES];
        if (cms[0] > cms[1]) {
            long t = cms[0];
            cms[0] = cms[1];
            cms[1] = t;
        }
    }
    for (int k = 0; k < 2; k++) {
        if (cms[k] < 0)
            continue;
        size_t i = (size_t)cms[k];
        const struct mc_desired_object *o = &p->d.objects[i];
        if (p->memo[i].inf != INF_ISTIO_CM && p->memo[i].inf != INF_CM)
            continue; /* not a ConfigMap */
        const char *rv;
        const cJSON *have = mc__cached_desired(p, i, &rv);
        if (!have && (o->flags & MC_DESIRED_MUST_EXIST)) {
            m->state = MC_MESHNET_CONFIGMAP_MISSING;
            return false;
        }
        /* Phase 1 compared it with this very version: matched says whether our key is there
         * (and when it was not, phase 1 applied it). */
        if (!rv || strcmp(p->memo[i].matched, rv) != 0) {
            m->state = MC_MESHNET_PENDING;
            return true;
        }
    }
    m->state = MC_MESHNET_APPLIED;
    return false;
}

/*
 * Whether the local MeshCluster's status already reports this intermediate as expiring: the
 * Warning went out when that status was written, so a restarted daemon does not repeat it.
 */
static bool warned_before(const cJSON *local, const struct mc_trust_result *res)
{
    const cJSON *st = jpath(local, "status", NULL);
    struct mc_condition_seen cond;
    const char *not_after = jstr(jpath(st, "trust", NULL), "intermediateNotAfter");
    return mc_status_condition(st, MC_COND_TRUST_VERIFIED, &cond) &&
           strcmp(cond.reason, MC_TRUST_EVENT_EXPIRING) == 0 && not_after &&
           strcmp(not_after, res->intermediate_not_after) == 0;
}

#define TRUST_MEMO_MS 60000

/* A cached object's resourceVersion, "" for none (or no object). */
static const char *version_of(const cJSON *obj)
{
    const char *rv = jstr(jpath(obj, "metadata", NULL), "resourceVersion");
    return rv ? rv : "";
}

/* The trust verdict kept from an earlier pass, when it was decided from the same inputs. */
static bool trust_memo_holds(const mc_reconciler *r, const char *cacerts_rv, const char *root_rv)
{
    return r->trust_memo.valid && r->trust_memo.mc_version == r->mc_version &&
           strcmp(r->trust_memo.cacerts_rv, cacerts_rv) == 0 &&
           strcmp(r->trust_memo.root_rv, root_rv) == 0 &&
           mc__now_ms(r) - r->trust_memo.at_ms < TRUST_MEMO_MS;
}

static void trust_memo_keep(mc_reconciler *r, const char *cacerts_rv, const char *root_rv, int rc,
                            const struct mc_trust_result *res)
{
    if (strlen(cacerts_rv) >= MATCHED_RV_LEN || strlen(root_rv) >= MATCHED_RV_LEN)
        return;
    r->trust_memo.valid = true;
    r->trust_memo.mc_version = r->mc_version;
    strcpy(r->trust_memo.cacerts_rv, cacerts_rv);
    strcpy(r->trust_memo.root_rv, root_rv);
    r->trust_memo.at_ms = mc__now_ms(r);
    r->trust_memo.rc = rc;
    r->trust_memo.res = *res;
}

/*
 * Decides TrustVerified for this cluster's Istio from the cached cacerts Secret, the
 * istio-ca-root-cert ConfigMap and every MeshCluster's declared root, and records the
 * IntermediateExpiringSoon Warning once per intermediate (on the local MeshCluster).
 */
static void trust_evaluate(struct pass *p, struct mc_trust_result *res)
{
    mc_reconciler *r = p->r;
    const cJSON *cacerts = mc__cached(r, INF_CACERTS, r->istio_ns, MC_TRUST_CACERTS_SECRET);
    const cJSON *root = mc__cached(r, INF_ROOT_CM, r->istio_ns, MC_TRUST_ROOT_CONFIGMAP);
    const char *cacerts_rv = version_of(cacerts), *root_rv = version_of(root);
    if (trust_memo_holds(r, cacerts_rv, root_rv)) {
        *res = r->trust_memo.res;
        if (r->trust_memo.rc != 0)
            p->errors++;
    } else {
        int err = mc__parsed_meshclusters(r);
        struct mc_trust_input in = {
            .cacerts_secret = cacerts,
            .root_configmap = root,
            .clusters = r->parsed_mcs,
            .nclusters = r->nparsed_mcs,
            .now = time(NULL),
        };
        if (err) {
            memset(res, 0, sizeof(*res));
            res->status = "Unknown";
            res->reason = "OutOfMemory";
            snprintf(res->message, sizeof(res->message), "the MeshClusters could not be read");
            p->errors++;
        } else {
            int rc = mc_trust_evaluate(&in, res);
            if (rc != 0)
                p->errors++; /* *res holds a False condition saying why */
            trust_memo_keep(r, cacerts_rv, root_rv, rc, res);
        }
    }
    const cJSON *local = mc__meshcluster(r, r->cluster_name);
    if (res->warn && strcmp(r->trust_warned, res->intermediate_not_after) != 0 && local &&
        !warned_before(local, res)) {
        mc__event(r, r->cluster_name, "Warning", MC_TRUST_EVENT_EXPIRING, res->event_message);
        snprintf(r->trust_warned, sizeof(r->trust_warned), "%s", res->intermediate_not_after);
    }
}

/* Whether .status.trust already is want (mc_status_equal leaves it alone); an empty want is
 * not written, so it matches an absent or empty field. */
static bool trust_equal(const cJSON *existing_status, const cJSON *want)
{
    const cJSON *have = jpath(existing_status, "trust", NULL);
    if (!want->child)
        return !have || !have->child;
    return have && cJSON_Compare(have, want, true);
}

static bool proxy_ready(const cJSON *svc, const char **why)
{
    const cJSON *c = mc_status_find_condition(jpath(svc, "status", NULL), "TailscaleProxyReady");
    const char *st = jstr(c, "status");
    if (st && strcmp(st, "True") == 0)
        return true;
    *why = jstr(c, "message") ? jstr(c, "message") : "the Tailscale operator has not reported yet";
    return false;
}

static void fp_str(uint64_t *h, const char *s)
{
    /* FNV-1a; each string ends with a byte no string holds, NULL is a different one. */
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++)
        *h = (*h ^ *c) * 1099511628211u;
    *h = (*h ^ (s ? 0xffu : 0xfeu)) * 1099511628211u;
}

/* A hash of the inputs every cluster's status shares this pass (a kilobyte of trust message
 * among them): taken once, not once per cluster. */
static uint64_t shared_fingerprint(const struct mc_meshnet_observation *meshnet,
                                   const struct mc_trust_result *trust)
{
    struct mc_cond m = mc_conditions_meshnet(meshnet);
    struct mc_condition ms = mc_cond_strings(&m);
    uint64_t h = 14695981039346656037u;
    fp_str(&h, ms.status);
    fp_str(&h, ms.reason);
    fp_str(&h, ms.message);
    fp_str(&h, trust->status);
    fp_str(&h, trust->reason);
    fp_str(&h, trust->message);
    fp_str(&h, trust->root_fingerprint);
    fp_str(&h, trust->intermediate_not_after);
    return h;
}

/* A hash of every input of one cluster's status (never 0, which means "none yet"): the
 * resourceVersions of its MeshCluster and of its four objects, its verdict and notes, and
 * the shared inputs. */
static uint64_t status_fingerprint(const struct mc_cluster_result *cr, const struct note *n,
                                   const char *token_why, const char *const rvs[5], uint64_t shared)
{
    uint64_t h = 14695981039346656037u;
    for (int i = 0; i < 5; i++)
        fp_str(&h, rvs[i]);
    for (int i = 0; i < 8; i++)
        h = (h ^ ((shared >> (8 * i)) & 0xffu)) * 1099511628211u;
    fp_str(&h, cr->accepted ? "accepted" : "rejected");
    fp_str(&h, cr->why.field);
    fp_str(&h, cr->why.reason);
    fp_str(&h, cr->why.message);
    fp_str(&h, cr->remote_secret_pending ? "pending" : "");
    fp_str(&h, token_why);
    fp_str(&h, n->egress.text);
    fp_str(&h, n->secret.text);
    fp_str(&h, n->gateway.text);
    return h ? h : 1;
}

/* The cached objects one MeshCluster's status is decided from, and their versions (rvs[0]
 * the MeshCluster's; NULL for what is not cached). */
struct status_view {
    const cJSON *mc;
    const char *rvs[5];
    const cJSON *egress_ts, *egress_istio, *secret, *gateway;
};

/* The cached copy of cr's desired object of that role (none: NULL), and its version. */
static const cJSON *cached_role(const struct pass *p, const struct mc_cluster_result *cr,
                                enum mc_desired_role role, const char **rv)
{
    long idx = cr->objects[role];
    return idx >= 0 ? mc__cached_desired(p, (size_t)idx, rv) : NULL;
}

/* Reads the view from the caches; false when the MeshCluster is gone or going. */
static bool status_view_read(const struct pass *p, const struct mc_cluster_result *cr, bool local,
                             struct status_view *v)
{
    memset(v, 0, sizeof(*v));
    v->mc = mc__cached_key(p->r, INF_MC, cr->name, &v->rvs[0]);
    if (!v->mc || terminating(v->mc))
        return false;
    if (!cr->accepted)
        return true; /* nothing was made for it */
    if (local) {
        v->gateway = cached_role(p, cr, MC_ROLE_GATEWAY_SERVICE, &v->rvs[4]);
        return true;
    }
    v->egress_ts = cached_role(p, cr, MC_ROLE_EGRESS_API, &v->rvs[1]);
    v->egress_istio = cached_role(p, cr, MC_ROLE_EGRESS_GATEWAY, &v->rvs[2]);
    v->secret = cached_role(p, cr, MC_ROLE_REMOTE_SECRET, &v->rvs[3]);
    v->gateway = cached_role(p, cr, MC_ROLE_GATEWAY_ALIAS, &v->rvs[4]);
    return true;
}

static struct mc_apply_note apply_note(const struct note_slot *s)
{
    return (struct mc_apply_note){s->reason, s->text};
}

/* The gateway's address into buf (len bytes): the local load balancer's published one (NULL:
 * not yet), or a remote gateway's in-cluster alias. */
static const char *gateway_address(const mc_reconciler *r, const cJSON *gw, bool local, char *buf,
                                   size_t len)
{
    if (local) {
        const cJSON *ing = jpath(jpath(gw, "status", "loadBalancer"), "ingress", NULL);
        const cJSON *first = cJSON_GetArrayItem(ing, 0);
        const char *addr = jstr(first, "hostname") ? jstr(first, "hostname") : jstr(first, "ip");
        if (!addr)
            return NULL;
        snprintf(buf, len, "%s", addr);
        return buf;
    }
    snprintf(buf, len, "%s.%s.svc.%s", jstr(jpath(gw, "metadata", NULL), "name"), r->istio_ns,
             r->cluster_domain);
    return buf;
}

/* Why the local gateway's published address is not on the local MeshCluster's tailnet, into
 * buf; NULL when it is (or the MeshCluster is not known). */
static const char *tailnet_mismatch(const mc_reconciler *r, const cJSON *gw, char *buf, size_t len)
{
    const cJSON *ing = jpath(jpath(gw, "status", "loadBalancer"), "ingress", NULL);
    const char *host = NULL, *ip = NULL;
    for (const cJSON *e = cJSON_IsArray(ing) ? ing->child : NULL; e; e = e->next) {
        host = host ? host : jstr(e, "hostname");
        ip = ip ? ip : jstr(e, "ip");
    }
    const struct mc_meshcluster *self = mc__parsed(r, r->cluster_name);
    if (!self || mc_tailnet_address_matches(host, ip, self->tailnet, buf, len))
        return NULL;
    return buf;
}

/* Everything the conditions of cluster ci depend on, from the view and the pass (the I/O
 * half of "observations -> conditions"). */
static void status_observe(const struct pass *p, size_t ci, const struct status_view *v,
                           const struct token_problem *tp, char *alias, size_t alias_len,
                           char *mismatch, size_t mismatch_len, struct mc_observation *o)
{
    static const struct note no_note;
    const struct mc_cluster_result *cr = &p->d.clusters[ci];
    const struct note *n = p->notes[ci] ? p->notes[ci] : &no_note;
    memset(o, 0, sizeof(*o));
    o->local = strcmp(cr->name, p->r->cluster_name) == 0;
    o->accepted = cr->accepted;
    o->why = &cr->why;
    o->egress_note = apply_note(&n->egress);
    o->secret_note = apply_note(&n->secret);
    o->gateway_note = apply_note(&n->gateway);
    o->egress_services = v->egress_ts && v->egress_istio;
    const char *why = NULL;
    if (o->egress_services &&
        (!proxy_ready(v->egress_ts, &why) || !proxy_ready(v->egress_istio, &why)))
        o->proxy_not_ready = why;
    o->token_pending = cr->remote_secret_pending;
    o->token_why = tp ? &tp->why : NULL;
    o->remote_secret = v->secret != NULL;
    o->gateway_service = v->gateway != NULL;
    if (v->gateway)
        o->gateway_address = gateway_address(p->r, v->gateway, o->local, alias, alias_len);
    o->meshnet = p->meshnet;
    o->trust_status = p->trust.status;
    o->trust_reason = p->trust.reason;
    o->trust_message = p->trust.message;
    /* Part of "Ready means working", on with the probes: without them the daemon keeps
     * reporting what exists, as before. */
    if (o->local && p->r->prober && o->gateway_address && v->gateway)
        o->tailnet_mismatch = tailnet_mismatch(p->r, v->gateway, mismatch, mismatch_len);
    if (!o->local && cr->accepted && p->r->prober) {
        o->probe_api = mc_prober_state(p->r->prober, cr->name, MC_PROBE_API);
        o->probe_gateway = mc_prober_state(p->r->prober, cr->name, MC_PROBE_GATEWAY);
        /* Not a target yet (its token is still pending): nothing probed, nothing known. */
        static const struct mc_probe_state not_yet = {.status = MC_PROBE_UNKNOWN};
        if (!o->probe_api)
            o->probe_api = o->probe_gateway = &not_yet;
    }
    if (!o->local && cr->accepted && p->r->istiod) {
        o->istiod_watched = true;
        o->istiod = mc__istiod_verdict(p->r, cr->name, v->secret);
        o->istiod_error = mc_istiod_watch_error(p->r->istiod);
    }
    /* The desired state has a zone only for an accepted local cluster with dns: managed. */
    if (o->local && cr->accepted && p->d.dns.zone && p->r->dns) {
        o->dns_managed = true;
        o->dns = mc_dns_sync_state(p->r->dns, &o->dns_detail);
    }
}

/* A hash of cluster DNS's outcome for the local cluster's status fingerprint (0: not managed). */
static uint64_t dns_fingerprint(const struct pass *p, bool local)
{
    if (!local || !p->d.dns.zone || !p->r->dns)
        return 0;
    const char *detail;
    char state[16];
    snprintf(state, sizeof(state), "%d", (int)mc_dns_sync_state(p->r->dns, &detail));
    uint64_t h = 14695981039346656037u;
    fp_str(&h, state);
    fp_str(&h, detail);
    return h;
}

/* The status object the decided conditions make, .status.trust included; NULL when out of
 * memory. *same says whether the MeshCluster already carries it (no write needed). */
static cJSON *status_build(struct pass *p, const struct mc_cluster_result *cr,
                           const struct status_view *v, const struct mc_conditions *cs, bool local,
                           bool *same)
{
    struct mc_condition conds[MC_CT_COUNT];
    for (size_t i = 0; i < cs->n; i++)
        conds[i] = mc_cond_strings(&cs->c[i]);
    long long gen = 0;
    mc_json_integer(jpath(v->mc, "metadata", "generation"), 0, MC_JSON_INTEGER_MAX, &gen);
    struct mc_status_input in = {
        .observed_generation = gen,
        .role = local ? "local" : "remote",
        .gateway_address = cs->gateway_address,
        .conditions = conds,
        .nconditions = cs->n,
    };
    char now[32];
    mc_status_now(now, sizeof(now));
    const cJSON *existing = jpath(v->mc, "status", NULL);
    cJSON *st = mc_status_build(existing, &in, now);
    cJSON *tr = mc_trust_status_json(&p->trust);
    if (!st || !tr) {
        cJSON_Delete(st);
        cJSON_Delete(tr);
        return NULL;
    }
    announce_transitions(p->r, cr->name, existing, cs);
    bool same_trust = trust_equal(existing, tr);
    if (tr->child)
        cJSON_AddItemToObject(st, "trust", tr);
    else
        cJSON_Delete(tr);
    *same = same_trust && mc_status_equal(existing, st);
    return st;
}

/* Sends st (taken) as cluster's status with server-side apply; rv is the cached MeshCluster's
 * version, remembered so the write's own watch event is waited for. */
static void status_send(struct pass *p, const struct mc_cluster_result *cr, struct status_memo *sm,
                        const char *rv, cJSON *st)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "apiVersion", MC_API_VERSION);
    cJSON_AddStringToObject(body, "kind", MC_KIND);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "metadata"), "name", cr->name);
    cJSON_AddItemToObject(body, "status", st);
    struct op *op = mc__op_new(p, body, MC_KIND, -1);
    if (!op) {
        p->errors++;
        cJSON_Delete(body);
        return;
    }
    snprintf(op->cluster, sizeof(op->cluster), "%s", cr->name);
    if (rv && strlen(rv) < MATCHED_RV_LEN) {
        strcpy(sm->written_over, rv);
        sm->written_pass = p->r->passes;
    }
    p->pending++;
    mc__op_apply(op, body, true, "status");
    cJSON_Delete(body);
}

/*
 * Whether to hold back a status that differs from the written one: while it is not settled
 * (mc_conditions_settled), for up to STATUS_SETTLE_MS since it was first held. A MeshCluster
 * coming up then gets one write, Ready, instead of "Pending" and "Ready" a moment apart, and
 * an object deleted and repaired within the hold never shows as a passing False. Settled
 * statuses are never held: Ready is not delayed, nor a failure someone must act on.
 */
static bool status_hold(struct pass *p, struct status_memo *sm, const struct mc_conditions *cs)
{
    if (mc_conditions_settled(cs)) {
        sm->unsettled_since = 0;
        return false;
    }
    uint64_t now = mc__now_ms(p->r);
    if (!sm->unsettled_since)
        sm->unsettled_since = now ? now : 1;
    uint64_t held = now - sm->unsettled_since;
    if (held >= STATUS_SETTLE_MS) {
        sm->unsettled_since = 0; /* written now; a later unsettled change is held afresh */
        return false;
    }
    uint64_t due = STATUS_SETTLE_MS - held;
    if (!p->status_recheck_ms || due < p->status_recheck_ms)
        p->status_recheck_ms = due;
    return true;
}

/* Phase 2: one MeshCluster's status: observe, decide (pure), write when it changed. */
static void reconcile_status(struct pass *p, size_t ci)
{
    mc_reconciler *r = p->r;
    const struct mc_cluster_result *cr = &p->d.clusters[ci];
    bool local = strcmp(cr->name, r->cluster_name) == 0;
    struct status_view v;
    if (!status_view_read(p, cr, local, &v))
        return;
    /* The same inputs build the same status: skip the build while none moved since it last
     * needed no write (a pass after one repair rebuilds one status, not the whole mesh's). */
    static const struct note no_note;
    struct status_memo *sm = &p->status_fp[ci];
    const struct token_problem *tp =
        cr->remote_secret_pending ? mc__token_problem(p, cr->name) : NULL;
    uint64_t fp = status_fingerprint(
        cr, p->notes[ci] ? p->notes[ci] : &no_note, tp ? tp->why.message : "", v.rvs,
        p->status_shared_fp ^ mc__probe_fingerprint(r, cr->name, v.secret) ^
            dns_fingerprint(p, local));
    if (sm->fp == fp) {
        sm->unsettled_since = 0; /* back to a status that needed no write: nothing is held */
        return;
    }
    if (sm->written_over[0] && strcmp(v.rvs[0] ? v.rvs[0] : "", sm->written_over) == 0 &&
        r->passes - sm->written_pass <= OWN_WRITE_WAIT_PASSES)
        return; /* our last status write has not come back yet */
    sm->written_over[0] = '\0';

    char alias[256], mismatch[MC_CONDITION_NOTE];
    struct mc_observation o;
    status_observe(p, ci, &v, tp, alias, sizeof(alias), mismatch, sizeof(mismatch), &o);
    struct mc_conditions cs;
    mc_conditions_decide(&o, &cs);
    bool same = false;
    cJSON *st = status_build(p, cr, &v, &cs, local, &same);
    if (!st) {
        p->errors++;
    } else if (same) {
        cJSON_Delete(st);
        sm->fp = fp;
        sm->unsettled_since = 0;
    } else if (status_hold(p, sm, &cs)) {
        cJSON_Delete(st); /* built for Events and the comparison; rebuilt when due */
    } else {
        status_send(p, cr, sm, v.rvs[0], st);
    }
}

/* Passes in a row that may hold back status writes while meshNetworks is only pending. */
#define MESHNET_PENDING_HOLD 3

void mc__pass_status(struct pass *p)
{
    /*
     * One MeshCluster's network or port edit rewrites meshNetworks, which every MeshCluster's
     * MeshNetworksReady reflects. Reporting "Pending" in the pass that wrote it would flip every
     * MeshCluster in the fleet to Ready=False and back a moment later (two status writes each,
     * and an alert for each): the previous meshNetworks is still in place, nothing is down. So
     * while meshNetworks is only pending, this pass writes no status at all; the ConfigMap's
     * watch event brings the next pass, which finds it applied. A write that never shows up is
     * reported after MESHNET_PENDING_HOLD passes.
     */
    bool pending = meshnet_observe(p, &p->meshnet);
    p->r->meshnet_pending_passes = pending ? p->r->meshnet_pending_passes + 1 : 0;
    trust_evaluate(p, &p->trust);
    p->status_shared_fp = shared_fingerprint(&p->meshnet, &p->trust);
    p->next_status = 0;
    if (pending && p->r->meshnet_pending_passes <= MESHNET_PENDING_HOLD) {
        p->next_status =
            mc__statuses_to_visit(p); /* hold every status until meshNetworks is back */
        return;
    }
    p->status_visited = true;
    /* A narrow pass has the notes of the clusters it visits only: when what every status
     * shares moved, those are written now and a full pass follows for the rest. */
    if (p->narrow && (!p->r->last_shared_valid || p->r->last_shared_fp != p->status_shared_fp))
        p->shared_moved = true;
}

bool mc__pass_status_issue(struct pass *p)
{
    size_t n = mc__statuses_to_visit(p);
    while (p->next_status < n && p->pending < PASS_WINDOW)
        reconcile_status(p, mc__status_at(p, p->next_status++));
    return p->next_status >= n;
}
