/*
 * Fuzzes MeshCluster input end to end: bytes -> YAML/JSON documents -> parse, validate and
 * compute the desired state for the first cluster's name. Must never crash or leak, and
 * must be deterministic (two runs give the same objects); the compact state the daemon keeps
 * must give back every body the tree form holds. Each document's status, reduced as the
 * informer caches it (mc_status_compact), must read and compare as the original does.
 * Documents nested in strings are read too (issue 18.2): each remote secret's kubeconfig
 * parses to exactly the cluster's server URL, name and token, and the meshNetworks YAML to
 * exactly the network map, whatever the input strings hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "controller/desired.h"
#include "controller/status.h"
#include "k8s/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const cJSON *at(const cJSON *o, const char *a, const char *b)
{
    o = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(o, b) : o;
}

static bool is_str(const cJSON *v, const char *want)
{
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

/* The kubeconfig under data[name] of a remote secret, parsed; aborts if it does not parse. */
static cJSON *kubeconfig_of(const cJSON *secret, const char *name)
{
    const cJSON *v = at(secret, "data", name);
    if (!cJSON_IsString(v))
        abort();
    size_t n = strlen(v->valuestring);
    unsigned char *raw = malloc(n + 1);
    int len = raw ? EVP_DecodeBlock(raw, (const unsigned char *)v->valuestring, (int)n) : -1;
    if (len < 0)
        abort();
    while (n > 0 && v->valuestring[--n] == '=')
        len--;
    cJSON *kc = k8s_yaml_parse_one((const char *)raw, (size_t)len, NULL, 0);
    free(raw);
    if (!kc)
        abort();
    return kc;
}

/* The remote secret of accepted remote mc holds its server URL and a one-key user, and the
 * kubeconfig has no key but the six it is built with. */
static void check_kubeconfig(const struct mc_desired *d, const struct mc_meshcluster *mc)
{
    for (size_t i = 0; i < d->nobjects; i++) {
        const cJSON *o = d->objects[i].object;
        const char *want = "istio-remote-secret-";
        const cJSON *name = at(o, "metadata", "name");
        if (!is_str(at(o, "kind", NULL), "Secret") || !cJSON_IsString(name) ||
            strncmp(name->valuestring, want, strlen(want)) != 0 ||
            strcmp(name->valuestring + strlen(want), mc->name) != 0)
            continue;
        cJSON *kc = kubeconfig_of(o, mc->name);
        char *url = mc_meshcluster_api_server_url(mc);
        const cJSON *cl = cJSON_GetArrayItem(at(kc, "clusters", NULL), 0);
        const cJSON *user = at(cJSON_GetArrayItem(at(kc, "users", NULL), 0), "user", NULL);
        if (!url || cJSON_GetArraySize(kc) != 6 || !is_str(at(cl, "cluster", "server"), url) ||
            cJSON_GetArraySize(at(cl, "cluster", NULL)) != 1 ||
            !is_str(at(cl, "name", NULL), mc->name) || cJSON_GetArraySize(user) != 1 ||
            !cJSON_IsString(at(user, "token", NULL)))
            abort();
        free(url);
        cJSON_Delete(kc);
    }
}

/* The istio ConfigMap's meshNetworks text reads back as exactly {networks: the map}. */
static void check_mesh_networks(const struct mc_desired *d)
{
    for (size_t i = 0; i < d->nobjects; i++) {
        const cJSON *o = d->objects[i].object;
        const cJSON *text = at(o, "data", MC_MESH_NETWORKS_KEY);
        if (!is_str(at(o, "kind", NULL), "ConfigMap") || !cJSON_IsString(text))
            continue;
        cJSON *doc = k8s_yaml_parse_one(text->valuestring, strlen(text->valuestring), NULL, 0);
        if (!doc || cJSON_GetArraySize(doc) != 1 ||
            !cJSON_Compare(at(doc, "networks", NULL), d->mesh_networks, 1))
            abort();
        cJSON_Delete(doc);
    }
}

/* The Helm values read back with meshConfig.localityLbSetting exactly the state's (or none),
 * and its pairs are ones istiod accepts: one per from region, from != to. */
