/*
 * Proves the pure MeshCluster status helpers: a condition keeps its lastTransitionTime while
 * its status stays the same (even when reason or message change) and takes the new time when
 * the status flips; a status equal to what the object holds needs no write, while any change
 * of a condition, observedGeneration, role or gateway address (including withdrawing it) does;
 * fields the controller does not own (status.trust) never force a write (Ready's rule is
 * conditions_test.c's). The compact form the informer caches MeshClusters in (each
 * condition one line, a message by its digest) gives the same answers as the objects, and
 * a generation no line can give back exactly leaves its condition an object.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "controller/meshcluster.h"
#include "controller/status.h"

static const char *T1 = "2026-01-01T00:00:00Z";
static const char *T2 = "2026-02-02T00:00:00Z";

static cJSON *build(const cJSON *existing, const char *egress_status, const char *reason,
                    long long gen, const char *addr, const char *now)
{
    struct mc_condition c[2] = {
        {MC_COND_ACCEPTED, "True", "Accepted", ""},
        {MC_COND_EGRESS_READY, egress_status, reason, "msg"},
    };
    struct mc_status_input in = {gen, "remote", addr, c, 2};
    return mc_status_build(existing, &in, now);
}

static const char *ltt(const cJSON *st, const char *type)
{
    const cJSON *c = mc_status_find_condition(st, type);
    assert_non_null(c);
    return cJSON_GetObjectItem(c, "lastTransitionTime")->valuestring;
}

static void test_transition_time_moves_only_on_status_change(void **state)
{
    (void)state;
    cJSON *a = build(NULL, "False", "ProxyNotReady", 1, NULL, T1);
    assert_string_equal(ltt(a, MC_COND_EGRESS_READY), T1);
    cJSON *b = build(a, "False", "EgressServiceMissing", 1, NULL, T2); /* reason only */
    assert_string_equal(ltt(b, MC_COND_EGRESS_READY), T1);
    assert_string_equal(ltt(b, MC_COND_ACCEPTED), T1);
    cJSON *c = build(b, "True", "ProxyReady", 1, NULL, T2); /* status flips */
    assert_string_equal(ltt(c, MC_COND_EGRESS_READY), T2);
    assert_string_equal(ltt(c, MC_COND_ACCEPTED), T1);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
}

static void test_equal_means_no_write(void **state)
{
    (void)state;
    cJSON *have = build(NULL, "True", "ProxyReady", 3, "gw.example", T1);
    /* What the server returns carries fields we do not own. */
    cJSON_AddItemToObject(have, "trust", cJSON_Parse("{\"rootCAFingerprint\":\"ab\"}"));
    cJSON *same = build(have, "True", "ProxyReady", 3, "gw.example", T2);
    assert_true(mc_status_equal(have, same));

    cJSON *reason = build(have, "True", "Other", 3, "gw.example", T2);
    assert_false(mc_status_equal(have, reason));
    cJSON *gen = build(have, "True", "ProxyReady", 4, "gw.example", T2);
    assert_false(mc_status_equal(have, gen));
    cJSON *addr = build(have, "True", "ProxyReady", 3, "other.example", T2);
    assert_false(mc_status_equal(have, addr));
    cJSON *no_addr = build(have, "True", "ProxyReady", 3, NULL, T2);
    assert_false(mc_status_equal(have, no_addr)); /* withdrawing the address is a write */
    assert_false(mc_status_equal(NULL, same));

    /* The same conditions in another order (server-side apply keeps the server's order, and a
     * MeshCluster accepted again after a rejection has its conditions in another one): no
     * write. */
    cJSON *reordered = cJSON_Duplicate(have, true);
    cJSON *rc = cJSON_GetObjectItem(reordered, "conditions");
    cJSON_AddItemToArray(rc, cJSON_DetachItemFromArray(rc, 0)); /* the first goes last */
    assert_true(mc_status_equal(reordered, same));
    cJSON *mc = cJSON_CreateObject();
    cJSON_AddItemToObject(mc, "status", reordered);
    mc_status_compact(mc, NULL); /* as the cache holds it: one line per condition */
    assert_true(mc_status_equal(reordered, same));
    assert_false(mc_status_equal(reordered, reason));
    cJSON_Delete(mc);

    cJSON_Delete(have);
    cJSON_Delete(same);
    cJSON_Delete(reason);
    cJSON_Delete(gen);
    cJSON_Delete(addr);
    cJSON_Delete(no_addr);
}

