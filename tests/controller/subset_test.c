/*
 * Proves controller/subset.c, the comparison the live reconciler uses to skip applies the
 * cache already satisfies: for a 3-cluster mesh every desired body (without create-only
 * fields) is satisfied by the object as the API server and other controllers leave it
 * (defaulted fields, the Tailscale operator's externalName, istiod's other keys and Helm's
 * labels), so the steady state costs no write; one changed field we set, one item added to a
 * list we set, or a value of another JSON type is not satisfied (drift is repaired). Objects
 * as a relist gives them (no apiVersion, no kind) satisfy mc_subset_body, and the text form of
 * the desired state holds the same bodies.
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
#include "controller/subset.h"
#include "k8s/store.h"

static cJSON *mc(const char *name)
{
    char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"apiVersion\":\"meshcluster.io/v1alpha1\",\"kind\":\"MeshCluster\","
             "\"metadata\":{\"name\":\"%s\"},\"spec\":{\"tailscale\":{\"tailnet\":"
             "\"your-tailnet.ts.net\"}}}",
             name);
    return cJSON_Parse(buf);
}

/* MeshClusters cluster1..clusterN. */
static cJSON *meshclusters(size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 1; i <= n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "cluster%zu", i);
        cJSON_AddItemToArray(arr, mc(name));
    }
    return arr;
}

static void desired_for(size_t n, struct mc_desired *d)
{
    cJSON *arr = meshclusters(n);
    assert_int_equal(mc_desired_compute(arr, "cluster1", NULL, NULL, 0, d), 0);
    cJSON_Delete(arr);
}

/* What the cluster holds after our creates: server defaults and other writers added. */
static cJSON *as_server_would_store(const cJSON *body)
{
    cJSON *o = cJSON_Duplicate(body, 1);
    cJSON *meta = cJSON_GetObjectItem(o, "metadata");
    cJSON_AddStringToObject(meta, "uid", "0000-1111");
    cJSON_AddStringToObject(meta, "resourceVersion", "42");
    cJSON *spec = cJSON_GetObjectItem(o, "spec");
    const char *kind = cJSON_GetObjectItem(o, "kind")->valuestring;
    if (strcmp(kind, "Service") == 0) {
        cJSON *type = cJSON_GetObjectItem(spec, "type");
        cJSON *en = cJSON_GetObjectItem(spec, "externalName");
        if (en && strcmp(en->valuestring, "placeholder") == 0) /* the Tailscale operator */
            cJSON_ReplaceItemInObject(
                spec, "externalName",
                cJSON_CreateString("ts-egress-abc.tailscale.svc.cluster.local"));
        cJSON_AddStringToObject(spec, "sessionAffinity", "None");
        for (cJSON *p = cJSON_GetObjectItem(spec, "ports")->child; p; p = p->next) {
            if (!cJSON_GetObjectItem(p, "targetPort"))
                cJSON_AddNumberToObject(p, "targetPort", cJSON_GetObjectItem(p, "port")->valueint);
            if (strcmp(type->valuestring, "LoadBalancer") == 0)
                cJSON_AddNumberToObject(p, "nodePort", 31000);
        }
        if (strcmp(type->valuestring, "LoadBalancer") == 0)
            cJSON_AddStringToObject(spec, "clusterIP", "10.0.0.9");
    }
    return o;
}

static cJSON *converged(const struct mc_desired *d)
{
    cJSON *cur = cJSON_CreateArray();
    for (size_t i = 0; i < d->nobjects; i++) {
        cJSON *o = as_server_would_store(d->objects[i].object);
        if (strcmp(cJSON_GetObjectItem(o, "kind")->valuestring, "ConfigMap") == 0 &&
            strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "name")->valuestring,
                   "istio") == 0) {
            /* istiod's ConfigMap holds more than our key, with Helm's labels. */
            cJSON_AddStringToObject(cJSON_GetObjectItem(o, "data"), "mesh", "defaultConfig: {}\n");
            cJSON *labels = cJSON_AddObjectToObject(cJSON_GetObjectItem(o, "metadata"), "labels");
            cJSON_AddStringToObject(labels, "app.kubernetes.io/managed-by", "Helm");
        }
        cJSON_AddItemToArray(cur, o);
    }
    return cur;
}

static cJSON *find_cur(cJSON *cur, const char *kind, const char *name)
{
    for (cJSON *o = cur->child; o; o = o->next)
        if (strcmp(cJSON_GetObjectItem(o, "kind")->valuestring, kind) == 0 &&
            strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "name")->valuestring,
                   name) == 0)
            return o;
    fail_msg("no %s %s", kind, name);
    return NULL;
}

