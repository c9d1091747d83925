/*
 * Proves the pure desired-state function (controller/desired.c) produces exactly the objects
 * of the manual guide (Steps 4, 6, 7, 8, 9, compared field by field with the guide's own
 * YAML in fixtures/), scales to 1, 2, 3 and 50 clusters, merges clusters that share a
 * network, reports every validation error with its field while the other clusters go on,
 * and is deterministic: any input order gives byte-identical output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/desired.h"
#include "k8s/frozen.h"
#include "k8s/yaml.h"

/* ------------------------------------------------------------------ helpers */

static cJSON *load_fixture(const char *name)
{
    const char *src = getenv("MC_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/controller/fixtures/%s", src ? src : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = malloc(65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    char err[256];
    cJSON *docs = k8s_yaml_parse_all(buf, n, err, sizeof(err));
    free(buf);
    if (!docs)
        fail_msg("%s: %s", name, err);
    return docs;
}

static cJSON *mc(const char *name, const char *network, const char *mesh_id)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "meshcluster.io/v1alpha1");
    cJSON_AddStringToObject(o, "kind", "MeshCluster");
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    if (network)
        cJSON_AddStringToObject(spec, "network", network);
    if (mesh_id)
        cJSON_AddStringToObject(spec, "meshID", mesh_id);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(spec, "tailscale"), "tailnet",
                            "your-tailnet.ts.net");
    return o;
}

static cJSON *spec_of(cJSON *m)
{
    return cJSON_GetObjectItem(m, "spec");
}

static cJSON *mesh(size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 1; i <= n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "cluster%zu", i);
        cJSON_AddItemToArray(arr, mc(name, NULL, "mesh1"));
    }
    return arr;
}

static void compute(const cJSON *mcs, const char *local, struct mc_desired *d)
{
    assert_int_equal(mc_desired_compute(mcs, local, NULL, NULL, 0, d), 0);
}

static const cJSON *find(const struct mc_desired *d, const char *kind, const char *ns,
                         const char *name)
{
    for (size_t i = 0; i < d->nobjects; i++) {
        const cJSON *o = d->objects[i].object;
        cJSON *meta = cJSON_GetObjectItem(o, "metadata");
        cJSON *ons = cJSON_GetObjectItem(meta, "namespace");
        if (strcmp(cJSON_GetObjectItem(o, "kind")->valuestring, kind) == 0 &&
            strcmp(cJSON_GetObjectItem(meta, "name")->valuestring, name) == 0 &&
            ((!ns && !ons) || (ns && ons && strcmp(ons->valuestring, ns) == 0)))
            return o;
    }
    return NULL;
}

static const struct mc_desired_object *find_entry(const struct mc_desired *d, const cJSON *o)
{
    for (size_t i = 0; i < d->nobjects; i++)
        if (d->objects[i].object == o)
            return &d->objects[i];
    return NULL;
}

static const struct mc_cluster_result *result(const struct mc_desired *d, const char *name)
{
    for (size_t i = 0; i < d->nclusters; i++)
        if (strcmp(d->clusters[i].name, name) == 0)
            return &d->clusters[i];
    fail_msg("no result for %s", name);
    return NULL;
}

/* A copy of ours without the two labels the guide does not have. */
static cJSON *without_our_labels(const cJSON *ours, const char *cluster)
{
    cJSON *c = cJSON_Duplicate(ours, 1);
    cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "metadata"), "labels");
    assert_non_null(labels);
    assert_string_equal(cJSON_GetObjectItem(labels, MC_LABEL_MANAGED_BY)->valuestring,
                        "meshcluster-controller");
    assert_string_equal(cJSON_GetObjectItem(labels, MC_LABEL_CLUSTER)->valuestring, cluster);
    cJSON_DeleteItemFromObject(labels, MC_LABEL_MANAGED_BY);
    cJSON_DeleteItemFromObject(labels, MC_LABEL_CLUSTER);
    if (!labels->child)
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(c, "metadata"), "labels");
    return c;
}

static void assert_same(const cJSON *got, const cJSON *want)
{
    if (!cJSON_Compare(got, want, 1)) {
        char *g = k8s_yaml_emit(got), *w = k8s_yaml_emit(want);
        fail_msg("object differs from the guide:\n--- ours\n%s--- guide\n%s", g, w);
    }
}

static char *b64decode(const char *in)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), j = 0;
    char *out = malloc(n + 1);
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n && in[i] != '='; i++) {
        const char *p = strchr(tbl, in[i]);
        assert_non_null(p);
        v = (v << 6) | (unsigned)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[j++] = (char)((v >> bits) & 0xff);
        }
    }
    out[j] = '\0';
    return out;
}

/* ------------------------------------------------------------------ the guide */

static void test_step4_api_egress_matches_guide(void **state)
{
    (void)state;
    cJSON *mcs = mesh(2);
    struct mc_desired d;
    compute(mcs, "cluster1", &d);
    cJSON *guide = load_fixture("guide_step4_cluster1.yaml");
    const cJSON *ours = find(&d, "Service", "tailscale", "cluster2-k8s-operator");
    assert_non_null(ours);
    cJSON *c = without_our_labels(ours, "cluster2");
    assert_same(c, cJSON_GetArrayItem(guide, 0));
    const struct mc_desired_object *e = find_entry(&d, ours);
    assert_true(e->flags & MC_DESIRED_CREATE_ONLY);
    assert_string_equal(e->create_only[0], "spec.externalName");
    cJSON *upd = mc_desired_object_for_update(e);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(upd, "spec"), "externalName"));
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(upd, "spec"), "ports"));
    cJSON_Delete(upd);
    cJSON_Delete(c);
    cJSON_Delete(guide);
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

