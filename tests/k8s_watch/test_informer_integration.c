/*
 * Proves, against the test API server, that the informer's list+watch is robust:
 *  - dropped watch connections are resumed from the last resourceVersion without a relist
 *    while that version is still in the server's history (LISTs counted in the request log);
 *  - after compaction a resume gets 410 Expired (HTTP 200 then an ERROR event) and the informer
 *    relists, delivering deletions it missed while disconnected; a plain HTTP 410 relists too;
 *  - after a storm of 1,000 random creates/updates/deletes of labelled ConfigMaps across two
 *    namespaces (deterministic seed) with watch drops and forced 410s in between, the store
 *    equals the server's state (names and resourceVersions), and unlabelled objects stay out;
 *  - periodic resync re-delivers every cached object as an update without relisting;
 *  - drop_fields removes the named fields (plain and in every list item) from listed and
 *    watched objects before they are cached, and nothing else; the transform then runs on
 *    each of them, after the drop and before caching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"
#include "k8s/informer.h"

typedef struct {
    int adds, updates, deletes, syncs;
    char last_deleted[128];
} counts;

static void on_add(k8s_informer *inf, const char *key, const cJSON *obj, void *data)
{
    ((counts *)data)->adds++;
}

static void on_update(k8s_informer *inf, const char *key, const cJSON *o, const cJSON *n,
                      void *data)
{
    ((counts *)data)->updates++;
}

static void on_delete(k8s_informer *inf, const char *key, const cJSON *obj, void *data)
{
    counts *c = data;
    c->deletes++;
    snprintf(c->last_deleted, sizeof(c->last_deleted), "%s", key);
}

static void on_synced(k8s_informer *inf, void *data)
{
    ((counts *)data)->syncs++;
}

static const k8s_resource_ref cm_ref = {.version = "v1", .resource = "configmaps"};

static cJSON *configmap(const char *ns, const char *name, const char *label, int value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", "ConfigMap");
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", name);
    cJSON_AddStringToObject(md, "namespace", ns);
    if (label) {
        cJSON *labels = cJSON_AddObjectToObject(md, "labels");
        cJSON_AddStringToObject(labels, "storm", label);
    }
    cJSON *d = cJSON_AddObjectToObject(o, "data");
    char v[32];
    snprintf(v, sizeof(v), "%d", value);
    cJSON_AddStringToObject(d, "v", v);
    return o;
}

static int put_cm(uv_loop_t *loop, k8s_client *c, const char *ns, const char *name,
                  const char *label, int value, bool update)
{
    cJSON *body = configmap(ns, name, label, value);
    k8s_request_opts o = {
        .verb = update ? K8S_VERB_UPDATE : K8S_VERB_CREATE, .ref = cm_ref, .body = body};
    o.ref.namespace = ns;
    if (update)
        o.ref.name = name;
    int rc = itest_call(loop, c, &o, NULL);
    cJSON_Delete(body);
    return rc;
}

static int delete_cm(uv_loop_t *loop, k8s_client *c, const char *ns, const char *name)
{
    k8s_request_opts o = {.verb = K8S_VERB_DELETE, .ref = cm_ref};
    o.ref.namespace = ns;
    o.ref.name = name;
    return itest_call(loop, c, &o, NULL);
}

/* True when the store holds exactly the server's objects at the same resourceVersions. */
typedef struct {
    uv_loop_t *loop;
    k8s_client *client;
    k8s_informer *inf;
    const char *ns;       /* NULL: all namespaces */
    const char *selector; /* label selector, or NULL */
    char mismatch[1024];
} compare_ctx;

static bool store_matches_server(void *data)
{
    compare_ctx *cc = data;
    k8s_request_opts o = {.verb = K8S_VERB_LIST, .ref = cm_ref, .label_selector = cc->selector};
    o.ref.namespace = cc->ns;
    cJSON *list = NULL;
    if (itest_call(cc->loop, cc->client, &o, &list) != K8S_OK)
        return false;
    const k8s_store *s = k8s_informer_store(cc->inf);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
    bool ok = (size_t)cJSON_GetArraySize(items) == k8s_store_size(s);
    if (!ok)
        snprintf(cc->mismatch, sizeof(cc->mismatch), "server %d objects, store %zu",
                 cJSON_GetArraySize(items), k8s_store_size(s));
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        if (!ok)
            break;
        char key[320];
        k8s_object_key(it, key, sizeof(key));
        const cJSON *cached = k8s_store_get(s, key);
        const char *want = k8s_object_resource_version(it);
        const char *have = cached ? k8s_object_resource_version(cached) : NULL;
        if (!have || strcmp(want, have) != 0) {
            snprintf(cc->mismatch, sizeof(cc->mismatch), "%s: server rv %s, store rv %s", key, want,
                     have ? have : "(missing)");
            ok = false;
        }
    }
    cJSON_Delete(list);
    return ok;
}

