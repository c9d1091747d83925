/*
 * Proves the object store's bookkeeping: keys are "namespace/name" (or "name"), watch events
 * add, replace and remove with the old object visible to the handler, and a relist swaps in the
 * listed contents while reporting adds for new keys, updates only for changed resourceVersions
 * and deletes for keys that vanished (deletions missed while disconnected). An aborted relist
 * leaves the store as it was. The resourceVersion the store keeps beside each object is the
 * object's own, after every add, replace and relist.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/store.h"

static cJSON *cm(const char *ns, const char *name, const char *rv)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", name);
    if (ns)
        cJSON_AddStringToObject(md, "namespace", ns);
    cJSON_AddStringToObject(md, "resourceVersion", rv);
    return o;
}

typedef struct {
    int adds, updates, deletes;
    char log[1024];
} changes;

static void on_change(void *data, k8s_store_change c, const char *key, const cJSON *old_obj,
                      const cJSON *new_obj)
{
    changes *ch = data;
    const char *orv = old_obj ? k8s_object_resource_version(old_obj) : "-";
    const char *nrv = new_obj ? k8s_object_resource_version(new_obj) : "-";
    char line[128];
    switch (c) {
    case K8S_STORE_ADD:
        ch->adds++;
        assert_null(old_obj);
        assert_non_null(new_obj);
        snprintf(line, sizeof(line), "add %s %s;", key, nrv);
        break;
    case K8S_STORE_UPDATE:
        ch->updates++;
        assert_non_null(old_obj);
        assert_non_null(new_obj);
        snprintf(line, sizeof(line), "update %s %s>%s;", key, orv, nrv);
        break;
    case K8S_STORE_DELETE:
        ch->deletes++;
        assert_non_null(old_obj);
        assert_null(new_obj);
        snprintf(line, sizeof(line), "delete %s %s;", key, orv);
        break;
    }
    strncat(ch->log, line, sizeof(ch->log) - strlen(ch->log) - 1);
}

/* The stored object's resourceVersion, read both ways: from the object, and as the store kept
 * it when the object was stored (k8s_store_get_rv); they must be the very same string. */
static const char *rv_of(const k8s_store *s, const char *key)
{
    const char *kept;
    const cJSON *o = k8s_store_get_rv(s, key, &kept);
    assert_ptr_equal(o, k8s_store_get(s, key));
    const char *rv = o ? k8s_object_resource_version(o) : NULL;
    assert_ptr_equal(kept, rv);
    return rv;
}

static void test_keys(void **state)
{
    char buf[64];
    cJSON *a = cm("ns", "a", "1"), *b = cm(NULL, "node-1", "1");
    assert_int_equal(k8s_object_key(a, buf, sizeof(buf)), 4);
    assert_string_equal(buf, "ns/a");
    assert_int_equal(k8s_object_key(b, buf, sizeof(buf)), 6);
    assert_string_equal(buf, "node-1");
    assert_int_equal(k8s_object_key(a, buf, 4), -ENOSPC);
    cJSON *nameless = cJSON_Parse("{\"metadata\":{\"namespace\":\"x\"}}");
    assert_int_equal(k8s_object_key(nameless, buf, sizeof(buf)), -EINVAL);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(nameless);
}

static void test_watch_events(void **state)
{
    k8s_store *s = k8s_store_new();
    changes ch = {0};
    assert_int_equal(k8s_store_apply(s, K8S_WATCH_ADDED, cm("ns", "a", "1"), on_change, &ch), 0);
    assert_int_equal(k8s_store_apply(s, K8S_WATCH_ADDED, cm("ns", "b", "2"), on_change, &ch), 0);
    assert_int_equal(k8s_store_apply(s, K8S_WATCH_MODIFIED, cm("ns", "a", "3"), on_change, &ch), 0);
    assert_int_equal(k8s_store_apply(s, K8S_WATCH_BOOKMARK, cm(NULL, "x", "4"), on_change, &ch), 0);
    assert_int_equal(k8s_store_apply(s, K8S_WATCH_DELETED, cm("ns", "b", "5"), on_change, &ch), 0);
    assert_string_equal(ch.log, "add ns/a 1;add ns/b 2;update ns/a 1>3;delete ns/b 5;");
    assert_int_equal(k8s_store_size(s), 1);
    assert_string_equal(rv_of(s, "ns/a"), "3");
    assert_null(k8s_store_get(s, "ns/b"));
    assert_null(rv_of(s, "ns/b"));
    cJSON *norv = cJSON_Parse("{\"metadata\":{\"name\":\"c\",\"namespace\":\"ns\"}}");
    assert_int_equal(k8s_store_apply(s, K8S_WATCH_ADDED, norv, NULL, NULL), 0);
    assert_non_null(k8s_store_get(s, "ns/c"));
    assert_null(rv_of(s, "ns/c"));
    assert_int_equal(k8s_store_apply(s, K8S_WATCH_DELETED, cm("ns", "c", "6"), NULL, NULL), 0);
    assert_int_equal(k8s_store_apply(s, K8S_WATCH_ADDED, cJSON_CreateObject(), on_change, &ch),
                     -EINVAL);
    k8s_store_free(s);
}