static void test_step6_remote_secret_matches_guide(void **state)
{
    (void)state;
    cJSON *mcs = mesh(2);
    struct mc_desired d;
    compute(mcs, "cluster1", &d);
    cJSON *docs = load_fixture("guide_step6_cluster1.yaml");
    cJSON *guide = cJSON_DetachItemFromArray(docs, 0);
    cJSON_Delete(docs);
    const cJSON *ours = find(&d, "Secret", "istio-system", "istio-remote-secret-cluster2");
    assert_non_null(ours);
    cJSON *c = without_our_labels(ours, "cluster2");
    /* The guide writes stringData; we write the data the API server stores from it. */
    cJSON *data = cJSON_DetachItemFromObject(c, "data");
    cJSON *sdata = cJSON_DetachItemFromObject(guide, "stringData");
    assert_same(c, guide);
    assert_int_equal(cJSON_GetArraySize(data), 1);
    char *kc = b64decode(cJSON_GetObjectItem(data, "cluster2")->valuestring);
    const char *want = cJSON_GetObjectItem(sdata, "cluster2")->valuestring;
    /* The same document: the serializer quotes the URL, a web page left blanks after
     * "unused", neither changes a value. */
    char err[256];
    cJSON *k1 = k8s_yaml_parse_one(kc, strlen(kc), err, sizeof(err));
    cJSON *k2 = k8s_yaml_parse_one(want, strlen(want), err, sizeof(err));
    assert_non_null(k1);
    assert_same(k1, k2);
    cJSON_Delete(k1);
    cJSON_Delete(k2);
    free(kc);
    cJSON_Delete(data);
    cJSON_Delete(sdata);
    cJSON_Delete(c);
    cJSON_Delete(guide);
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

static void test_step7_gateway_and_service(void **state)
{
    (void)state;
    cJSON *mcs = mesh(2);
    struct mc_desired d;
    compute(mcs, "cluster1", &d);
    cJSON *guide = load_fixture("guide_step7_gateway.yaml");
    const cJSON *gw = find(&d, "Gateway", "istio-system", "cross-network-gateway");
    assert_non_null(gw);
    cJSON *c = without_our_labels(gw, "cluster1");
    assert_same(c, cJSON_GetArrayItem(guide, 0));
    cJSON_Delete(c);
    cJSON_Delete(guide);

    cJSON *chart = load_fixture("gateway_service_cluster1.yaml");
    const cJSON *svc = find(&d, "Service", "istio-system", "istio-eastwestgateway");
    assert_non_null(svc);
    c = without_our_labels(svc, "cluster1");
    assert_same(c, cJSON_GetArrayItem(chart, 0));
    cJSON_Delete(c);
    cJSON_Delete(chart);

    const cJSON *ns = find(&d, "Namespace", NULL, "istio-system");
    assert_non_null(ns);
    const struct mc_desired_object *e = find_entry(&d, ns);
    assert_true(e->flags & MC_DESIRED_LABELS);
    cJSON *want = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{"
                              "\"name\":\"istio-system\",\"labels\":{"
                              "\"topology.istio.io/network\":\"cluster1\"}}}");
    assert_same(ns, want);
    cJSON_Delete(want);
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

static void check_step8(const char *local, const char *remote, const char *fixture)
{
    cJSON *mcs = mesh(2);
    struct mc_desired d;
    compute(mcs, local, &d);
    cJSON *guide = load_fixture(fixture);
    char ts[64], alias[64];
    snprintf(ts, sizeof(ts), "%s-istio-eastwestgateway-ts", remote);
    snprintf(alias, sizeof(alias), "%s-istio-eastwestgateway", remote);
    const cJSON *o1 = find(&d, "Service", "istio-system", ts);
    const cJSON *o2 = find(&d, "Service", "istio-system", alias);
    assert_non_null(o1);
    assert_non_null(o2);
    cJSON *c1 = without_our_labels(o1, remote), *c2 = without_our_labels(o2, remote);
    assert_same(c1, cJSON_GetArrayItem(guide, 0));
    assert_same(c2, cJSON_GetArrayItem(guide, 1));
    assert_true(find_entry(&d, o1)->flags & MC_DESIRED_CREATE_ONLY);
    assert_false(find_entry(&d, o2)->flags & MC_DESIRED_CREATE_ONLY);
    cJSON_Delete(c1);
    cJSON_Delete(c2);
    cJSON_Delete(guide);
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

static void test_step8_egress_matches_guide(void **state)
{
    (void)state;
    check_step8("cluster1", "cluster2", "guide_step8_cluster1.yaml");
    check_step8("cluster2", "cluster1", "guide_step8_cluster2.yaml");
}

static cJSON *parse_text(const char *text)
{
    char err[256];
    cJSON *v = k8s_yaml_parse_one(text, strlen(text), err, sizeof(err));
    if (!v)
        fail_msg("%s in\n%s", err, text);
    return v;
}

static void check_step9(const char *local, const char *fixture)
{
    cJSON *mcs = mesh(2);
    struct mc_desired d;
    compute(mcs, local, &d);
    cJSON *guide = load_fixture(fixture);
    cJSON *want = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(guide, 0), "global"),
                                      "meshNetworks");
    assert_same(d.mesh_networks, want);

    const cJSON *istio = find(&d, "ConfigMap", "istio-system", "istio");
    assert_non_null(istio);
    const struct mc_desired_object *e = find_entry(&d, istio);
    assert_true(e->flags & MC_DESIRED_KEY);
    assert_true(e->flags & MC_DESIRED_MUST_EXIST);
    cJSON *data = cJSON_GetObjectItem(istio, "data");
    assert_int_equal(cJSON_GetArraySize(data), 1); /* that key only */
    cJSON *mn = parse_text(cJSON_GetObjectItem(data, "meshNetworks")->valuestring);
    assert_same(cJSON_GetObjectItem(mn, "networks"), want);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(istio, "metadata"), "labels"));
    cJSON_Delete(mn);

    const cJSON *hv = find(&d, "ConfigMap", "istio-system", "meshcluster-istiod-values");
    assert_non_null(hv);
    cJSON *values = parse_text(
        cJSON_GetObjectItem(cJSON_GetObjectItem(hv, "data"), "values.yaml")->valuestring);
    assert_same(values, cJSON_GetArrayItem(guide, 0));
    cJSON_Delete(values);
    cJSON_Delete(guide);
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

