/* The reconciler's state as every part reads it: the API kinds, the informers' caches, the
 * parsed MeshClusters, Events, metrics and the pass's notes; see reconcile_pass.h. */
#include "controller/reconcile_pass.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct kind_info kinds[] = {
    {"Namespace", "", "v1", "namespaces"},
    {"Service", "", "v1", "services"},
    {"Secret", "", "v1", "secrets"},
    {"ConfigMap", "", "v1", "configmaps"},
    {"Gateway", "networking.istio.io", "v1beta1", "gateways"},
    {"MeshCluster", MC_API_GROUP, "v1alpha1", "meshclusters"},
};

const char *const mc__inf_kind[INF_COUNT] = {
    "MeshCluster", "Namespace", "ConfigMap", "Secret",    "ConfigMap", "Secret",
    "Service",     "Service",   "Secret",    "ConfigMap", "Gateway",
};

/* Identity of a cached object: its kind (not its cache: a ConfigMap of ours named like the
 * istio one is still the istio one) and its cache key. */
static int cmp_memo(const void *a, const void *b)
{
    const struct desired_memo *x = *(const struct desired_memo *const *)a;
    const struct desired_memo *y = *(const struct desired_memo *const *)b;
    int r = strcmp(mc__inf_kind[x->inf], mc__inf_kind[y->inf]);
    return r ? r : strcmp(x->store_key, y->store_key);
}

const struct desired_memo *mc__memo_find(const struct desired_memo *const *by_key, size_t n,
                                         int inf, const char *key)
{
    struct desired_memo probe = {.inf = inf, .store_key = key};
    const struct desired_memo *k = &probe;
    const struct desired_memo *const *hit = bsearch(&k, by_key, n, sizeof(*by_key), cmp_memo);
    return hit ? *hit : NULL;
}

void mc__memo_sort(const struct desired_memo **by_key, size_t n)
{
    qsort(by_key, n, sizeof(*by_key), cmp_memo);
}

const struct kind_info *mc__kind_lookup(const char *kind)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (kind && strcmp(kinds[i].kind, kind) == 0)
            return &kinds[i];
    return NULL;
}

uint64_t mc__now_ms(const mc_reconciler *r)
{
    return uv_now(k8s_client_loop(r->client));
}

static void store_key(char *buf, size_t len, const char *ns, const char *name)
{
    if (ns && ns[0])
        snprintf(buf, len, "%s/%s", ns, name);
    else
        snprintf(buf, len, "%s", name);
}

const cJSON *mc__cached(const mc_reconciler *r, int inf, const char *ns, const char *name)
{
    char key[400];
    store_key(key, sizeof(key), ns, name);
    return mc__cached_key(r, inf, key, NULL);
}

const cJSON *mc__cached_key(const mc_reconciler *r, int inf, const char *key, const char **rv)
{
    const char *ignored;
    if (!rv)
        rv = &ignored;
    *rv = NULL;
    if (inf < 0 || !r->inf[inf])
        return NULL;
    return k8s_store_get_rv(k8s_informer_store(r->inf[inf]), key, rv);
}

const cJSON *mc__cached_desired(const struct pass *p, size_t idx, const char **rv)
{
    return mc__cached_key(p->r, p->memo[idx].inf, p->memo[idx].store_key, rv);
}

cJSON *mc__desired_body(const struct pass *p, size_t idx)
{
    if (p->r->m_bodies)
        k8s_metric_inc(p->r->m_bodies, NULL);
    return mc_desired_body(&p->d, idx);
}

const cJSON *mc__meshcluster(const mc_reconciler *r, const char *name)
{
    return name ? mc__cached(r, INF_MC, NULL, name) : NULL;
}

void mc__event(mc_reconciler *r, const char *cluster, const char *type, const char *reason,
               const char *message)
{
    const cJSON *mc = mc__meshcluster(r, cluster);
    if (r->events && mc && r->leading)
        k8s_event_record(r->events, mc, type, reason, message);
}

void mc__metric_inc(mc_reconciler *r, const char *family, const char *const *values)
{
    k8s_metric *f = r->metrics ? k8s_metrics_find(r->metrics, family) : NULL;
    if (f)
        k8s_metric_inc(f, values);
}

size_t mc__cluster_index(const struct pass *p, const char *cluster)
{
    return mc_desired_cluster_index(&p->d, cluster);
}

