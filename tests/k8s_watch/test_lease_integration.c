/*
 * Proves leader election against the test API server, with short durations (lease 3 s, renew
 * deadline 2 s, retry 200 ms): of two candidates exactly one leads, and at no observed moment do
 * both believe they lead (checked at every leadership callback and every 20 ms); after the
 * leader releases, the standby takes over and the Lease shows the new holder; after a leader
 * stops renewing without releasing, the standby takes over once the lease has expired.
 * Also proves the event recorder aggregates: the same event recorded 20 times ends as ONE Event
 * with count 20, updated by PATCH instead of new objects, and a different reason is another.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"
#include "k8s/events.h"
#include "k8s/lease.h"

typedef struct {
    k8s_lease *cand[3];
    int started[3], stopped[3];
    int both_leading; /* violations seen */
    uv_timer_t check;
} election;

static void check_invariant(election *e)
{
    int leaders = 0;
    for (int i = 0; i < 3; i++)
        if (e->cand[i] && k8s_lease_is_leader(e->cand[i]))
            leaders++;
    if (leaders > 1)
        e->both_leading++;
}

static int index_of(election *e, k8s_lease *l)
{
    for (int i = 0; i < 3; i++)
        if (e->cand[i] == l)
            return i;
    fail();
    return -1;
}

static void on_started(k8s_lease *l, void *data)
{
    election *e = data;
    e->started[index_of(e, l)]++;
    check_invariant(e);
}

static void on_stopped(k8s_lease *l, void *data)
{
    election *e = data;
    e->stopped[index_of(e, l)]++;
    check_invariant(e);
}

static void on_check_timer(uv_timer_t *t)
{
    check_invariant(t->data);
}

static k8s_lease *candidate(k8s_client *c, election *e, int i)
{
    k8s_lease_opts o = {
        .namespace = "default",
        .name = "meshcluster-test-leader",
        .lease_duration_ms = 3000,
        .renew_deadline_ms = 2000,
        .retry_period_ms = 200,
        .on_started_leading = on_started,
        .on_stopped_leading = on_stopped,
        .data = e,
        .seed = 100 + (uint64_t)i,
    };
    k8s_lease *l = NULL;
    assert_int_equal(k8s_lease_new(c, &o, &l), 0);
    e->cand[i] = l;
    assert_int_equal(k8s_lease_start(l), 0);
    return l;
}

typedef struct {
    election *e;
    int idx;
} which;

static bool is_leader(void *data)
{
    which *w = data;
    return w->e->cand[w->idx] && k8s_lease_is_leader(w->e->cand[w->idx]);
}

static bool any_leader(void *data)
{
    election *e = data;
    for (int i = 0; i < 3; i++)
        if (e->cand[i] && k8s_lease_is_leader(e->cand[i]))
            return true;
    return false;
}

static void on_lease_stopped(k8s_lease *l, void *data)
{
    *(int *)data = 1;
}

static void stop_candidate(uv_loop_t *loop, election *e, int i, bool release)
{
    int done = 0;
    k8s_lease_close(e->cand[i], release, on_lease_stopped, &done);
    assert_false(k8s_lease_is_leader(e->cand[i]));
    for (int n = 0; n < 100000 && !done; n++)
        uv_run(loop, UV_RUN_ONCE);
    assert_true(done);
    k8s_lease_free(e->cand[i]);
    e->cand[i] = NULL;
}

static char *lease_holder(uv_loop_t *loop, k8s_client *c)
{
    k8s_request_opts o = {.verb = K8S_VERB_GET,
                          .ref = {.group = "coordination.k8s.io",
                                  .version = "v1",
                                  .resource = "leases",
                                  .namespace = "default",
                                  .name = "meshcluster-test-leader"}};
    cJSON *lease = NULL;
    assert_int_equal(itest_call(loop, c, &o, &lease), K8S_OK);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(lease, "spec"), "holderIdentity");
    char *out = strdup(cJSON_IsString(h) ? h->valuestring : "");
    cJSON_Delete(lease);
    return out;
}

