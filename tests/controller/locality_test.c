/*
 * Proves the locality failover rule (controller/locality.h) through the desired-state function
 * the daemon and `meshctl render` share: a table of MeshCluster sets (name, region, failover
 * preference) and the failover pairs each must give, in any input order and in both the full
 * and the compact form; that the pairs reach the Helm values and never the istio ConfigMap's
 * keys; and a table of spec.locality.failover values validation must refuse, with the field.
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
#include "controller/locality.h"
#include "k8s/yaml.h"

/* One MeshCluster from "name:region:pref,pref" (region and preferences may be empty). */
static cJSON *mc_from(const char *desc)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", desc);
    char *name = buf, *region = strchr(buf, ':'), *prefs = NULL;
    if (region) {
        *region++ = '\0';
        prefs = strchr(region, ':');
        if (prefs)
            *prefs++ = '\0';
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "meshcluster.io/v1alpha1");
    cJSON_AddStringToObject(o, "kind", "MeshCluster");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "metadata"), "name", name);
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(spec, "tailscale"), "tailnet", "t.ts.net");
    cJSON *loc = cJSON_AddObjectToObject(spec, "locality");
    if (region && region[0])
        cJSON_AddStringToObject(loc, "region", region);
    if (prefs && prefs[0]) {
        cJSON *list = cJSON_AddArrayToObject(loc, "failover");
        for (char *p = strtok_r(prefs, ",", &save); p; p = strtok_r(NULL, ",", &save))
            cJSON_AddItemToArray(list, cJSON_CreateString(p));
    }
    return o;
}

/* The set from NULL-terminated descriptions, in the given order or reversed. */
static cJSON *set_from(const char *const *descs, int reversed)
{
    size_t n = 0;
    while (descs[n])
        n++;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, mc_from(descs[reversed ? n - 1 - i : i]));
    return arr;
}

/* The pairs as "from>to from>to", "" for none. */
static void pairs_text(const cJSON *lb, char *out, size_t len)
{
    out[0] = '\0';
    if (!lb)
        return;
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(lb, "enabled")));
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(lb, "failover"))
    {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s>%s", used ? " " : "",
                 cJSON_GetObjectItemCaseSensitive(p, "from")->valuestring,
                 cJSON_GetObjectItemCaseSensitive(p, "to")->valuestring);
    }
}

struct pair_case {
    const char *what;
    const char *set[6];
    const char *want;
};

static const struct pair_case pair_cases[] = {
    {"one region: nothing to fail over to", {"a:r1:", "b:r1:", NULL}, ""},
    {"no regions at all", {"a::", "b::", NULL}, ""},
    {"two regions fail over to each other", {"a:us:", "b:eu:", NULL}, "us>eu eu>us"},
    {"regions ordered by their first cluster by name",
     {"z:us:", "b:eu:", "a:ap:", NULL},
     "ap>eu eu>us us>ap"},
    {"a cluster without region takes no part", {"a:us:", "b::", "c:eu:", NULL}, "us>eu eu>us"},
    {"three regions default to a ring", {"a:r1:", "b:r2:", "c:r3:", NULL}, "r1>r2 r2>r3 r3>r1"},
    {"a preference wins over the ring", {"a:r1:r3", "b:r2:", "c:r3:", NULL}, "r1>r3 r2>r3 r3>r1"},
    {"an unknown preference is skipped for the next",
     {"a:r1:mars,r3", "b:r2:", "c:r3:", NULL},
     "r1>r3 r2>r3 r3>r1"},
    {"only unknown preferences: the ring",
     {"a:r1:mars", "b:r2:", "c:r3:", NULL},
     "r1>r2 r2>r3 r3>r1"},
    {"the region's first cluster by name with a usable preference decides",
     {"a:r1:", "b:r1:r3", "c:r1:r2", "d:r2:", "e:r3:", NULL},
     "r1>r3 r2>r3 r3>r1"},
    {"shared regions count once", {"a:us:", "b:us:", "c:eu:", "d:eu:", NULL}, "us>eu eu>us"},
    {"a refused cluster's region takes no part (self preference)",
     {"a:r1:", "b:r2:", "c:r3:r3", NULL},
     "r1>r2 r2>r1"},
};

static void check_pairs(const struct pair_case *tc, int reversed, int compact)
{
    cJSON *set = set_from(tc->set, reversed);
    struct mc_desired d;
    int rc = compact ? mc_desired_compute_compact(set, "a", NULL, NULL, 0, &d)
                     : mc_desired_compute(set, "a", NULL, NULL, 0, &d);
    assert_int_equal(rc, 0);
    char got[256];
    pairs_text(d.locality_lb, got, sizeof(got));
    if (strcmp(got, tc->want) != 0)
        fail_msg("%s (reversed %d, compact %d): got \"%s\", want \"%s\"", tc->what, reversed,
                 compact, got, tc->want);
    mc_desired_free(&d);
    cJSON_Delete(set);
}