struct note *mc__note_for(struct pass *p, const char *cluster)
{
    size_t i = mc__cluster_index(p, cluster);
    if (i >= p->d.nclusters)
        return NULL;
    if (!p->notes[i])
        p->notes[i] = calloc(1, sizeof(*p->notes[i]));
    return p->notes[i];
}

void mc__memo_free(struct desired_memo *memo, size_t n)
{
    for (size_t i = 0; memo && i < n; i++)
        free(memo[i].conflict);
    free(memo);
}

const struct token_problem *mc__token_problem(const struct pass *p, const char *cluster)
{
    for (size_t i = 0; i < p->ntoken_problems; i++)
        if (strcmp(p->token_problems[i].cluster, cluster) == 0)
            return &p->token_problems[i];
    return NULL;
}

struct parse_collect {
    struct mc_meshcluster *mcs;
    size_t n, cap;
    int err;
};

static int collect_parsed(void *data, const char *key, const cJSON *obj)
{
    (void)key;
    struct parse_collect *t = data;
    if (terminating(obj) || t->err)
        return 0;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        struct mc_meshcluster *m = realloc(t->mcs, cap * sizeof(*m));
        if (!m) {
            t->err = -ENOMEM;
            return 0;
        }
        t->mcs = m;
        t->cap = cap;
    }
    struct mc_meshcluster *mc = &t->mcs[t->n];
    memset(mc, 0, sizeof(*mc));
    /* A malformed MeshCluster declares no root; its Accepted condition says why. */
    int rc = mc_meshcluster_parse(obj, mc, NULL);
    if (rc == 0)
        t->n++;
    else if (rc == -ENOMEM)
        t->err = rc;
    return 0;
}

/* Parsing every MeshCluster for each pass was a fifth of a repair's CPU at 1,000 clusters;
 * what is read of them changes only with mc_version. */
int mc__parsed_meshclusters(mc_reconciler *r)
{
    if (r->parsed_mcs_valid && r->parsed_mcs_version == r->mc_version)
        return 0;
    mc__parsed_meshclusters_clear(r);
    struct parse_collect t = {0};
    k8s_store_foreach(k8s_informer_store(r->inf[INF_MC]), collect_parsed, &t);
    r->parsed_mcs = t.mcs;
    r->nparsed_mcs = t.n;
    if (t.err) {
        mc__parsed_meshclusters_clear(r);
        return t.err;
    }
    r->parsed_mcs_valid = true;
    r->parsed_mcs_version = r->mc_version;
    return 0;
}

void mc__parsed_meshclusters_clear(mc_reconciler *r)
{
    for (size_t i = 0; i < r->nparsed_mcs; i++)
        mc_meshcluster_clear(&r->parsed_mcs[i]);
    free(r->parsed_mcs);
    r->parsed_mcs = NULL;
    r->nparsed_mcs = 0;
    r->parsed_mcs_valid = false;
}

const struct mc_meshcluster *mc__parsed(const mc_reconciler *r, const char *name)
{
    for (size_t i = 0; i < r->nparsed_mcs; i++)
        if (strcmp(r->parsed_mcs[i].name, name) == 0)
            return &r->parsed_mcs[i];
    return NULL;
}

static const char *mc_uid(const mc_reconciler *r, const char *name)
{
    return jstr(jpath(mc__meshcluster(r, name), "metadata", NULL), "uid");
}

static int accepted_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct accepted_uid *)elem)->name);
}

static const char *accepted_uid(const mc_reconciler *r, const char *name)
{
    const struct accepted_uid *a =
        r->naccepted ? bsearch(name, r->accepted, r->naccepted, sizeof(*a), accepted_cmp) : NULL;
    return a ? a->uid : NULL;
}

static void accepted_free(struct accepted_uid *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].name);
        free(a[i].uid);
    }
    free(a);
}

/* Appends (name, uid, gone_since) to next; false when out of memory (next[*n] is filled
 * anyway, for accepted_free). */
static bool accepted_push(struct accepted_uid *next, size_t *n, const char *name, const char *uid,
                          uint64_t gone_since)
{
    struct accepted_uid *a = &next[(*n)++];
    a->name = strdup(name);
    a->uid = strdup(uid);
    a->gone_since = gone_since;
    return a->name && a->uid;
}

