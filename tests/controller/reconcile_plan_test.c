/*
 * Proves the pure reconcile plan (controller/reconcile_plan.c): an empty cluster gets one
 * create per desired object (the istio ConfigMap and namespace are waited for, never
 * created); once the objects exist as the API server and other controllers leave them
 * (defaulted fields, the Tailscale operator's externalName, Helm's labels) the plan is empty;
 * drift yields exactly one apply; objects of a removed MeshCluster are deleted, objects not
 * ours never are; a gateway Service of another loadBalancerClass is blocked, or replaced
 * when allowed; hand-made objects from the guide are adopted in place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/reconcile_plan.h"

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

static void desired_for(size_t n, struct mc_desired *d)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 1; i <= n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "cluster%zu", i);
        cJSON_AddItemToArray(arr, mc(name));
    }
    assert_int_equal(mc_desired_compute(arr, "cluster1", NULL, NULL, 0, d), 0);
    cJSON_Delete(arr);
}

static size_t count(const struct mc_plan *p, enum mc_plan_action a)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nitems; i++)
        n += p->items[i].action == a;
    return n;
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

static void test_empty_cluster_creates_everything(void **state)
{
    (void)state;
    struct mc_desired d;
    desired_for(3, &d);
    struct mc_plan p;
    assert_int_equal(mc_plan_compute(&d, NULL, NULL, &p), 0);
    assert_int_equal(count(&p, MC_PLAN_WAIT), 2); /* namespace and istio ConfigMap */
    assert_int_equal(count(&p, MC_PLAN_CREATE), d.nobjects - 2);
    assert_int_equal(p.nitems, d.nobjects);
    for (size_t i = 0; i < p.nitems; i++) {
        if (p.items[i].action != MC_PLAN_CREATE || strcmp(p.items[i].kind, "Service") != 0)
            continue;
        /* Creates carry create-only fields: egress Services are born with "placeholder". */
        cJSON *en =
            cJSON_GetObjectItem(cJSON_GetObjectItem(p.items[i].body, "spec"), "externalName");
        if (strstr(p.items[i].name, "-ts") || strstr(p.items[i].name, "k8s-operator"))
            assert_string_equal(en->valuestring, "placeholder");
    }
    mc_plan_free(&p);
    mc_desired_free(&d);
}

static void test_steady_state_is_zero_writes(void **state)
{
    (void)state;
    struct mc_desired d;
    desired_for(3, &d);
    cJSON *cur = converged(&d);
    struct mc_plan p;
    assert_int_equal(mc_plan_compute(&d, cur, NULL, &p), 0);
    if (p.nitems)
        fail_msg("%zu writes in steady state, first %s %s: %s", p.nitems, p.items[0].kind,
                 p.items[0].name, p.items[0].why);
    assert_int_equal(p.unchanged, d.nobjects);
    mc_plan_free(&p);
    cJSON_Delete(cur);
    mc_desired_free(&d);
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

static void test_drift_is_one_apply(void **state)
{
    (void)state;
    struct mc_desired d;
    desired_for(2, &d);
    cJSON *cur = converged(&d);
    cJSON *secret = find_cur(cur, "Secret", "istio-remote-secret-cluster2");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(secret, "data"), "cluster2",
                              cJSON_CreateString("ZWRpdGVk"));
    cJSON *alias = find_cur(cur, "Service", "cluster2-istio-eastwestgateway");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(alias, "spec"), "externalName",
                              cJSON_CreateString("elsewhere"));
    struct mc_plan p;
    assert_int_equal(mc_plan_compute(&d, cur, NULL, &p), 0);
    assert_int_equal(p.nitems, 2);
    assert_int_equal(count(&p, MC_PLAN_APPLY), 2);
    /* Update bodies never carry create-only fields; the alias's externalName is ours. */
    for (size_t i = 0; i < p.nitems; i++)
        if (strcmp(p.items[i].kind, "Service") == 0)
            assert_string_equal(
                cJSON_GetObjectItem(cJSON_GetObjectItem(p.items[i].body, "spec"), "externalName")
                    ->valuestring,
                "cluster2-istio-eastwestgateway-ts.istio-system.svc.cluster.local");
    mc_plan_free(&p);
    cJSON_Delete(cur);
    mc_desired_free(&d);
}