static void test_leader_election(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = itest_client(&loop);
    election e = {0};
    uv_timer_init(&loop, &e.check);
    e.check.data = &e;
    uv_timer_start(&e.check, on_check_timer, 20, 20);

    candidate(c, &e, 0);
    candidate(c, &e, 1);
    assert_string_not_equal(k8s_lease_identity(e.cand[0]), k8s_lease_identity(e.cand[1]));
    assert_true(itest_wait(&loop, any_leader, &e, 20000));
    itest_sleep(&loop, 1000); /* several retry periods: the standby must stay standby */
    int leader = k8s_lease_is_leader(e.cand[0]) ? 0 : 1;
    int standby = 1 - leader;
    assert_true(k8s_lease_is_leader(e.cand[leader]));
    assert_false(k8s_lease_is_leader(e.cand[standby]));
    char *holder = lease_holder(&loop, c);
    assert_string_equal(holder, k8s_lease_identity(e.cand[leader]));
    free(holder);

    /* Clean release: the standby takes over. */
    stop_candidate(&loop, &e, leader, true);
    which w = {&e, standby};
    assert_true(itest_wait(&loop, is_leader, &w, 20000));
    holder = lease_holder(&loop, c);
    assert_string_equal(holder, k8s_lease_identity(e.cand[standby]));
    free(holder);

    /* A new standby joins; then the leader goes silent without releasing. */
    candidate(c, &e, 2);
    itest_sleep(&loop, 1000);
    assert_false(k8s_lease_is_leader(e.cand[2]));
    stop_candidate(&loop, &e, standby, false);
    which w2 = {&e, 2};
    assert_true(itest_wait(&loop, is_leader, &w2, 20000));
    holder = lease_holder(&loop, c);
    assert_string_equal(holder, k8s_lease_identity(e.cand[2]));
    free(holder);

    stop_candidate(&loop, &e, 2, true);
    assert_int_equal(e.both_leading, 0);
    assert_true(e.started[0] + e.started[1] + e.started[2] >= 3);
    uv_close((uv_handle_t *)&e.check, NULL);
    itest_close(&loop, c);
}

/* ------------------------------------------------------------------------------------------ */

typedef struct {
    k8s_event_recorder *r;
    unsigned long want_writes;
} rec_wait;

static bool recorder_idle(void *data)
{
    rec_wait *rw = data;
    k8s_event_stats st;
    k8s_event_recorder_get_stats(rw->r, &st);
    return k8s_event_recorder_in_flight(rw->r) == 0 && st.created + st.patched >= rw->want_writes;
}

static void on_recorder_stopped(k8s_event_recorder *r, void *data)
{
    *(int *)data = 1;
}

static void stop_recorder(uv_loop_t *loop, k8s_event_recorder *r)
{
    int stopped = 0;
    k8s_event_recorder_close(r, on_recorder_stopped, &stopped);
    assert_int_equal(stopped, 0); /* libuv's rule: the callback never runs inside stop */
    for (int i = 0; i < 100000 && !stopped; i++)
        uv_run(loop, UV_RUN_ONCE);
    assert_true(stopped);
    k8s_event_recorder_free(r);
}

static void test_event_aggregation(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = itest_client(&loop);
    k8s_event_recorder_opts ro = {.component = "meshcluster-test", .instance = "pod-1"};
    k8s_event_recorder *r = NULL;
    assert_int_equal(k8s_event_recorder_new(c, &ro, &r), 0);
    cJSON *obj =
        cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
                    "{\"name\":\"evt-target\",\"namespace\":\"default\",\"uid\":\"u-1\"}}");
    for (int i = 0; i < 20; i++) {
        assert_int_equal(k8s_event_record(r, obj, "Warning", "SyncFailed", "it broke"), 0);
        if (i == 9)
            itest_sleep(&loop, 200); /* some repeats arrive after the first write landed */
    }
    assert_int_equal(k8s_event_record(r, obj, "Normal", "Synced", "all good"), 0);
    rec_wait rw = {.r = r, .want_writes = 2};
    assert_true(itest_wait(&loop, recorder_idle, &rw, 20000));

    k8s_request_opts o = {.verb = K8S_VERB_LIST,
                          .ref = {.version = "v1", .resource = "events", .namespace = "default"},
                          .field_selector = "involvedObject.name=evt-target"};
    cJSON *list = NULL;
    assert_int_equal(itest_call(&loop, c, &o, &list), K8S_OK);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
    assert_int_equal(cJSON_GetArraySize(items), 2);
    int seen = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(it, "reason");
        const cJSON *count = cJSON_GetObjectItemCaseSensitive(it, "count");
        assert_true(cJSON_IsString(reason) && cJSON_IsNumber(count));
        if (strcmp(reason->valuestring, "SyncFailed") == 0) {
            assert_int_equal((int)count->valuedouble, 20);
            seen++;
        } else {
            assert_string_equal(reason->valuestring, "Synced");
            assert_int_equal((int)count->valuedouble, 1);
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    k8s_event_stats st;
    k8s_event_recorder_get_stats(r, &st);
    assert_int_equal(st.created, 2);
    assert_true(st.patched >= 1);
    assert_true(st.patched <= 19); /* aggregated, not one write per occurrence */
    assert_int_equal(st.failed, 0);
    cJSON_Delete(list);
    cJSON_Delete(obj);

    stop_recorder(&loop, r);
    itest_close(&loop, c);
}

