/*
 * Proves controller/istiod_sync.c: a /debug/clusterz answer as istiod writes it gives each
 * remote's verdict (synced, syncing, timeout, closed, an unknown word), istiod's own cluster
 * (no secret) is never taken for a remote, a remote istiod has not listed is NotLoaded and past
 * the grace period a Warning case, a swap listing a remote twice counts as synced, and no
 * answer means unreachable; malformed answers are refused or their bad entries skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "controller/istiod_sync.h"

static const char *ANSWER =
    "[{\"id\":\"paris\",\"secretName\":\"\",\"syncStatus\":\"synced\"},"
    "{\"id\":\"tokyo\",\"secretName\":\"istio-system/istio-remote-secret-tokyo\","
    "\"syncStatus\":\"synced\"},"
    "{\"id\":\"lima\",\"secretName\":\"istio-system/istio-remote-secret-lima\","
    "\"syncStatus\":\"timeout\"},"
    "{\"id\":\"oslo\",\"secretName\":\"istio-system/istio-remote-secret-oslo\","
    "\"syncStatus\":\"syncing\"},"
    "{\"id\":\"rome\",\"secretName\":\"istio-system/istio-remote-secret-rome\","
    "\"syncStatus\":\"closed\"},"
    "{\"id\":\"rome\",\"secretName\":\"istio-system/istio-remote-secret-rome\","
    "\"syncStatus\":\"synced\"},"
    "{\"id\":\"kiev\",\"secretName\":\"istio-system/istio-remote-secret-kiev\","
    "\"syncStatus\":\"exploded\"},"
    "{\"id\":42,\"secretName\":\"x\"},\"junk\"]";

static void test_verdicts(void **state)
{
    (void)state;
    struct mc_istiod_clusters c;
    assert_int_equal(mc_istiod_clusters_parse(ANSWER, strlen(ANSWER), &c), 0);
    assert_int_equal(c.n, 7); /* the entry with a numeric id and the string are skipped */
    assert_int_equal(mc_istiod_sync_of(&c, "tokyo", 0), MC_ISTIOD_SYNCED);
    assert_int_equal(mc_istiod_sync_of(&c, "lima", 0), MC_ISTIOD_TIMEOUT);
    assert_int_equal(mc_istiod_sync_of(&c, "oslo", 0), MC_ISTIOD_SYNCING);
    assert_int_equal(mc_istiod_sync_of(&c, "rome", 0), MC_ISTIOD_SYNCED);
    assert_int_equal(mc_istiod_sync_of(&c, "kiev", 0), MC_ISTIOD_OTHER);
    assert_string_equal(mc_istiod_sync_reason(MC_ISTIOD_OTHER), "Unknown");
    /* istiod's own cluster has no secret: never a remote's verdict. */
    assert_int_equal(mc_istiod_sync_of(&c, "paris", 0), MC_ISTIOD_NOT_LOADED);
    assert_int_equal(mc_istiod_sync_of(&c, "nairobi", 1000), MC_ISTIOD_NOT_LOADED);
    assert_int_equal(mc_istiod_sync_of(&c, "nairobi", MC_ISTIOD_LOAD_GRACE_MS + 1),
                     MC_ISTIOD_NOT_LOADED_LATE);
    assert_string_equal(mc_istiod_sync_reason(MC_ISTIOD_NOT_LOADED_LATE), "NotLoaded");
    assert_int_equal(mc_istiod_sync_of(NULL, "tokyo", 0), MC_ISTIOD_UNREACHABLE);
    assert_string_equal(mc_istiod_sync_reason(MC_ISTIOD_UNREACHABLE), "IstiodUnreachable");
    mc_istiod_clusters_free(&c);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"", "{}", "null", "[", "{\"id\":\"x\"}", "\"synced\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct mc_istiod_clusters c;
        assert_int_equal(mc_istiod_clusters_parse(bad[i], strlen(bad[i]), &c), -EINVAL);
        assert_int_equal(c.n, 0);
        mc_istiod_clusters_free(&c);
    }
    char longid[600] = "[{\"id\":\"";
    memset(longid + strlen(longid), 'a', 300);
    strcat(longid, "\",\"secretName\":\"a/b\",\"syncStatus\":\"synced\"}]");
    struct mc_istiod_clusters c;
    assert_int_equal(mc_istiod_clusters_parse(longid, strlen(longid), &c), 0);
    assert_int_equal(c.n, 0);
    mc_istiod_clusters_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