static void test_removed_cluster_is_deleted_but_not_others_objects(void **state)
{
    (void)state;
    struct mc_desired d3, d2;
    desired_for(3, &d3);
    desired_for(2, &d2);
    cJSON *cur = converged(&d3);
    cJSON_AddItemToArray(cur, cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Service\","
                                          "\"metadata\":{\"name\":\"cluster9-k8s-operator\","
                                          "\"namespace\":\"tailscale\"},\"spec\":{}}"));
    struct mc_plan p;
    assert_int_equal(mc_plan_compute(&d2, cur, NULL, &p), 0);
    /* cluster3's four objects go (not the unlabelled one); both meshNetworks shrink. */
    assert_int_equal(p.nitems, 6);
    assert_int_equal(count(&p, MC_PLAN_DELETE), 4);
    assert_int_equal(count(&p, MC_PLAN_APPLY), 2);
    for (size_t i = 0; i < p.nitems; i++) {
        if (p.items[i].action == MC_PLAN_APPLY) {
            assert_string_equal(p.items[i].kind, "ConfigMap");
            continue;
        }
        assert_string_equal(p.items[i].cluster, "cluster3");
        assert_true(i >= 2); /* deletes come last */
    }
    assert_string_equal(p.items[2].kind, "Secret"); /* then sorted by kind */
    mc_plan_free(&p);
    cJSON_Delete(cur);
    mc_desired_free(&d3);
    mc_desired_free(&d2);
}

static void test_load_balancer_class_blocked_or_replaced(void **state)
{
    (void)state;
    struct mc_desired d;
    desired_for(2, &d);
    cJSON *cur = converged(&d);
    cJSON *gw = find_cur(cur, "Service", "istio-eastwestgateway");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(gw, "spec"), "loadBalancerClass",
                              cJSON_CreateString("metallb"));
    struct mc_plan p;
    assert_int_equal(mc_plan_compute(&d, cur, NULL, &p), 0);
    assert_int_equal(p.nitems, 1);
    assert_int_equal(p.items[0].action, MC_PLAN_BLOCKED);
    assert_null(p.items[0].body);
    assert_non_null(strstr(p.items[0].why, "metallb"));
    mc_plan_free(&p);
    struct mc_plan_options o = {.allow_replace = 1};
    assert_int_equal(mc_plan_compute(&d, cur, &o, &p), 0);
    assert_int_equal(p.items[0].action, MC_PLAN_REPLACE);
    assert_non_null(p.items[0].body);
    mc_plan_free(&p);
    cJSON_Delete(cur);
    mc_desired_free(&d);
}

static void test_adopts_hand_made_objects(void **state)
{
    (void)state;
    struct mc_desired d;
    desired_for(2, &d);
    /* The guide's objects, made by hand: no managed-by label, Gateway as v1. */
    cJSON *cur = converged(&d);
    for (cJSON *o = cur->child; o; o = o->next) {
        cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "labels");
        cJSON_DeleteItemFromObject(labels, MC_LABEL_MANAGED_BY);
        cJSON_DeleteItemFromObject(labels, MC_LABEL_CLUSTER);
        if (strcmp(cJSON_GetObjectItem(o, "kind")->valuestring, "Gateway") == 0)
            cJSON_ReplaceItemInObject(o, "apiVersion",
                                      cJSON_CreateString("networking.istio.io/v1"));
    }
    struct mc_plan p;
    assert_int_equal(mc_plan_compute(&d, cur, NULL, &p), 0);
    /* Every owned object is re-applied in place (to add our labels), none created or deleted. */
    assert_int_equal(count(&p, MC_PLAN_CREATE), 0);
    assert_int_equal(count(&p, MC_PLAN_DELETE), 0);
    assert_int_equal(count(&p, MC_PLAN_APPLY), d.nobjects - 2);
    mc_plan_free(&p);
    cJSON_Delete(cur);
    mc_desired_free(&d);
}

static void test_subset(void **state)
{
    (void)state;
    cJSON *w = cJSON_Parse("{\"a\":[{\"p\":1}],\"b\":\"x\"}");
    cJSON *h1 = cJSON_Parse("{\"a\":[{\"p\":1,\"q\":2}],\"b\":\"x\",\"c\":3}");
    cJSON *h2 = cJSON_Parse("{\"a\":[{\"p\":1},{\"p\":2}],\"b\":\"x\"}");
    cJSON *h3 = cJSON_Parse("{\"a\":[{\"p\":\"1\"}],\"b\":\"x\"}");
    assert_true(mc_plan_subset(w, h1));
    assert_false(mc_plan_subset(w, h2));
    assert_false(mc_plan_subset(w, h3));
    cJSON_Delete(w);
    cJSON_Delete(h1);
    cJSON_Delete(h2);
    cJSON_Delete(h3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_cluster_creates_everything),
        cmocka_unit_test(test_steady_state_is_zero_writes),
        cmocka_unit_test(test_drift_is_one_apply),
        cmocka_unit_test(test_removed_cluster_is_deleted_but_not_others_objects),
        cmocka_unit_test(test_load_balancer_class_blocked_or_replaced),
        cmocka_unit_test(test_adopts_hand_made_objects),
        cmocka_unit_test(test_subset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