static void test_step9_mesh_networks_match_guide(void **state)
{
    (void)state;
    check_step9("cluster1", "guide_step9_cluster1.yaml");
    check_step9("cluster2", "guide_step9_cluster2.yaml");
}

/* ------------------------------------------------------------------ sizes and merging */

static void check_size(size_t n)
{
    cJSON *mcs = mesh(n);
    struct mc_desired d;
    compute(mcs, "cluster1", &d);
    /* ns label, gateway Service, Gateway, istio key, values ConfigMap + 4 per remote */
    assert_int_equal(d.nobjects, 5 + 4 * (n - 1));
    assert_int_equal(d.nclusters, n);
    assert_int_equal(cJSON_GetArraySize(d.mesh_networks), (int)n);
    for (size_t i = 0; i < d.nclusters; i++)
        assert_true(d.clusters[i].accepted);
    for (size_t i = 0; i < d.nobjects; i++) {
        cJSON *mi = cJSON_GetObjectItem(d.objects[i].object, "metadata");
        for (size_t j = 0; j < i; j++) {
            cJSON *mj = cJSON_GetObjectItem(d.objects[j].object, "metadata");
            int same = cJSON_Compare(cJSON_GetObjectItem(mi, "name"),
                                     cJSON_GetObjectItem(mj, "name"), 1) &&
                       cJSON_Compare(cJSON_GetObjectItem(mi, "namespace"),
                                     cJSON_GetObjectItem(mj, "namespace"), 1) &&
                       cJSON_Compare(cJSON_GetObjectItem(d.objects[i].object, "kind"),
                                     cJSON_GetObjectItem(d.objects[j].object, "kind"), 1);
            assert_false(same);
        }
    }
    char name[64];
    snprintf(name, sizeof(name), "istio-remote-secret-cluster%zu", n);
    if (n > 1)
        assert_non_null(find(&d, "Secret", "istio-system", name));
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

static void test_mesh_sizes(void **state)
{
    (void)state;
    check_size(1);
    check_size(2);
    check_size(3);
    check_size(50);
}

static void test_shared_network_merges(void **state)
{
    (void)state;
    cJSON *mcs = cJSON_CreateArray();
    cJSON_AddItemToArray(mcs, mc("cluster3", "west", NULL));
    cJSON_AddItemToArray(mcs, mc("cluster1", "east", NULL));
    cJSON_AddItemToArray(mcs, mc("cluster2", "east", NULL));
    struct mc_desired d;
    compute(mcs, "cluster2", &d);
    cJSON *want = cJSON_Parse(
        "{\"east\":{\"endpoints\":[{\"fromRegistry\":\"cluster1\"},{\"fromRegistry\":"
        "\"cluster2\"}],\"gateways\":[{\"address\":"
        "\"cluster1-istio-eastwestgateway.istio-system.svc.cluster.local\",\"port\":15443},"
        "{\"address\":\"istio-eastwestgateway.istio-system.svc.cluster.local\",\"port\":15443}]},"
        "\"west\":{\"endpoints\":[{\"fromRegistry\":\"cluster3\"}],\"gateways\":[{\"address\":"
        "\"cluster3-istio-eastwestgateway.istio-system.svc.cluster.local\",\"port\":15443}]}}");
    assert_same(d.mesh_networks, want);
    const cJSON *svc = find(&d, "Service", "istio-system", "istio-eastwestgateway");
    cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "metadata"), "labels");
    assert_string_equal(cJSON_GetObjectItem(labels, MC_LABEL_NETWORK)->valuestring, "east");
    cJSON_Delete(want);
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

/* ------------------------------------------------------------------ validation */

struct bad_case {
    const char *what;
    void (*mutate)(cJSON *mcs);
    const char *cluster; /* which one must be rejected */
    const char *reason;
    const char *field;
};

static cJSON *item_named(cJSON *mcs, const char *name)
{
    for (cJSON *m = mcs->child; m; m = m->next)
        if (strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "metadata"), "name")->valuestring,
                   name) == 0)
            return m;
    return NULL;
}

static void set_str(cJSON *obj, const char *key, const char *v)
{
    cJSON_DeleteItemFromObject(obj, key);
    cJSON_AddStringToObject(obj, key, v);
}