static bool informer_synced(void *data)
{
    return k8s_informer_has_synced(data);
}

static void on_informer_stopped(k8s_informer *inf, void *data)
{
    *(int *)data = 1;
}

static void stop_informer(uv_loop_t *loop, k8s_informer *inf)
{
    int stopped = 0;
    k8s_informer_close(inf, on_informer_stopped, &stopped);
    for (int i = 0; i < 100000 && !stopped; i++)
        uv_run(loop, UV_RUN_ONCE);
    assert_true(stopped);
    k8s_informer_free(inf);
}

static k8s_informer *start_informer(k8s_client *c, const char *ns, const char *selector,
                                    counts *cnt)
{
    k8s_informer_opts o = {
        .watch = {.ref = cm_ref, .label_selector = selector, .seed = 7},
        .handlers = {.on_add = on_add,
                     .on_update = on_update,
                     .on_delete = on_delete,
                     .on_synced = on_synced,
                     .data = cnt},
    };
    o.watch.ref.namespace = ns;
    o.watch.page_size = 50; /* several pages in the storm's relists */
    k8s_informer *inf = NULL;
    assert_int_equal(k8s_informer_new(c, &o, &inf), 0);
    assert_int_equal(k8s_informer_start(inf), 0);
    return inf;
}

typedef struct {
    const k8s_watcher *w;
    unsigned long relists;
} relist_wait;

static bool relisted(void *data)
{
    relist_wait *rw = data;
    k8s_watcher_stats st;
    k8s_watcher_get_stats(rw->w, &st);
    return st.relists > rw->relists;
}