static void check_locality(const struct mc_desired *d)
{
    for (size_t i = 0; i < d->nobjects; i++) {
        const cJSON *text = at(d->objects[i].object, "data", MC_HELM_VALUES_KEY);
        if (d->objects[i].role != MC_ROLE_HELM_VALUES || !cJSON_IsString(text))
            continue;
        cJSON *doc = k8s_yaml_parse_one(text->valuestring, strlen(text->valuestring), NULL, 0);
        const cJSON *lb = at(at(doc, "meshConfig", NULL), "localityLbSetting", NULL);
        if (!doc || ((lb || d->locality_lb) && !cJSON_Compare(lb, d->locality_lb, 1)))
            abort();
        const cJSON *p, *q;
        cJSON_ArrayForEach(p, at(lb, "failover", NULL))
        {
            if (cJSON_Compare(at(p, "from", NULL), at(p, "to", NULL), 1))
                abort();
            cJSON_ArrayForEach(q, at(lb, "failover", NULL))
            {
                if (q != p && cJSON_Compare(at(p, "from", NULL), at(q, "from", NULL), 1))
                    abort();
            }
        }
        cJSON_Delete(doc);
    }
}

/* How many documents are named name: a name given twice cannot be told apart. */
static int named(const cJSON *docs, const char *name)
{
    int n = 0;
    const cJSON *doc;
    cJSON_ArrayForEach(doc, docs) n += is_str(at(at(doc, "metadata", NULL), "name", NULL), name);
    return n;
}

static void check_nested_documents(const cJSON *docs, const struct mc_desired *d)
{
    check_mesh_networks(d);
    check_locality(d);
    const cJSON *doc;
    cJSON_ArrayForEach(doc, docs)
    {
        struct mc_meshcluster mc;
        if (mc_meshcluster_parse(doc, &mc, NULL) != 0)
            continue;
        if (named(docs, mc.name) != 1) {
            mc_meshcluster_clear(&mc);
            continue;
        }
        for (size_t i = 0; i < d->nclusters; i++)
            if (d->clusters[i].accepted && !d->clusters[i].local &&
                strcmp(d->clusters[i].name, mc.name) == 0)
                check_kubeconfig(d, &mc);
        mc_meshcluster_clear(&mc);
    }
}

static char *render(const cJSON *docs, const char *local)
{
    struct mc_desired d;
    if (mc_desired_compute(docs, local, NULL, NULL, 0, &d) < 0)
        return NULL;
    check_nested_documents(docs, &d);
    cJSON *arr = mc_desired_objects_array(&d);
    char *text = arr ? k8s_yaml_emit_all(arr) : NULL;
    /* Everything we emit must be readable again. */
    if (text) {
        cJSON *back = k8s_yaml_parse_all(text, strlen(text), NULL, 0);
        if (!back || !cJSON_Compare(back, arr, 1))
            abort();
        cJSON_Delete(back);
    }
    struct mc_desired c;
    if (arr && mc_desired_compute_compact(docs, local, NULL, NULL, 0, &c) == 0) {
        if (c.nobjects != d.nobjects)
            abort();
        for (size_t i = 0; i < c.nobjects; i++) {
            cJSON *body = mc_desired_body(&c, i);
            if (!body || !cJSON_Compare(body, cJSON_GetArrayItem(arr, (int)i), 1))
                abort();
            cJSON_Delete(body);
        }
        mc_desired_free(&c);
    }
    cJSON_Delete(arr);
    mc_desired_free(&d);
    return text;
}

static void same_seen(const cJSON *a, const cJSON *b, const char *type)
{
    struct mc_condition_seen x, y;
    bool hx = mc_status_condition(a, type, &x), hy = mc_status_condition(b, type, &y);
    if (hx != hy || (hx && (strcmp(x.status, y.status) != 0 || strcmp(x.reason, y.reason) != 0 ||
                            strcmp(x.last_transition, y.last_transition) != 0)))
        abort();
}

/* The compact status of doc answers as its original: each condition, and equality with the
 * original taken as what the controller wants. */
static void check_compact_status(const cJSON *doc)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "status");
    if (!cJSON_IsObject(st))
        return;
    cJSON *copy = cJSON_Duplicate(doc, 1);
    if (!copy)
        return;
    mc_status_compact(copy, NULL);
    const cJSON *cst = cJSON_GetObjectItemCaseSensitive(copy, "status");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
        if (cJSON_IsString(t))
            same_seen(st, cst, t->valuestring);
    }
    if (mc_status_equal(cst, st) != mc_status_equal(st, st))
        abort();
    cJSON_Delete(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *docs = k8s_yaml_parse_all((const char *)data, size, NULL, 0);
    if (!docs)
        return 0;
    const char *local = "cluster1";
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(docs, 0), "metadata"), "name");
    if (cJSON_IsString(name))
        local = name->valuestring;
    const cJSON *doc;
    cJSON_ArrayForEach(doc, docs) check_compact_status(doc);
    char *a = render(docs, local);
    char *b = render(docs, local);
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        abort();
    free(a);
    free(b);
    cJSON_Delete(docs);
    return 0;
}