static void mut_bad_name(cJSON *m)
{
    cJSON_AddItemToArray(m, mc("Bad_Name", NULL, "mesh1"));
}
static void mut_long_name(cJSON *m)
{
    cJSON_AddItemToArray(m, mc("a123456789012345678901234567890123456789", NULL, "mesh1"));
}
static void mut_digit_name(cJSON *m)
{
    cJSON_AddItemToArray(m, mc("4cluster", NULL, "mesh1"));
}
static void mut_network_conflict(cJSON *m)
{
    cJSON *c3 = item_named(m, "cluster3");
    set_str(spec_of(c3), "network", "cluster2");
    cJSON *ports =
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(spec_of(c3), "gateway"), "ports");
    cJSON_AddNumberToObject(ports, "tls", 16443);
    set_str(cJSON_GetObjectItem(c3, "metadata"), "creationTimestamp", "2026-02-01T00:00:00Z");
    set_str(cJSON_GetObjectItem(item_named(m, "cluster2"), "metadata"), "creationTimestamp",
            "2026-01-01T00:00:00Z");
}
static void mut_dup_hostname(cJSON *m)
{
    cJSON *ts = cJSON_GetObjectItem(spec_of(item_named(m, "cluster3")), "tailscale");
    set_str(ts, "eastWestGatewayHostname", "cluster2-istio-eastwestgateway");
}
static void mut_same_hostnames(cJSON *m)
{
    cJSON *ts = cJSON_GetObjectItem(spec_of(item_named(m, "cluster3")), "tailscale");
    set_str(ts, "eastWestGatewayHostname", "cluster3-k8s-operator");
}
static void mut_mesh_id(cJSON *m)
{
    set_str(spec_of(item_named(m, "cluster3")), "meshID", "other-mesh");
}
static void mut_no_tailnet(cJSON *m)
{
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(spec_of(item_named(m, "cluster3")), "tailscale"),
                               "tailnet");
}
static void mut_bad_tailnet(cJSON *m)
{
    set_str(cJSON_GetObjectItem(spec_of(item_named(m, "cluster3")), "tailscale"), "tailnet",
            "Not A Domain");
}
static void mut_bad_tag(cJSON *m)
{
    cJSON *tags = cJSON_AddArrayToObject(
        cJSON_GetObjectItem(spec_of(item_named(m, "cluster3")), "tailscale"), "gatewayTags");
    cJSON_AddItemToArray(tags, cJSON_CreateString("istio"));
}
static void mut_bad_port(cJSON *m)
{
    cJSON *ports = cJSON_AddObjectToObject(
        cJSON_AddObjectToObject(spec_of(item_named(m, "cluster3")), "gateway"), "ports");
    cJSON_AddNumberToObject(ports, "istiod", 70000);
}
static void mut_same_port(cJSON *m)
{
    cJSON *ports = cJSON_AddObjectToObject(
        cJSON_AddObjectToObject(spec_of(item_named(m, "cluster3")), "gateway"), "ports");
    cJSON_AddNumberToObject(ports, "webhook", 15443);
}
static void mut_bad_auth(cJSON *m)
{
    set_str(cJSON_AddObjectToObject(spec_of(item_named(m, "cluster3")), "remoteSecret"), "auth",
            "password");
}
static void mut_secret_without_ref(cJSON *m)
{
    set_str(cJSON_AddObjectToObject(spec_of(item_named(m, "cluster3")), "remoteSecret"), "auth",
            "secret");
}
static void mut_wrong_type(cJSON *m)
{
    cJSON *s = spec_of(item_named(m, "cluster3"));
    cJSON_DeleteItemFromObject(s, "network");
    cJSON_AddNumberToObject(s, "network", 7);
}
static void mut_bad_network(cJSON *m)
{
    set_str(spec_of(item_named(m, "cluster3")), "network", "has space");
}
static void mut_duplicate_name(cJSON *m)
{
    cJSON *dup = mc("cluster3", NULL, "mesh1");
    set_str(cJSON_GetObjectItem(dup, "metadata"), "creationTimestamp", "2030-01-01T00:00:00Z");
    set_str(cJSON_GetObjectItem(item_named(m, "cluster3"), "metadata"), "creationTimestamp",
            "2020-01-01T00:00:00Z");
    cJSON_AddItemToArray(m, dup);
}

/* A self-signed CA certificate (P-256), PEM, base64-encoded as in a kubeconfig. */
static const char CA_BUNDLE[] =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJoekNDQVMyZ0F3SUJBZ0lVYWFHRWVZYi9M"
    "V3dkTHRsSkdZeGdjaTJVM05Zd0NnWUlLb1pJemowRUF3SXcKR1RFWE1CVUdBMVVFQXd3T2RHVnpk"
    "QzF5WlcxdmRHVXRZMkV3SGhjTk1qWXhNakF5TVRneU16VXhXaGNOTXpZeApNVEk1TVRneU16VXhX"
    "akFaTVJjd0ZRWURWUVFEREE1MFpYTjBMWEpsYlc5MFpTMWpZVEJaTUJNR0J5cUdTTTQ5CkFnRUdD"
    "Q3FHU000OUF3RUhBMElBQklBa0JvSnNReHloSTluRXFpV1k1YnNKck1RTmRXOFJlcUFnOHlsZ0ly"
    "K3QKdHFhNXBYaXhQTks3dis4TXV2dm40NG0rcldyMTNPMm9LQU9oSFhuR0t4YWpVekJSTUIwR0Ex"
    "VWREZ1FXQkJRRQpVa01rQzh1d05qYnFyV2lPeC9jRGFEU3VMekFmQmdOVkhTTUVHREFXZ0JRRVVr"
    "TWtDOHV3TmpicXJXaU94L2NECmFEU3VMekFQQmdOVkhSTUJBZjhFQlRBREFRSC9NQW9HQ0NxR1NN"
    "NDlCQU1DQTBnQU1FVUNJQ0RUMDVsa3lMb2oKMUVVdXR5bEZzblE4QXVIMWZORTJhNEdGQjNwdkNQ"
    "dzBBaUVBMmQ3OXg4NmRLK04xbWVSNWYwbGhZSWFabkpoWQpDM2g2MVRNd1NMVmtRbFU9Ci0tLS0t"
    "RU5EIENFUlRJRklDQVRFLS0tLS0K";