static void test_drops_resume_and_410_relists(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = itest_client(&loop);
    const char *ns = "kube-public";
    const char *path = "/api/v1/namespaces/kube-public/configmaps";
    char name[32];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "drop-%d", i);
        assert_int_equal(put_cm(&loop, c, ns, name, NULL, i, false), K8S_OK);
    }
    itest_control("/requests/clear", NULL);

    counts cnt = {0};
    k8s_informer *inf = start_informer(c, ns, NULL, &cnt);
    assert_true(itest_wait(&loop, informer_synced, inf, 20000));
    assert_int_equal(cnt.adds, 5);
    /* The informer pages its lists (limit=50); the test's own comparison lists do not, which is
     * how the request log tells them apart. */
    compare_ctx cc = {.loop = &loop, .client = c, .inf = inf, .ns = ns};

    /* Drops while the version is still in history: resumes, never relists. */
    for (int round = 0; round < 3; round++) {
        itest_control("/drop-watches", round == 1 ? "{\"abort\": true}" : NULL);
        snprintf(name, sizeof(name), "drop-new-%d", round);
        assert_int_equal(put_cm(&loop, c, ns, name, NULL, round, false), K8S_OK);
        snprintf(name, sizeof(name), "drop-%d", round);
        assert_int_equal(put_cm(&loop, c, ns, name, NULL, 100 + round, true), K8S_OK);
        bool ok = itest_wait(&loop, store_matches_server, &cc, 30000);
        if (!ok)
            fprintf(stderr, "mismatch: %s\n", cc.mismatch);
        assert_true(ok);
    }
    assert_int_equal(itest_count_requests(path, "limit=", false), 1); /* the initial list only */
    /* The server logs a request when it ends: the three dropped watches, not the live one. */
    assert_true(itest_count_requests(path, NULL, true) >= 3);
    assert_int_equal(cnt.syncs, 1);

    /* A deletion while disconnected and compacted: resume gets 410, relist delivers it. */
    const k8s_watcher *w = k8s_informer_watcher(inf);
    k8s_watcher_stats before, after;
    k8s_watcher_get_stats(w, &before);
    /* Watch attempts on the collection fail for a while, so the watcher is disconnected and
     * backing off while the object is deleted and the history compacted. */
    itest_control("/fail", "{\"count\": 2, \"code\": 500, \"path_regex\": "
                           "\"^/api/v1/namespaces/kube-public/configmaps$\"}");
    itest_control("/drop-watches", NULL);
    assert_int_equal(delete_cm(&loop, c, ns, "drop-4"), K8S_OK);
    itest_control("/compact", NULL);
    bool ok = itest_wait(&loop, store_matches_server, &cc, 30000);
    if (!ok)
        fprintf(stderr, "mismatch: %s\n", cc.mismatch);
    assert_true(ok);
    k8s_watcher_get_stats(w, &after);
    assert_true(after.relists > before.relists);
    assert_true(after.expired > before.expired);
    assert_true(itest_count_requests(path, "limit=", false) >= 2);
    assert_null(k8s_store_get(k8s_informer_store(inf), "kube-public/drop-4"));
    assert_true(cnt.deletes >= 1);

    /* A plain HTTP 410 on the re-watch (instead of 200 + ERROR) relists as well. */
    k8s_watcher_get_stats(w, &before);
    /* Only the re-watch may consume the rule, not a list of the same collection. */
    itest_control("/fail", "{\"count\": 1, \"code\": 410, \"query_regex\": \"watch=\", "
                           "\"path_regex\": \"^/api/v1/namespaces/kube-public/configmaps$\"}");
    itest_control("/drop-watches", NULL);
    /* Nothing else may touch the collection path until the watcher consumed the rule. */
    relist_wait rw = {.w = w, .relists = before.relists};
    assert_true(itest_wait(&loop, relisted, &rw, 30000));
    assert_int_equal(put_cm(&loop, c, ns, "after-410", NULL, 1, false), K8S_OK);
    ok = itest_wait(&loop, store_matches_server, &cc, 30000);
    if (!ok)
        fprintf(stderr, "mismatch: %s\n", cc.mismatch);
    assert_true(ok);
    k8s_watcher_get_stats(w, &after);
    assert_true(after.relists > before.relists);
    assert_true(after.expired > before.expired);

    stop_informer(&loop, inf);
    itest_close(&loop, c);
}

static unsigned long relists_of(const k8s_watcher *w)
{
    k8s_watcher_stats st;
    k8s_watcher_get_stats(w, &st);
    return st.relists;
}

/*
 * A server that answers every watch with 410 must not get list+watch in a tight loop: the
 * first 410 relists at once, repeats back off (client-go's reflector waits between rounds).
 * Eight 410s in a row would all be spent within milliseconds without the backoff; with it
 * (400-800 ms, then 800-1600 ms, ...) at most three relists fit into the first two seconds.
 */
static void test_repeated_410_backs_off(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = itest_client(&loop);
    const char *ns = "default";
    assert_int_equal(put_cm(&loop, c, ns, "before-410s", NULL, 1, false), K8S_OK);
    counts cnt = {0};
    k8s_informer *inf = start_informer(c, ns, NULL, &cnt);
    assert_true(itest_wait(&loop, informer_synced, inf, 20000));
    const k8s_watcher *w = k8s_informer_watcher(inf);
    unsigned long before = relists_of(w);

    itest_control("/fail", "{\"count\": 8, \"code\": 410, \"query_regex\": \"watch=\", "
                           "\"path_regex\": \"^/api/v1/namespaces/default/configmaps$\"}");
    itest_control("/drop-watches", NULL);
    itest_sleep(&loop, 2000);
    unsigned long during = relists_of(w) - before;
    if (during < 1 || during > 4)
        fail_msg("%lu relists in the first 2 s of a 410 storm (want 1..4)", during);

    /* The storm ends; the informer comes back and sees what changed meanwhile. */
    itest_control("/fail", "{\"clear\": true}");
    assert_int_equal(put_cm(&loop, c, ns, "after-410s", NULL, 1, false), K8S_OK);
    compare_ctx cc = {.loop = &loop, .client = c, .inf = inf, .ns = ns};
    bool ok = itest_wait(&loop, store_matches_server, &cc, 30000);
    if (!ok)
        fprintf(stderr, "mismatch: %s\n", cc.mismatch);
    assert_true(ok);

    stop_informer(&loop, inf);
    itest_close(&loop, c);
}