static void test_relist_diff(void **state)
{
    k8s_store *s = k8s_store_new();
    assert_int_equal(k8s_store_replace_begin(s), 0);
    assert_int_equal(k8s_store_replace_add(s, cm("ns", "keep", "1")), 0);
    assert_int_equal(k8s_store_replace_add(s, cm("ns", "change", "1")), 0);
    assert_int_equal(k8s_store_replace_add(s, cm("ns", "vanish", "1")), 0);
    /* Until the commit, readers see the old (empty) contents. */
    assert_int_equal(k8s_store_size(s), 0);
    changes ch = {0};
    assert_int_equal(k8s_store_replace_commit(s, on_change, &ch), 0);
    assert_int_equal(ch.adds, 3);
    assert_int_equal(k8s_store_size(s), 3);

    /* While "disconnected": vanish was deleted, change modified, fresh created. */
    assert_int_equal(k8s_store_replace_begin(s), 0);
    assert_int_equal(k8s_store_replace_add(s, cm("ns", "keep", "1")), 0);
    assert_int_equal(k8s_store_replace_add(s, cm("ns", "change", "7")), 0);
    assert_int_equal(k8s_store_replace_add(s, cm("ns", "fresh", "8")), 0);
    assert_string_equal(rv_of(s, "ns/change"), "1");
    assert_non_null(k8s_store_get(s, "ns/vanish"));
    memset(&ch, 0, sizeof(ch));
    assert_int_equal(k8s_store_replace_commit(s, on_change, &ch), 0);
    assert_int_equal(ch.adds, 1);
    assert_int_equal(ch.updates, 1);
    assert_int_equal(ch.deletes, 1);
    assert_non_null(strstr(ch.log, "add ns/fresh 8;"));
    assert_non_null(strstr(ch.log, "update ns/change 1>7;"));
    assert_non_null(strstr(ch.log, "delete ns/vanish 1;"));
    assert_null(strstr(ch.log, "ns/keep"));
    assert_int_equal(k8s_store_size(s), 3);
    assert_null(k8s_store_get(s, "ns/vanish"));
    assert_string_equal(rv_of(s, "ns/change"), "7");

    /* An empty relist deletes everything. */
    memset(&ch, 0, sizeof(ch));
    k8s_store_replace_begin(s);
    assert_int_equal(k8s_store_replace_commit(s, on_change, &ch), 0);
    assert_int_equal(ch.deletes, 3);
    assert_int_equal(k8s_store_size(s), 0);
    k8s_store_free(s);
}

static void test_relist_abort_and_misuse(void **state)
{
    k8s_store *s = k8s_store_new();
    k8s_store_apply(s, K8S_WATCH_ADDED, cm("ns", "a", "1"), NULL, NULL);
    assert_int_equal(k8s_store_replace_add(s, cm("ns", "b", "1")), -EINVAL);
    assert_int_equal(k8s_store_replace_commit(s, NULL, NULL), -EINVAL);
    k8s_store_replace_begin(s);
    k8s_store_replace_add(s, cm("ns", "b", "1"));
    k8s_store_replace_abort(s);
    assert_int_equal(k8s_store_size(s), 1);
    assert_non_null(k8s_store_get(s, "ns/a"));
    /* A relist begun and left open is freed with the store. */
    k8s_store_replace_begin(s);
    k8s_store_replace_add(s, cm("ns", "c", "1"));
    k8s_store_free(s);
}

static int count_each(void *data, const char *key, const cJSON *obj)
{
    (*(int *)data)++;
    return 0;
}

static void test_many_objects(void **state)
{
    /* Enough keys to make the table grow several times. */
    k8s_store *s = k8s_store_new();
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "cm-%d", i);
        k8s_store_apply(s, K8S_WATCH_ADDED, cm(i % 2 ? "odd" : "even", name, "1"), NULL, NULL);
    }
    for (int i = 0; i < 5000; i += 2) {
        snprintf(name, sizeof(name), "cm-%d", i);
        k8s_store_apply(s, K8S_WATCH_DELETED, cm("even", name, "2"), NULL, NULL);
    }
    assert_int_equal(k8s_store_size(s), 2500);
    int n = 0;
    k8s_store_foreach(s, count_each, &n);
    assert_int_equal(n, 2500);
    assert_non_null(k8s_store_get(s, "odd/cm-4999"));
    assert_null(k8s_store_get(s, "even/cm-4998"));
    k8s_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),         cmocka_unit_test(test_watch_events),
        cmocka_unit_test(test_relist_diff),  cmocka_unit_test(test_relist_abort_and_misuse),
        cmocka_unit_test(test_many_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