static void test_condition_fields(void **state)
{
    (void)state;
    cJSON *st = build(NULL, "False", "ProxyNotReady", 7, NULL, T1);
    const cJSON *c = mc_status_find_condition(st, MC_COND_EGRESS_READY);
    assert_string_equal(cJSON_GetObjectItem(c, "status")->valuestring, "False");
    assert_string_equal(cJSON_GetObjectItem(c, "reason")->valuestring, "ProxyNotReady");
    assert_string_equal(cJSON_GetObjectItem(c, "message")->valuestring, "msg");
    assert_int_equal((int)cJSON_GetObjectItem(c, "observedGeneration")->valuedouble, 7);
    assert_int_equal((int)cJSON_GetObjectItem(st, "observedGeneration")->valuedouble, 7);
    assert_string_equal(cJSON_GetObjectItem(st, "role")->valuestring, "remote");
    assert_null(cJSON_GetObjectItem(st, "gatewayAddress"));
    assert_null(mc_status_find_condition(st, "Nope"));
    assert_null(mc_status_find_condition(NULL, MC_COND_READY));
    cJSON_Delete(st);
}

static cJSON *conditions_of(const cJSON *st)
{
    return cJSON_GetObjectItem(st, "conditions");
}

static void test_compact_form(void **state)
{
    (void)state;
    cJSON *mc = cJSON_CreateObject();
    cJSON *st = build(NULL, "False", "ProxyNotReady", 3, "gw.example", T1);
    cJSON_AddItemToObject(mc, "status", st);
    /* A reason with a space cannot be a word of a line: that condition stays an object. */
    cJSON *odd = cJSON_Parse("{\"type\":\"Other\",\"status\":\"True\",\"reason\":\"has space\"}");
    cJSON_AddItemToArray(conditions_of(st), odd);
    mc_status_compact(mc, NULL);
    assert_string_equal(cJSON_GetArrayItem(conditions_of(st), 0)->valuestring,
                        "Accepted True 3 2026-01-01T00:00:00Z Accepted cbf29ce484222325");
    assert_string_equal(cJSON_GetArrayItem(conditions_of(st), 1)->valuestring,
                        "EgressReady False 3 2026-01-01T00:00:00Z ProxyNotReady 07e05a191745be82");
    assert_true(cJSON_IsObject(cJSON_GetArrayItem(conditions_of(st), 2)));
    /* Nor can "-", which a line uses for an absent field. */
    cJSON *dash = cJSON_Parse("{\"type\":\"Dash\",\"status\":\"True\",\"reason\":\"-\"}");
    cJSON *conds = conditions_of(st);
    cJSON_AddItemToArray(conds, dash);
    mc_status_compact(mc, NULL);
    assert_true(cJSON_IsObject(cJSON_GetArrayItem(conds, 3)));
    struct mc_condition_seen dash_seen;
    assert_true(mc_status_condition(st, "Dash", &dash_seen));
    assert_string_equal(dash_seen.reason, "-");
    cJSON_DeleteItemFromArray(conds, 3);

    struct mc_condition_seen seen;
    assert_true(mc_status_condition(st, MC_COND_EGRESS_READY, &seen));
    assert_string_equal(seen.status, "False");
    assert_string_equal(seen.reason, "ProxyNotReady");
    assert_string_equal(seen.last_transition, T1);
    assert_true(mc_status_condition(st, "Other", &seen));
    assert_string_equal(seen.reason, "has space");
    assert_false(mc_status_condition(st, MC_COND_READY, &seen));

    /* Three conditions cached, two wanted: a write. */
    cJSON *same = build(st, "False", "ProxyNotReady", 3, "gw.example", T2);
    assert_false(mc_status_equal(st, same));
    cJSON_DeleteItemFromArray(conditions_of(st), 2);
    /* Built over the lines: times carried over, nothing to write. */
    assert_string_equal(ltt(same, MC_COND_EGRESS_READY), T1);
    assert_true(mc_status_equal(st, same));
    /* A message is compared by its digest. */
    cJSON_ReplaceItemInObject(cJSON_GetArrayItem(conditions_of(same), 1), "message",
                              cJSON_CreateString("msg2"));
    assert_false(mc_status_equal(st, same));
    cJSON *reason = build(st, "False", "Other", 3, "gw.example", T2);
    assert_string_equal(ltt(reason, MC_COND_EGRESS_READY), T1);
    assert_false(mc_status_equal(st, reason));
    cJSON *flip = build(st, "True", "ProxyReady", 3, "gw.example", T2);
    assert_string_equal(ltt(flip, MC_COND_EGRESS_READY), T2);
    assert_string_equal(ltt(flip, MC_COND_ACCEPTED), T1);
    assert_false(mc_status_equal(st, flip));
    cJSON_Delete(same);
    cJSON_Delete(reason);
    cJSON_Delete(flip);
    cJSON_Delete(mc);
}