static void test_pair_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(pair_cases) / sizeof(pair_cases[0]); i++)
        for (int reversed = 0; reversed < 2; reversed++)
            for (int compact = 0; compact < 2; compact++)
                check_pairs(&pair_cases[i], reversed, compact);
}

/* The values ConfigMap carries meshConfig.localityLbSetting; the istio ConfigMap's body holds
 * meshNetworks only (the mesh key is the installer's). */
static void test_written_to_helm_values_only(void **state)
{
    (void)state;
    const char *descs[] = {"a:us:", "b:eu:", NULL};
    cJSON *set = set_from(descs, 0);
    struct mc_desired d;
    assert_int_equal(mc_desired_compute(set, "a", NULL, NULL, 0, &d), 0);
    const struct mc_cluster_result *a = &d.clusters[mc_desired_cluster_index(&d, "a")];
    assert_true(a->objects[MC_ROLE_HELM_VALUES] >= 0);
    cJSON *values_cm = mc_desired_body(&d, (size_t)a->objects[MC_ROLE_HELM_VALUES]);
    const char *text = cJSON_GetObjectItemCaseSensitive(
                           cJSON_GetObjectItemCaseSensitive(values_cm, "data"), "values.yaml")
                           ->valuestring;
    char err[128];
    cJSON *values = k8s_yaml_parse_all(text, strlen(text), err, sizeof(err));
    assert_non_null(values);
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(values, 0), "meshConfig"),
        "localityLbSetting");
    char got[128];
    pairs_text(lb, got, sizeof(got));
    assert_string_equal(got, "us>eu eu>us");
    cJSON *istio_cm = mc_desired_body(&d, (size_t)a->objects[MC_ROLE_MESH_NETWORKS]);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(istio_cm, "data");
    assert_int_equal(cJSON_GetArraySize(data), 1);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(data, MC_MESH_NETWORKS_KEY));
    cJSON_Delete(istio_cm);
    cJSON_Delete(values);
    cJSON_Delete(values_cm);
    mc_desired_free(&d);
    cJSON_Delete(set);
}

struct refusal_case {
    const char *desc; /* the cluster "c" of a set that also has "a:us:" and "b:eu:" */
    const char *field;
};

static const struct refusal_case refusals[] = {
    {"c:ap:ap", "spec.locality.failover[0]"},
    {"c::us", "spec.locality.failover"},
    {"c:ap:us,eu,us", "spec.locality.failover[2]"},
    {"c:ap:us,bad/region", "spec.locality.failover[1]"},
    {"c:ap:r1,r2,r3,r4,r5,r6,r7,r8,r9", "spec.locality.failover"},
};

static void test_refusal_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        const char *descs[] = {"a:us:", "b:eu:", refusals[i].desc, NULL};
        cJSON *set = set_from(descs, 0);
        struct mc_desired d;
        assert_int_equal(mc_desired_compute(set, "a", NULL, NULL, 0, &d), 0);
        const struct mc_cluster_result *c = &d.clusters[mc_desired_cluster_index(&d, "c")];
        if (c->accepted || strcmp(c->why.reason, "InvalidFailover") != 0 ||
            strcmp(c->why.field, refusals[i].field) != 0)
            fail_msg("%s: accepted %d reason %s field %s, want InvalidFailover at %s",
                     refusals[i].desc, c->accepted, c->why.reason, c->why.field, refusals[i].field);
        /* The others go on: the two remaining regions still fail over. */
        char got[128];
        pairs_text(d.locality_lb, got, sizeof(got));
        assert_string_equal(got, "us>eu eu>us");
        mc_desired_free(&d);
        cJSON_Delete(set);
    }
}

/* A preference naming a region of no MeshCluster is accepted (and reported by doctor). */
static void test_unknown_preference_accepted(void **state)
{
    (void)state;
    const char *descs[] = {"a:us:mars", "b:eu:", NULL};
    cJSON *set = set_from(descs, 0);
    struct mc_desired d;
    assert_int_equal(mc_desired_compute(set, "a", NULL, NULL, 0, &d), 0);
    assert_true(d.clusters[mc_desired_cluster_index(&d, "a")].accepted);
    mc_desired_free(&d);
    struct mc_meshcluster a, b;
    assert_int_equal(mc_meshcluster_parse(cJSON_GetArrayItem(set, 0), &a, NULL), 0);
    assert_int_equal(mc_meshcluster_parse(cJSON_GetArrayItem(set, 1), &b, NULL), 0);
    const struct mc_meshcluster *both[] = {&a, &b};
    assert_string_equal(mc_locality_unknown_preference(&a, both, 2), "mars");
    assert_null(mc_locality_unknown_preference(&b, both, 2));
    mc_meshcluster_clear(&a);
    mc_meshcluster_clear(&b);
    cJSON_Delete(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_table),
        cmocka_unit_test(test_written_to_helm_values_only),
        cmocka_unit_test(test_refusal_table),
        cmocka_unit_test(test_unknown_preference_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