/* Lists the Events in namespace ns whose reason is reason (owned by the caller). */
static cJSON *list_events(uv_loop_t *loop, k8s_client *c, const char *ns, const char *reason)
{
    char sel[128];
    snprintf(sel, sizeof(sel), "reason=%s", reason);
    k8s_request_opts o = {.verb = K8S_VERB_LIST,
                          .ref = {.version = "v1", .resource = "events", .namespace = ns},
                          .field_selector = sel};
    cJSON *list = NULL;
    assert_int_equal(itest_call(loop, c, &o, &list), K8S_OK);
    return list;
}

static cJSON *object_named(const char *name)
{
    char buf[256];
    snprintf(buf, sizeof(buf),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
             "{\"name\":\"%s\",\"namespace\":\"kube-public\",\"uid\":\"u-%s\"}}",
             name, name);
    return cJSON_Parse(buf);
}

/*
 * A flood cannot fill etcd: 300 routine events about 300 objects create at most the routine
 * budget's 100 Events; twelve distinct warnings about one object make ten Events and one
 * combined Event; thirty identical warnings about another stop at the spam filter's 25.
 */
static void test_event_flood(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = itest_client(&loop);
    k8s_event_recorder_opts ro = {.component = "flood-test"};
    k8s_event_recorder *r = NULL;
    assert_int_equal(k8s_event_recorder_new(c, &ro, &r), 0);
    char name[64];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "flood-%d", i);
        cJSON *obj = object_named(name);
        assert_int_equal(k8s_event_record(r, obj, "Normal", "FloodApplied", "created"), 0);
        cJSON_Delete(obj);
    }
    cJSON *noisy = object_named("noisy"), *stuck = object_named("stuck");
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof(name), "port %d collides", i);
        assert_int_equal(k8s_event_record(r, noisy, "Warning", "FloodConflict", name), 0);
    }
    for (int i = 0; i < 30; i++)
        assert_int_equal(k8s_event_record(r, stuck, "Warning", "FloodStuck", "still stuck"), 0);
    k8s_event_stats st;
    k8s_event_recorder_get_stats(r, &st);
    assert_int_equal(st.dropped_budget, 200);
    assert_int_equal(st.dropped_spam, 5);
    assert_int_equal(st.combined, 2);
    rec_wait rw = {.r = r, .want_writes = 100 + 11 + 1};
    assert_true(itest_wait(&loop, recorder_idle, &rw, 60000));

    cJSON *routine = list_events(&loop, c, "kube-public", "FloodApplied");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(routine, "items")), 100);
    cJSON *conflicts = list_events(&loop, c, "kube-public", "FloodConflict");
    const cJSON *items = cJSON_GetObjectItem(conflicts, "items"), *it;
    assert_int_equal(cJSON_GetArraySize(items), 11);
    int combined = 0;
    cJSON_ArrayForEach(it, items)
    {
        const char *msg = cJSON_GetObjectItem(it, "message")->valuestring;
        if (strncmp(msg, K8S_EVENT_COMBINED_PREFIX, strlen(K8S_EVENT_COMBINED_PREFIX)) == 0) {
            combined++;
            assert_string_equal(msg, K8S_EVENT_COMBINED_PREFIX "port 11 collides");
            assert_int_equal((int)cJSON_GetObjectItem(it, "count")->valuedouble, 2);
        }
    }
    assert_int_equal(combined, 1);
    cJSON *stuck_events = list_events(&loop, c, "kube-public", "FloodStuck");
    items = cJSON_GetObjectItem(stuck_events, "items");
    assert_int_equal(cJSON_GetArraySize(items), 1);
    assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "count")->valuedouble,
                     25);
    cJSON_Delete(routine);
    cJSON_Delete(conflicts);
    cJSON_Delete(stuck_events);
    cJSON_Delete(noisy);
    cJSON_Delete(stuck);

    stop_recorder(&loop, r);
    itest_close(&loop, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_election),
        cmocka_unit_test(test_event_aggregation),
        cmocka_unit_test(test_event_flood),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