static void mut_ca_bundle_not_base64(cJSON *m)
{
    set_str(cJSON_AddObjectToObject(spec_of(item_named(m, "cluster3")), "remoteSecret"), "caBundle",
            "-----BEGIN CERTIFICATE-----");
}
static void mut_ca_bundle_no_cert(cJSON *m)
{
    set_str(cJSON_AddObjectToObject(spec_of(item_named(m, "cluster3")), "remoteSecret"), "caBundle",
            "aGVsbG8gd29ybGQ=");
}

static void test_each_validation_error(void **state)
{
    (void)state;
    const struct bad_case cases[] = {
        {"invalid name", mut_bad_name, "Bad_Name", "InvalidName", "metadata.name"},
        {"name too long", mut_long_name, "a123456789012345678901234567890123456789", "InvalidName",
         "metadata.name"},
        {"name starts with a digit", mut_digit_name, "4cluster", "InvalidName", "metadata.name"},
        {"network conflict", mut_network_conflict, "cluster3", "NetworkConflict",
         "spec.gateway.ports.tls"},
        {"duplicate hostname", mut_dup_hostname, "cluster3", "DuplicateHostname",
         "spec.tailscale.eastWestGatewayHostname"},
        {"hostname used twice in one", mut_same_hostnames, "cluster3", "DuplicateHostname",
         "spec.tailscale.eastWestGatewayHostname"},
        {"two meshIDs", mut_mesh_id, "cluster3", "MeshIDConflict", "spec.meshID"},
        {"no tailnet", mut_no_tailnet, "cluster3", "MissingTailnet", "spec.tailscale.tailnet"},
        {"bad tailnet", mut_bad_tailnet, "cluster3", "InvalidTailnet", "spec.tailscale.tailnet"},
        {"bad tag", mut_bad_tag, "cluster3", "InvalidTag", "spec.tailscale.gatewayTags[0]"},
        {"port out of range", mut_bad_port, "cluster3", "InvalidPort", "spec.gateway.ports.istiod"},
        {"port used twice", mut_same_port, "cluster3", "InvalidPort", "spec.gateway.ports.webhook"},
        {"unknown auth", mut_bad_auth, "cluster3", "InvalidSpec", "spec.remoteSecret.auth"},
        {"secret auth without ref", mut_secret_without_ref, "cluster3", "InvalidSecretRef",
         "spec.remoteSecret.secretRef.name"},
        {"wrong JSON type", mut_wrong_type, "cluster3", "InvalidSpec", "spec.network"},
        {"bad network", mut_bad_network, "cluster3", "InvalidNetwork", "spec.network"},
        {"caBundle not base64", mut_ca_bundle_not_base64, "cluster3", "InvalidCABundle",
         "spec.remoteSecret.caBundle"},
        {"caBundle without a certificate", mut_ca_bundle_no_cert, "cluster3", "InvalidCABundle",
         "spec.remoteSecret.caBundle"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        cJSON *mcs = mesh(3);
        cases[k].mutate(mcs);
        struct mc_desired d;
        compute(mcs, "cluster1", &d);
        const struct mc_cluster_result *r = result(&d, cases[k].cluster);
        if (r->accepted)
            fail_msg("%s: %s was accepted", cases[k].what, cases[k].cluster);
        if (strcmp(r->why.reason, cases[k].reason) != 0 ||
            strcmp(r->why.field, cases[k].field) != 0)
            fail_msg("%s: got %s at %s (%s)", cases[k].what, r->why.reason, r->why.field,
                     r->why.message);
        assert_true(r->why.message[0] != '\0');
        /* The others go on: cluster2 is still fully wired, the bad one not at all. */
        assert_true(result(&d, "cluster2")->accepted);
        assert_non_null(find(&d, "Secret", "istio-system", "istio-remote-secret-cluster2"));
        assert_non_null(find(&d, "Service", "istio-system", "istio-eastwestgateway"));
        if (strcmp(cases[k].cluster, "cluster3") == 0 &&
            strcmp(cases[k].reason, "DuplicateName") != 0) {
            assert_null(find(&d, "Secret", "istio-system", "istio-remote-secret-cluster3"));
            assert_null(find(&d, "Service", "tailscale", "cluster3-k8s-operator"));
            assert_null(cJSON_GetObjectItem(d.mesh_networks, "cluster3"));
        }
        mc_desired_free(&d);
        cJSON_Delete(mcs);
    }
}

static void test_duplicate_name_keeps_oldest(void **state)
{
    (void)state;
    cJSON *mcs = mesh(3);
    mut_duplicate_name(mcs);
    struct mc_desired d;
    compute(mcs, "cluster1", &d);
    assert_int_equal(d.nclusters, 4);
    int accepted = 0, rejected = 0;
    for (size_t i = 0; i < d.nclusters; i++) {
        if (strcmp(d.clusters[i].name, "cluster3") != 0)
            continue;
        if (d.clusters[i].accepted)
            accepted++;
        else {
            rejected++;
            assert_string_equal(d.clusters[i].why.reason, "DuplicateName");
        }
    }
    assert_int_equal(accepted, 1);
    assert_int_equal(rejected, 1);
    assert_non_null(find(&d, "Secret", "istio-system", "istio-remote-secret-cluster3"));
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

static void test_unknown_local_cluster(void **state)
{
    (void)state;
    cJSON *mcs = mesh(3);
    struct mc_desired d;
    compute(mcs, "cluster9", &d);
    assert_int_equal(d.nobjects, 0);
    for (size_t i = 0; i < d.nclusters; i++) {
        assert_false(d.clusters[i].accepted);
        assert_string_equal(d.clusters[i].why.reason, "UnknownLocalCluster");
        assert_string_equal(d.clusters[i].why.field, "--cluster-name");
    }
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

static void test_conflict_winner_independent_of_order(void **state)
{
    (void)state;
    /* Same hostname claimed by cluster2 (older) and cluster3: in either order, cluster3 loses. */
    for (int rev = 0; rev < 2; rev++) {
        cJSON *mcs = cJSON_CreateArray();
        cJSON *a = mc("cluster1", NULL, NULL), *b = mc("cluster2", NULL, NULL),
              *c = mc("cluster3", NULL, NULL);
        set_str(cJSON_GetObjectItem(b, "metadata"), "creationTimestamp", "2025-01-01T00:00:00Z");
        set_str(cJSON_GetObjectItem(c, "metadata"), "creationTimestamp", "2024-01-01T00:00:00Z");
        set_str(cJSON_GetObjectItem(spec_of(b), "tailscale"), "apiServerProxyHostname", "shared");
        set_str(cJSON_GetObjectItem(spec_of(c), "tailscale"), "apiServerProxyHostname", "shared");
        cJSON_AddItemToArray(mcs, rev ? c : a);
        cJSON_AddItemToArray(mcs, b);
        cJSON_AddItemToArray(mcs, rev ? a : c);
        struct mc_desired d;
        compute(mcs, "cluster1", &d);
        /* cluster3 was created first, so it keeps "shared". */
        assert_true(result(&d, "cluster3")->accepted);
        assert_false(result(&d, "cluster2")->accepted);
        mc_desired_free(&d);
        cJSON_Delete(mcs);
    }
}

/* ------------------------------------------------------------------ determinism and modes */

static char *render(const cJSON *mcs, const char *local)
{
    struct mc_desired d;
    compute(mcs, local, &d);
    cJSON *arr = mc_desired_objects_array(&d);
    char *text = k8s_yaml_emit_all(arr);
    assert_non_null(text);
    cJSON_Delete(arr);
    mc_desired_free(&d);
    return text;
}

static void test_deterministic_regardless_of_order(void **state)
{
    (void)state;
    cJSON *mcs = mesh(50);
    char *first = render(mcs, "cluster17");
    unsigned seed = 12345;
    for (int round = 0; round < 5; round++) {
        /* A reproducible shuffle: detach everything and reinsert in a scrambled order. */
        cJSON *items[50];
        for (int i = 0; i < 50; i++)
            items[i] = cJSON_DetachItemFromArray(mcs, 0);
        for (int i = 49; i > 0; i--) {
            seed = seed * 1103515245u + 12345u;
            int j = (int)((seed >> 16) % (unsigned)(i + 1));
            cJSON *t = items[i];
            items[i] = items[j];
            items[j] = t;
        }
        for (int i = 0; i < 50; i++)
            cJSON_AddItemToArray(mcs, items[i]);
        char *again = render(mcs, "cluster17");
        assert_string_equal(first, again);
        free(again);
    }
    free(first);
    cJSON_Delete(mcs);
}

static void test_mesh_networks_modes(void **state)
{
    (void)state;
    cJSON *mcs = mesh(2);
    struct mc_desired_options o;
    struct mc_desired d;
    mc_desired_options_default(&o);
    o.mesh_networks_mode = MC_MESHNET_CONFIGMAP;
    assert_int_equal(mc_desired_compute(mcs, "cluster1", &o, NULL, 0, &d), 0);
    assert_non_null(find(&d, "ConfigMap", "istio-system", "istio"));
    assert_null(find(&d, "ConfigMap", "istio-system", "meshcluster-istiod-values"));
    mc_desired_free(&d);
    o.mesh_networks_mode = MC_MESHNET_HELM_VALUES;
    o.helm_values_name = "istiod-values";
    o.istio_namespace = "mesh";
    o.cluster_domain = "example.org";
    assert_int_equal(mc_desired_compute(mcs, "cluster1", &o, NULL, 0, &d), 0);
    assert_null(find(&d, "ConfigMap", "mesh", "istio"));
    assert_non_null(find(&d, "ConfigMap", "mesh", "istiod-values"));
    const cJSON *alias = find(&d, "Service", "mesh", "cluster2-istio-eastwestgateway");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(alias, "spec"), "externalName")->valuestring,
        "cluster2-istio-eastwestgateway-ts.mesh.svc.example.org");
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

static void test_secret_auth_token(void **state)
{
    (void)state;
    cJSON *mcs = mesh(2);
    cJSON *rs = cJSON_AddObjectToObject(spec_of(item_named(mcs, "cluster2")), "remoteSecret");
    cJSON_AddStringToObject(rs, "auth", "secret");
    cJSON_AddStringToObject(rs, "server", "https://10.0.0.1:6443");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(rs, "secretRef"), "name", "c2-token");
    struct mc_desired d;
    assert_int_equal(mc_desired_compute(mcs, "cluster1", NULL, NULL, 0, &d), 0);
    assert_true(result(&d, "cluster2")->accepted);
    assert_true(result(&d, "cluster2")->remote_secret_pending);
    assert_null(find(&d, "Secret", "istio-system", "istio-remote-secret-cluster2"));
    mc_desired_free(&d);

    struct mc_remote_token tok = {"cluster2", "12345"};
    assert_int_equal(mc_desired_compute(mcs, "cluster1", NULL, &tok, 1, &d), 0);
    assert_false(result(&d, "cluster2")->remote_secret_pending);
    const cJSON *s = find(&d, "Secret", "istio-system", "istio-remote-secret-cluster2");
    assert_non_null(s);
    char *kc =
        b64decode(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "data"), "cluster2")->valuestring);
    cJSON *k = parse_text(kc);
    cJSON *user =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(k, "users"), 0), "user");
    /* A token of digits must stay a string, and only inline credentials are used. */
    assert_string_equal(cJSON_GetObjectItem(user, "token")->valuestring, "12345");
    assert_int_equal(cJSON_GetArraySize(user), 1);
    cJSON *cl =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(k, "clusters"), 0), "cluster");
    assert_string_equal(cJSON_GetObjectItem(cl, "server")->valuestring, "https://10.0.0.1:6443");
    assert_null(cJSON_GetObjectItem(cl, "certificate-authority-data")); /* system trust */
    cJSON_Delete(k);
    free(kc);
    mc_desired_free(&d);

    /* A private CA: the remote secret carries it, in one line even when given wrapped. */
    char wrapped[sizeof(CA_BUNDLE) + 32];
    snprintf(wrapped, sizeof(wrapped), "%.40s\n%s", CA_BUNDLE, CA_BUNDLE + 40);
    cJSON_AddStringToObject(rs, "caBundle", wrapped);
    assert_int_equal(mc_desired_compute(mcs, "cluster1", NULL, &tok, 1, &d), 0);
    assert_true(result(&d, "cluster2")->accepted);
    s = find(&d, "Secret", "istio-system", "istio-remote-secret-cluster2");
    kc = b64decode(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "data"), "cluster2")->valuestring);
    k = parse_text(kc);
    cl = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(k, "clusters"), 0), "cluster");
    assert_string_equal(cJSON_GetObjectItem(cl, "certificate-authority-data")->valuestring,
                        CA_BUNDLE);
    cJSON_Delete(k);
    free(kc);
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