static void test_steady_state_is_satisfied(void **state)
{
    (void)state;
    struct mc_desired d;
    desired_for(3, &d);
    cJSON *cur = converged(&d);
    size_t i = 0;
    for (const cJSON *have = cur->child; have; have = have->next, i++) {
        cJSON *update = mc_desired_object_for_update(&d.objects[i]);
        if (!mc_subset(update, have))
            fail_msg(
                "%s %s would be written in steady state",
                cJSON_GetObjectItem(have, "kind")->valuestring,
                cJSON_GetObjectItem(cJSON_GetObjectItem(have, "metadata"), "name")->valuestring);
        cJSON_Delete(update);
    }
    assert_int_equal(i, d.nobjects);
    cJSON_Delete(cur);
    mc_desired_free(&d);
}

/* After a relist the cache holds list items, which the API server sends without apiVersion
 * and kind for built-in kinds: they must still satisfy the body (a restarted daemon wrote every
 * object once more before mc_subset_body), and a real difference must still show. */
static void test_listed_items_satisfy_the_body(void **state)
{
    (void)state;
    struct mc_desired d;
    desired_for(3, &d);
    cJSON *cur = converged(&d);
    size_t i = 0;
    for (cJSON *have = cur->child; have; have = have->next, i++) {
        cJSON_DeleteItemFromObject(have, "apiVersion");
        cJSON_DeleteItemFromObject(have, "kind");
        cJSON *update = mc_desired_object_for_update(&d.objects[i]);
        assert_false(mc_subset(update, have)); /* the plain comparison sees the missing kind */
        assert_true(mc_subset_body(update, have));
        cJSON *md = cJSON_GetObjectItem(have, "metadata");
        cJSON_ReplaceItemInObject(md, "name", cJSON_CreateString("renamed"));
        assert_false(mc_subset_body(update, have));
        cJSON_Delete(update);
    }
    assert_int_equal(i, d.nobjects);
    cJSON_Delete(cur);
    mc_desired_free(&d);
}

/* The daemon keeps its desired state compact (mc_desired_compute_compact): every body it
 * gives back, kept as text or rebuilt from a remote's spec, is the one the tree form holds;
 * a remote whose secret waits for its token, or with one, rebuilds the same too. */
static void test_compact_bodies_are_the_same(void **state)
{
    (void)state;
    cJSON *mcs = meshclusters(3);
    /* cluster3 authenticates with a token read from a Secret. */
    cJSON *rs = cJSON_AddObjectToObject(cJSON_GetObjectItem(cJSON_GetArrayItem(mcs, 2), "spec"),
                                        "remoteSecret");
    cJSON_AddStringToObject(rs, "auth", "secret");
    cJSON *ref = cJSON_AddObjectToObject(rs, "secretRef");
    cJSON_AddStringToObject(ref, "namespace", "tailscale");
    cJSON_AddStringToObject(ref, "name", "cluster3-token");
    struct mc_remote_token tok = {"cluster3", "s3cr3t"};
    for (size_t ntok = 0; ntok <= 1; ntok++) {
        struct mc_desired d, t;
        assert_int_equal(mc_desired_compute(mcs, "cluster1", NULL, &tok, ntok, &d), 0);
        assert_int_equal(mc_desired_compute_compact(mcs, "cluster1", NULL, &tok, ntok, &t), 0);
        assert_int_equal(t.nobjects, d.nobjects);
        size_t rebuilt = 0;
        for (size_t i = 0; i < d.nobjects; i++) {
            assert_null(t.objects[i].object);
            rebuilt += t.objects[i].text == NULL;
            char *a = cJSON_PrintUnformatted(d.objects[i].object);
            cJSON *body = mc_desired_body(&t, i);
            assert_non_null(body);
            char *b = cJSON_PrintUnformatted(body);
            assert_string_equal(a, b);
            assert_string_equal(d.objects[i].cluster, t.objects[i].cluster);
            assert_int_equal(d.objects[i].flags, t.objects[i].flags);
            /* The identity kept beside each body is the body's. */
            char key[400];
            assert_true(k8s_object_key(body, key, sizeof(key)) > 0);
            assert_string_equal(t.objects[i].key, key);
            assert_string_equal(d.objects[i].key, key);
            assert_string_equal(t.objects[i].kind, cJSON_GetObjectItem(body, "kind")->valuestring);
            free(a);
            free(b);
            cJSON_Delete(body);
        }
        /* Two remotes, three Services each, and a secret for cluster2 plus one for cluster3
         * once its token is known. */
        assert_int_equal(rebuilt, 7 + ntok);
        assert_null(mc_desired_body(&t, t.nobjects));
        mc_desired_free(&t);
        mc_desired_free(&d);
    }
    cJSON_Delete(mcs);
}

static const struct mc_desired_object *desired(const struct mc_desired *d, const char *kind,
                                               const char *name)
{
    for (size_t i = 0; i < d->nobjects; i++) {
        const cJSON *o = d->objects[i].object;
        if (strcmp(cJSON_GetObjectItem(o, "kind")->valuestring, kind) == 0 &&
            strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "name")->valuestring,
                   name) == 0)
            return &d->objects[i];
    }
    fail_msg("no desired %s %s", kind, name);
    return NULL;
}