static void test_storm(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = itest_client(&loop);
    counts cnt = {0};
    k8s_informer *inf = start_informer(c, NULL, "storm=yes", &cnt);
    assert_true(itest_wait(&loop, informer_synced, inf, 20000));
    compare_ctx cc = {.loop = &loop, .client = c, .inf = inf, .selector = "storm=yes"};

    enum { NNAMES = 60, OPS = 1000 };
    static const char *const namespaces[] = {"default", "kube-system"};
    int exists[2][NNAMES] = {{0}};
    uint64_t rng = 0x5eed5eedu;
    char name[32];
    int creates = 0, updates = 0, deletes = 0;
    for (int op = 0; op < OPS; op++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int nsi = (int)(rng % 2);
        int idx = (int)((rng >> 8) % NNAMES);
        const char *ns = namespaces[nsi];
        snprintf(name, sizeof(name), "storm-%d", idx);
        /* Every fifth object is unlabelled: the selector must keep it out of the store. */
        const char *label = idx % 5 == 4 ? "no" : "yes";
        if (!exists[nsi][idx]) {
            assert_int_equal(put_cm(&loop, c, ns, name, label, op, false), K8S_OK);
            exists[nsi][idx] = 1;
            creates++;
        } else if ((rng >> 20) % 3 == 0) {
            assert_int_equal(delete_cm(&loop, c, ns, name), K8S_OK);
            exists[nsi][idx] = 0;
            deletes++;
        } else {
            assert_int_equal(put_cm(&loop, c, ns, name, label, op, true), K8S_OK);
            updates++;
        }
        if (op % 97 == 50)
            itest_control("/drop-watches", op % 2 ? "{\"abort\": true}" : NULL);
        if (op % 251 == 200) {
            itest_control("/compact", NULL);
            itest_control("/drop-watches", NULL);
        }
    }
    assert_true(creates > 0 && updates > 0 && deletes > 0);
    bool ok = itest_wait(&loop, store_matches_server, &cc, 60000);
    if (!ok)
        fprintf(stderr, "mismatch: %s\n", cc.mismatch);
    assert_true(ok);
    /* The selector really filtered: no unlabelled object is cached. */
    for (int nsi = 0; nsi < 2; nsi++) {
        char key[64];
        for (int idx = 4; idx < NNAMES; idx += 5) {
            snprintf(key, sizeof(key), "%s/storm-%d", namespaces[nsi], idx);
            assert_null(k8s_store_get(k8s_informer_store(inf), key));
        }
    }
    k8s_watcher_stats st;
    k8s_watcher_get_stats(k8s_informer_watcher(inf), &st);
    assert_true(st.expired >= 1);
    assert_true(st.relists >= 2);
    stop_informer(&loop, inf);
    itest_close(&loop, c);
}

typedef struct {
    int resyncs; /* updates with old == new: re-deliveries, not changes */
    int adds;
} resync_counts;

static void on_resync_add(k8s_informer *inf, const char *key, const cJSON *obj, void *data)
{
    ((resync_counts *)data)->adds++;
}

static void on_resync_update(k8s_informer *inf, const char *key, const cJSON *o, const cJSON *n,
                             void *data)
{
    if (o == n)
        ((resync_counts *)data)->resyncs++;
}

static bool resynced_twice(void *data)
{
    resync_counts *rc = data;
    return rc->adds == 3 && rc->resyncs >= 6;
}

static void test_resync(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = itest_client(&loop);
    char name[32];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "resync-%d", i);
        assert_int_equal(put_cm(&loop, c, "kube-node-lease", name, NULL, i, false), K8S_OK);
    }
    resync_counts rc = {0};
    k8s_informer_opts o = {
        .watch = {.ref = cm_ref},
        .resync_ms = 100,
        .handlers = {.on_add = on_resync_add, .on_update = on_resync_update, .data = &rc},
    };
    o.watch.ref.namespace = "kube-node-lease";
    k8s_informer *inf = NULL;
    assert_int_equal(k8s_informer_new(c, &o, &inf), 0);
    assert_int_equal(k8s_informer_start(inf), 0);
    /* Every cached object comes back as an update, periodically, without a relist. */
    assert_true(itest_wait(&loop, resynced_twice, &rc, 20000));
    k8s_watcher_stats st;
    k8s_watcher_get_stats(k8s_informer_watcher(inf), &st);
    assert_int_equal(st.relists, 1);
    stop_informer(&loop, inf);
    itest_close(&loop, c);
}