static void test_defaults_and_custom_values(void **state)
{
    (void)state;
    cJSON *mcs = mesh(2);
    cJSON *ts = cJSON_GetObjectItem(spec_of(item_named(mcs, "cluster1")), "tailscale");
    cJSON_AddStringToObject(ts, "proxyClass", "fast");
    cJSON *tags = cJSON_AddArrayToObject(ts, "gatewayTags");
    cJSON_AddItemToArray(tags, cJSON_CreateString("tag:a"));
    cJSON_AddItemToArray(tags, cJSON_CreateString("tag:b"));
    cJSON_AddStringToObject(ts, "eastWestGatewayHostname", "east-gw");
    cJSON *ports = cJSON_AddObjectToObject(
        cJSON_AddObjectToObject(spec_of(item_named(mcs, "cluster2")), "gateway"), "ports");
    cJSON_AddNumberToObject(ports, "tls", 16443);
    struct mc_desired d;
    compute(mcs, "cluster1", &d);
    const cJSON *svc = find(&d, "Service", "istio-system", "istio-eastwestgateway");
    cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "metadata"), "annotations");
    assert_string_equal(cJSON_GetObjectItem(ann, "tailscale.com/tags")->valuestring, "tag:a,tag:b");
    assert_string_equal(cJSON_GetObjectItem(ann, "tailscale.com/hostname")->valuestring, "east-gw");
    /* The local cluster's proxy class applies to egress proxies for remotes. */
    const cJSON *eg = find(&d, "Service", "istio-system", "cluster2-istio-eastwestgateway-ts");
    ann = cJSON_GetObjectItem(cJSON_GetObjectItem(eg, "metadata"), "annotations");
    assert_string_equal(cJSON_GetObjectItem(ann, "tailscale.com/proxy-class")->valuestring, "fast");
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(eg, "spec"), "ports"), 0);
    assert_int_equal(cJSON_GetObjectItem(p, "port")->valueint, 16443);
    cJSON *gw = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(d.mesh_networks, "cluster2"), "gateways"), 0);
    assert_int_equal(cJSON_GetObjectItem(gw, "port")->valueint, 16443);
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