static void test_drift_is_not_satisfied(void **state)
{
    (void)state;
    struct mc_desired d;
    desired_for(2, &d);
    cJSON *cur = converged(&d);

    /* A remote secret's kubeconfig edited. */
    const struct mc_desired_object *want = desired(&d, "Secret", "istio-remote-secret-cluster2");
    cJSON *have = find_cur(cur, "Secret", "istio-remote-secret-cluster2");
    assert_true(mc_subset(want->object, have));
    cJSON *data = cJSON_GetObjectItem(have, "stringData");
    if (!data)
        data = cJSON_GetObjectItem(have, "data");
    assert_non_null(data && data->child);
    cJSON_ReplaceItemInObject(data, data->child->string, cJSON_CreateString("edited"));
    assert_false(mc_subset(want->object, have));

    /* A port added to the gateway Service by hand. */
    want = desired(&d, "Service", "istio-eastwestgateway");
    have = find_cur(cur, "Service", "istio-eastwestgateway");
    cJSON *update = mc_desired_object_for_update(want);
    assert_true(mc_subset(update, have));
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddStringToObject(extra, "name", "http");
    cJSON_AddNumberToObject(extra, "port", 80);
    cJSON_AddItemToArray(cJSON_GetObjectItem(cJSON_GetObjectItem(have, "spec"), "ports"), extra);
    assert_false(mc_subset(update, have));
    cJSON_Delete(update);

    /* Our label removed from the istio namespace. */
    want = desired(&d, "Namespace", "istio-system");
    have = find_cur(cur, "Namespace", "istio-system");
    assert_true(mc_subset(want->object, have));
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cJSON_GetObjectItem(have, "metadata"), "labels"),
                               "topology.istio.io/network");
    assert_false(mc_subset(want->object, have));

    cJSON_Delete(cur);
    mc_desired_free(&d);
}

static void test_subset_rules(void **state)
{
    (void)state;
    cJSON *w = cJSON_Parse("{\"a\":[{\"p\":1}],\"b\":\"x\"}");
    cJSON *h1 = cJSON_Parse("{\"a\":[{\"p\":1,\"q\":2}],\"b\":\"x\",\"c\":3}");
    cJSON *h2 = cJSON_Parse("{\"a\":[{\"p\":1},{\"p\":2}],\"b\":\"x\"}");
    cJSON *h3 = cJSON_Parse("{\"a\":[{\"p\":\"1\"}],\"b\":\"x\"}");
    assert_true(mc_subset(w, h1));  /* extra fields, in objects and list items, are others' */
    assert_false(mc_subset(w, h2)); /* an extra list item is not */
    assert_false(mc_subset(w, h3)); /* nor a value of another type */
    assert_false(mc_subset(w, NULL));
    assert_true(mc_subset(NULL, h1));
    /* A list of objects is a set: the server's order after a merge is no difference (14.2),
     * but each wanted item needs its own match; a list of scalars keeps its order. */
    cJSON *wl = cJSON_Parse("[{\"p\":1},{\"p\":2},{\"p\":2}]");
    cJSON *hl1 = cJSON_Parse("[{\"p\":2,\"n\":1},{\"p\":1},{\"p\":2}]");
    cJSON *hl2 = cJSON_Parse("[{\"p\":2},{\"p\":1},{\"p\":1}]");
    cJSON *ws = cJSON_Parse("[\"a\",\"b\"]");
    cJSON *hs = cJSON_Parse("[\"b\",\"a\"]");
    assert_true(mc_subset(wl, hl1));
    assert_false(mc_subset(wl, hl2));
    assert_false(mc_subset(ws, hs));
    /* A Service's ports may carry another writer's entries; anything else may not. */
    cJSON *ws2 = cJSON_Parse("{\"kind\":\"Service\",\"spec\":{\"ports\":[{\"port\":1}]}}");
    cJSON *hs2 = cJSON_Parse("{\"spec\":{\"ports\":[{\"port\":9},{\"port\":1}]}}");
    cJSON *hs3 = cJSON_Parse("{\"spec\":{\"ports\":[{\"port\":9}]}}");
    assert_true(mc_subset_body(ws2, hs2));
    assert_false(mc_subset_body(ws2, hs3));
    cJSON_ReplaceItemInObject(ws2, "kind", cJSON_CreateString("Gateway"));
    assert_false(mc_subset_body(ws2, hs2));
    cJSON_Delete(ws2);
    cJSON_Delete(hs2);
    cJSON_Delete(hs3);
    cJSON_Delete(wl);
    cJSON_Delete(hl1);
    cJSON_Delete(hl2);
    cJSON_Delete(ws);
    cJSON_Delete(hs);
    cJSON_Delete(w);
    cJSON_Delete(h1);
    cJSON_Delete(h2);
    cJSON_Delete(h3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_state_is_satisfied),
        cmocka_unit_test(test_listed_items_satisfy_the_body),
        cmocka_unit_test(test_compact_bodies_are_the_same),
        cmocka_unit_test(test_drift_is_not_satisfied),
        cmocka_unit_test(test_subset_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