static bool cached_value_is(void *data)
{
    k8s_informer *inf = data;
    const cJSON *o = k8s_store_get(k8s_informer_store(inf), "kube-public/strip-1");
    const cJSON *labels =
        cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "labels"); /* put_cm's label */
    return cJSON_IsString(cJSON_GetObjectItem(labels, "storm"));
}

/* Listed and watched objects alike: the fields named in drop_fields (plain and in every item
 * of a list) are gone from the cache, everything else is there. */
static void check_dropped(const cJSON *o)
{
    assert_non_null(o);
    const cJSON *md = cJSON_GetObjectItem(o, "metadata");
    assert_null(cJSON_GetObjectItem(md, "creationTimestamp"));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "data"), "v"));
    assert_non_null(cJSON_GetObjectItem(md, "resourceVersion"));
    assert_non_null(cJSON_GetObjectItem(md, "uid"));
    const cJSON *mf = cJSON_GetObjectItem(md, "managedFields");
    assert_true(cJSON_GetArraySize(mf) > 0);
    const cJSON *e;
    cJSON_ArrayForEach(e, mf)
    {
        assert_null(cJSON_GetObjectItem(e, "manager"));
        assert_non_null(cJSON_GetObjectItem(e, "operation"));
    }
}

/* Marks the object, saying whether a field drop_fields names was still there. */
static void mark(cJSON *o, void *data)
{
    (*(int *)data)++;
    const cJSON *md = cJSON_GetObjectItem(o, "metadata");
    bool late = cJSON_GetObjectItem(md, "creationTimestamp") != NULL;
    cJSON *d = cJSON_GetObjectItem(o, "data");
    cJSON_AddStringToObject(d ? d : cJSON_AddObjectToObject(o, "data"), "transformed",
                            late ? "before the drop" : "after the drop");
}

static void check_transformed(const cJSON *o)
{
    check_dropped(o);
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "data"), "transformed");
    assert_true(cJSON_IsString(t));
    assert_string_equal(t->valuestring, "after the drop");
}

static void test_drop_fields(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = itest_client(&loop);
    assert_int_equal(put_cm(&loop, c, "kube-public", "strip-0", NULL, 0, false), K8S_OK);
    assert_int_equal(put_cm(&loop, c, "kube-public", "strip-1", NULL, 1, false), K8S_OK);
    static const char *const drop[] = {"metadata.creationTimestamp", "data.v",
                                       "metadata.managedFields[].manager", "no.such.field", NULL};
    int transforms = 0;
    k8s_informer_opts o = {.watch = {.ref = cm_ref},
                           .drop_fields = drop,
                           .transform = mark,
                           .transform_data = &transforms};
    o.watch.ref.namespace = "kube-public";
    k8s_informer *inf = NULL;
    assert_int_equal(k8s_informer_new(c, &o, &inf), 0);
    assert_int_equal(k8s_informer_start(inf), 0);
    assert_true(itest_wait(&loop, informer_synced, inf, 20000));
    check_transformed(k8s_store_get(k8s_informer_store(inf), "kube-public/strip-0"));
    check_transformed(k8s_store_get(k8s_informer_store(inf), "kube-public/strip-1"));
    int listed = transforms; /* the namespace holds other tests' ConfigMaps too */
    assert_true(listed >= 2);
    /* An update arrives on the watch: the same fields are dropped from it. */
    assert_int_equal(put_cm(&loop, c, "kube-public", "strip-1", "x", 2, true), K8S_OK);
    assert_true(itest_wait(&loop, cached_value_is, inf, 20000));
    check_transformed(k8s_store_get(k8s_informer_store(inf), "kube-public/strip-1"));
    assert_true(transforms > listed);
    stop_informer(&loop, inf);
    itest_close(&loop, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drops_resume_and_410_relists),
        cmocka_unit_test(test_repeated_410_backs_off),
        cmocka_unit_test(test_storm),
        cmocka_unit_test(test_resync),
        cmocka_unit_test(test_drop_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