/* Each cluster's objects by role: the role names the object the status and the notes look
 * for, so nothing re-derives a name (the names below are the guide's). */
static void test_objects_by_role(void **state)
{
    (void)state;
    cJSON *mcs = mesh(3);
    struct mc_desired d;
    compute(mcs, "cluster1", &d);
    static const struct {
        const char *cluster;
        enum mc_desired_role role;
        const char *key;
    } want[] = {
        {"cluster1", MC_ROLE_GATEWAY_SERVICE, "istio-system/istio-eastwestgateway"},
        {"cluster1", MC_ROLE_CROSS_NETWORK_GATEWAY, "istio-system/cross-network-gateway"},
        {"cluster1", MC_ROLE_NAMESPACE_LABEL, "istio-system"},
        {"cluster1", MC_ROLE_MESH_NETWORKS, "istio-system/istio"},
        {"cluster2", MC_ROLE_EGRESS_API, "tailscale/cluster2-k8s-operator"},
        {"cluster2", MC_ROLE_EGRESS_GATEWAY, "istio-system/cluster2-istio-eastwestgateway-ts"},
        {"cluster2", MC_ROLE_GATEWAY_ALIAS, "istio-system/cluster2-istio-eastwestgateway"},
        {"cluster3", MC_ROLE_REMOTE_SECRET, "istio-system/istio-remote-secret-cluster3"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        long idx = result(&d, want[i].cluster)->objects[want[i].role];
        assert_true(idx >= 0 && (size_t)idx < d.nobjects);
        assert_string_equal(d.objects[idx].key, want[i].key);
        assert_int_equal(d.objects[idx].role, want[i].role);
    }
    /* A remote has no local objects; every object is indexed under its own cluster. */
    assert_int_equal(result(&d, "cluster2")->objects[MC_ROLE_GATEWAY_SERVICE], -1);
    for (size_t i = 0; i < d.nobjects; i++) {
        const struct mc_cluster_result *r = result(&d, d.objects[i].cluster);
        assert_int_equal(r->objects[d.objects[i].role], (long)i);
    }
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

/* Step 3: a DNSConfig and the zone to forward only for the local cluster with dns: managed;
 * the default (external) and a remote's choice change nothing; render shows the DNSConfig. */
static void test_dns_managed_local_only(void **state)
{
    (void)state;
    cJSON *mcs = mesh(2);
    struct mc_desired d;
    compute(mcs, "cluster1", &d);
    assert_null(d.dns.dns_config);
    assert_null(d.dns.zone);
    size_t plain = d.nobjects;
    mc_desired_free(&d);

    cJSON *ts2 = cJSON_GetObjectItem(spec_of(cJSON_GetArrayItem(mcs, 1)), "tailscale");
    cJSON_AddStringToObject(ts2, "dns", "managed");
    compute(mcs, "cluster1", &d);
    assert_null(d.dns.dns_config); /* cluster2 is a remote here */
    mc_desired_free(&d);

    compute(mcs, "cluster2", &d);
    assert_non_null(d.dns.dns_config);
    assert_string_equal(d.dns.zone, "your-tailnet.ts.net");
    const cJSON *c = d.dns.dns_config;
    assert_string_equal(cJSON_GetObjectItem(c, "kind")->valuestring, "DNSConfig");
    assert_string_equal(cJSON_GetObjectItem(c, "apiVersion")->valuestring,
                        "tailscale.com/v1alpha1");
    const cJSON *meta = cJSON_GetObjectItem(c, "metadata");
    assert_string_equal(cJSON_GetObjectItem(meta, "name")->valuestring, MC_DNSCONFIG_NAME);
    assert_null(cJSON_GetObjectItem(meta, "namespace")); /* cluster-scoped */
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "spec"), "nameserver"));
    assert_int_equal(d.nobjects, plain); /* not one of the phase-1 objects */
    cJSON *arr = mc_desired_objects_array(&d);
    assert_int_equal(cJSON_GetArraySize(arr), (int)plain + 1);
    cJSON_Delete(arr);
    mc_desired_free(&d);

    cJSON_ReplaceItemInObject(ts2, "dns", cJSON_CreateString("sometimes"));
    compute(mcs, "cluster2", &d);
    assert_null(d.dns.dns_config); /* rejected: nothing made for it */
    assert_false(d.clusters[mc_desired_cluster_index(&d, "cluster2")].accepted);
    assert_non_null(strstr(d.clusters[mc_desired_cluster_index(&d, "cluster2")].why.message,
                           "spec.tailscale.dns must be"));
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