/* A generation a line could not give back exactly (too large for a double to hold every
 * integer, fractional, or beyond long long, where the conversion is undefined) keeps its
 * condition an object. */
static void test_compact_odd_generation(void **state)
{
    (void)state;
    static const char *gens[] = {"1e84", "18014398509481984", "1.5", "-1e300"};
    for (size_t i = 0; i < sizeof(gens) / sizeof(gens[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"status\":{\"conditions\":[{\"type\":\"A\",\"status\":\"True\","
                 "\"observedGeneration\":%s}]}}",
                 gens[i]);
        cJSON *mc = cJSON_Parse(text);
        assert_non_null(mc);
        mc_status_compact(mc, NULL);
        cJSON *st = cJSON_GetObjectItem(mc, "status");
        assert_true(cJSON_IsObject(cJSON_GetArrayItem(conditions_of(st), 0)));
        cJSON_Delete(mc);
    }
    cJSON *mc = cJSON_Parse("{\"status\":{\"conditions\":[{\"type\":\"A\",\"status\":"
                            "\"True\",\"observedGeneration\":9007199254740992}]}}");
    mc_status_compact(mc, NULL);
    assert_string_equal(
        cJSON_GetArrayItem(conditions_of(cJSON_GetObjectItem(mc, "status")), 0)->valuestring,
        "A True 9007199254740992 - - -");
    cJSON_Delete(mc);
}

/* Integer fields are read only when whole and in range; NaN and infinities never are. */
static void test_json_integer(void **state)
{
    (void)state;
    long long v = -7;
    cJSON *n = cJSON_CreateNumber(65535);
    assert_true(mc_json_integer(n, 0, 65535, &v));
    assert_int_equal(v, 65535);
    cJSON_SetNumberValue(n, 65536);
    assert_false(mc_json_integer(n, 0, 65535, &v));
    cJSON_SetNumberValue(n, 1e300);
    assert_false(mc_json_integer(n, 0, MC_JSON_INTEGER_MAX, &v));
    cJSON_SetNumberValue(n, 2.5);
    assert_false(mc_json_integer(n, 0, 10, &v));
    cJSON_SetNumberValue(n, NAN);
    assert_false(mc_json_integer(n, 0, 10, &v));
    cJSON_SetNumberValue(n, -INFINITY);
    assert_false(mc_json_integer(n, -10, 10, &v));
    cJSON_SetNumberValue(n, -3);
    assert_true(mc_json_integer(n, -10, 10, &v));
    assert_int_equal(v, -3);
    cJSON *s = cJSON_CreateString("3");
    assert_false(mc_json_integer(s, 0, 10, &v));
    assert_false(mc_json_integer(NULL, 0, 10, &v));
    assert_int_equal(v, -3);
    cJSON_Delete(s);
    cJSON_Delete(n);
}

static void test_now_format(void **state)
{
    (void)state;
    char buf[32];
    mc_status_now(buf, sizeof(buf));
    assert_int_equal(strlen(buf), 20);
    assert_int_equal(buf[10], 'T');
    assert_int_equal(buf[19], 'Z');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transition_time_moves_only_on_status_change),
        cmocka_unit_test(test_equal_means_no_write),
        cmocka_unit_test(test_condition_fields),
        cmocka_unit_test(test_compact_form),
        cmocka_unit_test(test_compact_odd_generation),
        cmocka_unit_test(test_json_integer),
        cmocka_unit_test(test_now_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