int mc__accepted_remember(mc_reconciler *r, const struct mc_desired *d)
{
    size_t cap = d->nclusters + r->naccepted;
    struct accepted_uid *next = calloc(cap ? cap : 1, sizeof(*next));
    if (!next)
        return -ENOMEM;
    uint64_t now = mc__now_ms(r);
    size_t n = 0, k = 0; /* k: the remembered names (sorted) not yet passed */
    bool ok = true;
    for (size_t i = 0; ok && i <= d->nclusters; i++) { /* sorted by name: so is next */
        const char *name = i < d->nclusters ? d->clusters[i].name : NULL;
        /* Remembered names before this one are gone: kept a while (ACCEPTED_GONE_KEEP_MS). */
        for (; ok && k < r->naccepted && (!name || strcmp(r->accepted[k].name, name) < 0); k++) {
            const struct accepted_uid *a = &r->accepted[k];
            uint64_t since = a->gone_since ? a->gone_since : (now ? now : 1);
            if (now - since < ACCEPTED_GONE_KEEP_MS)
                ok = accepted_push(next, &n, a->name, a->uid, since);
        }
        if (!name)
            break;
        if (k < r->naccepted && strcmp(r->accepted[k].name, name) == 0)
            k++; /* present: what to remember of it is decided below */
        if (n && strcmp(next[n - 1].name, name) == 0)
            continue; /* a duplicate name */
        const struct mc_cluster_result *cr = &d->clusters[i];
        const char *uid = cr->accepted ? mc_uid(r, name) : accepted_uid(r, name);
        if (uid && *uid)
            ok = accepted_push(next, &n, name, uid, 0);
    }
    if (!ok) {
        accepted_free(next, n);
        return -ENOMEM;
    }
    accepted_free(r->accepted, r->naccepted);
    r->accepted = next;
    r->naccepted = n;
    return 0;
}

void mc__accepted_clear(mc_reconciler *r)
{
    accepted_free(r->accepted, r->naccepted);
    r->accepted = NULL;
    r->naccepted = 0;
}

bool mc__left_by_deleted(const mc_reconciler *r, const char *name)
{
    const char *was = accepted_uid(r, name), *is = mc_uid(r, name);
    return was && is && strcmp(was, is) != 0;
}

void mc__status_write_failed(struct pass *p, const char *cluster)
{
    for (size_t ci = 0; ci < p->d.nclusters; ci++)
        if (strcmp(p->d.clusters[ci].name, cluster) == 0)
            p->status_fp[ci].written_over[0] = '\0';
}

bool mc__deletion_sent(const mc_reconciler *r, int inf, const char *key, const char *uid)
{
    for (size_t i = 0; uid && i < r->ndeleted; i++)
        if (r->deleted[i].inf == inf && strcmp(r->deleted[i].uid, uid) == 0 &&
            strcmp(r->deleted[i].key, key) == 0)
            return true;
    return false;
}

void mc__deletion_remember(mc_reconciler *r, int inf, const char *ns, const char *name,
                           const char *uid)
{
    char key[512];
    if (inf < 0 || !uid || !*uid || strlen(uid) >= MC_UID_LEN)
        return;
    store_key(key, sizeof(key), ns, name);
    if (mc__deletion_sent(r, inf, key, uid))
        return;
    struct deletion_sent *grown = realloc(r->deleted, (r->ndeleted + 1) * sizeof(*grown));
    if (!grown)
        return; /* out of memory: at worst the next pass deletes it again */
    r->deleted = grown;
    struct deletion_sent *d = &r->deleted[r->ndeleted];
    d->key = strdup(key);
    if (!d->key)
        return;
    d->inf = inf;
    strcpy(d->uid, uid);
    r->ndeleted++;
}

void mc__deletions_prune(mc_reconciler *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->ndeleted; i++) {
        struct deletion_sent *d = &r->deleted[i];
        const cJSON *o = mc__cached_key(r, d->inf, d->key, NULL);
        const char *uid = jstr(jpath(o, "metadata", NULL), "uid");
        if (uid && strcmp(uid, d->uid) == 0)
            r->deleted[n++] = *d; /* still shown: its watch event is on its way */
        else
            free(d->key);
    }
    r->ndeleted = n;
}

void mc__deletions_clear(mc_reconciler *r)
{
    for (size_t i = 0; i < r->ndeleted; i++)
        free(r->deleted[i].key);
    free(r->deleted);
    r->deleted = NULL;
    r->ndeleted = 0;
}