/* Each object's digest is its body's: the same in the full and compact forms, the same for the
 * same MeshClusters, and after one remote's edit changed only for what that edit rebuilds
 * (its own objects and meshNetworks, which lists every cluster), so the daemon keeps what it
 * knew about every other object. */
static void test_digest_follows_the_body(void **state)
{
    (void)state;
    cJSON *mcs = mesh(3);
    struct mc_desired full, a, b;
    compute(mcs, "cluster1", &full);
    assert_int_equal(mc_desired_compute_compact(mcs, "cluster1", NULL, NULL, 0, &a), 0);
    assert_int_equal(full.nobjects, a.nobjects);
    for (size_t i = 0; i < a.nobjects; i++) {
        assert_true(a.objects[i].digest != 0);
        assert_true(a.objects[i].digest == full.objects[i].digest);
        cJSON *body = mc_desired_body(&a, i);
        assert_true(k8s_json_hash(body) == a.objects[i].digest);
        cJSON_Delete(body);
    }
    cJSON *tailscale = cJSON_GetObjectItem(spec_of(cJSON_GetArrayItem(mcs, 2)), "tailscale");
    cJSON_ReplaceItemInObject(tailscale, "tailnet", cJSON_CreateString("other-tailnet.ts.net"));
    assert_int_equal(mc_desired_compute_compact(mcs, "cluster1", NULL, NULL, 0, &b), 0);
    assert_int_equal(a.nobjects, b.nobjects);
    size_t changed = 0;
    for (size_t i = 0; i < b.nobjects; i++) {
        assert_string_equal(a.objects[i].key, b.objects[i].key);
        bool same = a.objects[i].digest == b.objects[i].digest;
        bool expect_same = strcmp(b.objects[i].cluster, "cluster3") != 0;
        if (!same) {
            changed++;
            cJSON *x = mc_desired_body(&a, i), *y = mc_desired_body(&b, i);
            assert_false(cJSON_Compare(x, y, 1)); /* a changed digest is a changed body */
            cJSON_Delete(x);
            cJSON_Delete(y);
        }
        if (expect_same)
            assert_true(same);
    }
    /* cluster3's two egress Services and its remote secret name its tailnet; the alias does
     * not. */
    assert_int_equal(changed, 3);
    mc_desired_free(&full);
    mc_desired_free(&a);
    mc_desired_free(&b);
    cJSON_Delete(mcs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step4_api_egress_matches_guide),
        cmocka_unit_test(test_step6_remote_secret_matches_guide),
        cmocka_unit_test(test_step7_gateway_and_service),
        cmocka_unit_test(test_step8_egress_matches_guide),
        cmocka_unit_test(test_step9_mesh_networks_match_guide),
        cmocka_unit_test(test_mesh_sizes),
        cmocka_unit_test(test_shared_network_merges),
        cmocka_unit_test(test_each_validation_error),
        cmocka_unit_test(test_duplicate_name_keeps_oldest),
        cmocka_unit_test(test_unknown_local_cluster),
        cmocka_unit_test(test_conflict_winner_independent_of_order),
        cmocka_unit_test(test_deterministic_regardless_of_order),
        cmocka_unit_test(test_mesh_networks_modes),
        cmocka_unit_test(test_secret_auth_token),
        cmocka_unit_test(test_defaults_and_custom_values),
        cmocka_unit_test(test_objects_by_role),
        cmocka_unit_test(test_dns_managed_local_only),
        cmocka_unit_test(test_digest_follows_the_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
