/*
 * Proves k8s/frozen: a frozen copy prints, compares and reads exactly like the tree it came
 * from (objects, arrays, nested containers, empty ones, numbers, booleans, null, keys and
 * strings with escapes and UTF-8); sibling links keep cJSON's shape (the first child's prev is
 * the last child), so an array's size and reverse walk are right; a root taken from inside a
 * list does not drag its siblings along; references and constant keys in the source are
 * copied, not shared; cJSON_Duplicate of a frozen copy is an ordinary tree that can be changed
 * and freed on its own; the copy is one allocation (ASan sees any stray free or leak), and
 * freeze_owned frees its input.
 *
 * The pool: a list seen once stays inline, the second sighting moves it into the pool and
 * later ones point at the very same nodes; pooled objects still print and compare exactly like
 * their sources; an object replaced right after its add keeps sharing the lists inside its
 * pooled spec; releasing in any order empties the pool (ASan: no leak, no use after free);
 * equal hashes (forced through the test seam) never share lists that differ in a value; a store
 * relisting its own contents works on pooled objects. A realistic set of 1,000 egress-like
 * Services prints its bytes with and without the pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/frozen.h"
#include "k8s/store.h"

static const char *const SAMPLE =
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"a\",\"labels\":"
    "{\"app.kubernetes.io/managed-by\":\"meshcluster-controller\"},\"annotations\":{}},"
    "\"spec\":{\"ports\":[{\"name\":\"tls\",\"port\":15443,\"weight\":0.25},{\"port\":15021}],"
    "\"empty\":[],\"flag\":true,\"off\":false,\"none\":null,\"big\":-1e300},"
    "\"data\":{\"k\\\"ey\":\"line\\nnext \\u00e9 \\u2713\"}}";

/* f, a frozen copy of src, prints and compares like it. */
static void assert_same(const cJSON *src, const cJSON *f)
{
    assert_non_null(f);
    assert_true(cJSON_Compare(src, f, 1));
    char *a = cJSON_PrintUnformatted(src), *b = cJSON_PrintUnformatted(f);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void test_same_text_and_values(void **state)
{
    cJSON *src = cJSON_Parse(SAMPLE);
    assert_non_null(src);
    cJSON *f = k8s_json_freeze(src);
    assert_same(src, f);

    const cJSON *ports =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(f, "spec"), "ports");
    assert_int_equal(cJSON_GetArraySize(ports), 2);
    assert_int_equal(cJSON_GetArrayItem(ports, 1)->child->valueint, 15021);
    assert_true(cJSON_GetArrayItem(ports, 0)->child->next->next->valuedouble == 0.25);
    /* cJSON's links: the first child's prev is the last child, the last child's next is NULL. */
    assert_ptr_equal(ports->child->prev, cJSON_GetArrayItem(ports, 1));
    assert_null(cJSON_GetArrayItem(ports, 1)->next);
    assert_null(f->next);
    assert_null(f->prev);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "spec"), "flag")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "spec"), "none")));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "data"), "k\"ey")->valuestring,
                        "line\nnext \xc3\xa9 \xe2\x9c\x93");
    /* Nothing is shared with the source: freeing it leaves the copy intact. */
    cJSON_Delete(src);
    assert_string_equal(cJSON_GetObjectItem(f, "kind")->valuestring, "Service");
    k8s_json_frozen_free(f);
}

static void test_root_inside_a_list(void **state)
{
    cJSON *list = cJSON_Parse("[{\"a\":1},{\"b\":2},{\"c\":3}]");
    cJSON *mid = cJSON_GetArrayItem(list, 1);
    cJSON *f = k8s_json_freeze(mid);
    assert_null(f->next);
    assert_null(f->prev);
    assert_int_equal(cJSON_GetArraySize(f), 1);
    assert_int_equal(cJSON_GetObjectItem(f, "b")->valueint, 2);
    k8s_json_frozen_free(f);
    cJSON_Delete(list);
}

static void test_references_and_const_keys_are_copied(void **state)
{
    cJSON *target = cJSON_Parse("{\"x\":\"y\"}");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(o, "ref", target);
    cJSON_AddItemToObjectCS(o, "const-key", cJSON_CreateString("v"));
    cJSON *f = k8s_json_freeze(o);
    cJSON_Delete(o);
    cJSON_Delete(target);
    const cJSON *ref = cJSON_GetObjectItem(f, "ref");
    assert_false(ref->type & cJSON_IsReference);
    assert_string_equal(cJSON_GetObjectItem(ref, "x")->valuestring, "y");
    assert_false(cJSON_GetObjectItem(f, "const-key")->type & cJSON_StringIsConst);
    /* A duplicate owns everything it holds: it can be changed and freed after the copy. */
    cJSON *dup = cJSON_Duplicate(f, 1);
    k8s_json_frozen_free(f);
    cJSON_AddStringToObject(dup, "added", "z");
    cJSON_DeleteItemFromObject(dup, "const-key");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(dup, "ref"), "x")->valuestring,
                        "y");
    cJSON_Delete(dup);
}

static void test_scalars_empties_and_null(void **state)
{
    const char *cases[] = {"\"just text\"", "42", "[]", "{}", "null", "[[[[]]]]", "\"\""};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *src = cJSON_Parse(cases[i]);
        cJSON *f = k8s_json_freeze_owned(cJSON_Duplicate(src, 1));
        assert_non_null(f);
        assert_true(cJSON_Compare(src, f, 1));
        k8s_json_frozen_free(f);
        cJSON_Delete(src);
    }
    assert_null(k8s_json_freeze(NULL));
    assert_null(k8s_json_freeze_owned(NULL));
    k8s_json_frozen_free(NULL);
}

/* ---- the pool ---- */

/* A Service-like object: unique name and externalName, ports and status the same for all. */
static cJSON *service(int i, int port)
{
    char buf[1024];
    snprintf(
        buf, sizeof(buf),
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"c%d-k8s-operator\","
        "\"namespace\":\"tailscale\",\"labels\":{\"app.kubernetes.io/managed-by\":"
        "\"meshcluster-controller\",\"meshcluster.io/cluster\":\"c%d\"},\"annotations\":{"
        "\"tailscale.com/tailnet-fqdn\":\"c%d-k8s-operator.tail1234.ts.net\","
        "\"tailscale.com/proxy-class\":\"common\"},\"uid\":\"0c8f6a2e-%08d\","
        "\"resourceVersion\":\"%d\"},\"spec\":{\"externalName\":\"ts-c%d-x7k2q.tailscale.svc."
        "cluster.local\",\"type\":\"ExternalName\",\"ports\":[{\"name\":\"tls\",\"port\":%d,"
        "\"protocol\":\"TCP\",\"targetPort\":%d}]},\"status\":{\"loadBalancer\":{},"
        "\"conditions\":[{\"type\":\"TailscaleProxyReady\",\"status\":\"True\",\"reason\":"
        "\"ProxyCreated\",\"message\":\"ProxyCreated\"}]}}",
        i, i, i, i, 1000 + i, i, port, port);
    cJSON *o = cJSON_Parse(buf);
    assert_non_null(o);
    return o;
}

static const cJSON *path(const cJSON *o, const char *a, const char *b)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
}

/* Freezes a copy of src into the pool and checks it prints and compares like src. */
static cJSON *freeze_checked(k8s_json_pool *pool, const cJSON *src)
{
    cJSON *f = k8s_json_freeze_pooled(pool, cJSON_Duplicate(src, 1));
    assert_same(src, f);
    assert_null(f->next);
    assert_null(f->prev);
    assert_false(f->type & cJSON_IsReference);
    return f;
}

static k8s_json_pool_stats stats(const k8s_json_pool *pool)
{
    k8s_json_pool_stats st;
    k8s_json_pool_stats_get(pool, &st);
    return st;
}

static void test_pool_second_sighting_shares(void **state)
{
    k8s_json_pool *pool = k8s_json_pool_new();
    assert_non_null(pool);
    cJSON *src[3], *f[3];
    for (int i = 0; i < 3; i++)
        src[i] = service(i, 15443);

    f[0] = freeze_checked(pool, src[0]);
    assert_int_equal(stats(pool).chains, 0); /* first sighting: all inline */
    assert_int_equal(stats(pool).objects, 1);

    f[1] = freeze_checked(pool, src[1]);
    k8s_json_pool_stats st = stats(pool);
    /* spec.ports and status's contents repeat (the lists above them hold a unique name), so
     * they moved into the pool, and so did the lists below them, each held once. */
    assert_true(st.chains >= 2);
    assert_int_equal(st.refs, st.chains);

    f[2] = freeze_checked(pool, src[2]);
    k8s_json_pool_stats st3 = stats(pool);
    assert_int_equal(st3.chains, st.chains); /* nothing new: */
    assert_int_equal(st3.refs, st.refs + 2); /* one reference each to ports and status */

    const cJSON *p0 = path(f[0], "spec", "ports"), *p1 = path(f[1], "spec", "ports"),
                *p2 = path(f[2], "spec", "ports");
    assert_ptr_equal(p1->child, p2->child);     /* the same nodes */
    assert_ptr_not_equal(p0->child, p1->child); /* the first copy stays in its own block */
    assert_true(cJSON_Compare(p0, p1, 1));
    assert_ptr_equal(cJSON_GetObjectItem(f[1], "status")->child,
                     cJSON_GetObjectItem(f[2], "status")->child);
    /* Lists with a unique value in them are not shared. */
    assert_ptr_not_equal(cJSON_GetObjectItem(f[1], "metadata")->child,
                         cJSON_GetObjectItem(f[2], "metadata")->child);
    /* Readers that walk and copy work on shared lists too. */
    assert_int_equal(cJSON_GetArraySize(p2), 1);
    assert_ptr_equal(p2->child->prev, p2->child);
    assert_int_equal(cJSON_GetObjectItem(p2->child, "targetPort")->valueint, 15443);
    cJSON *dup = cJSON_Duplicate(f[2], 1);
    assert_true(cJSON_Compare(dup, src[2], 1));
    cJSON_Delete(dup);

    /* Release in the middle first: the others keep reading the shared nodes. */
    k8s_json_pool_release(pool, f[1]);
    assert_int_equal(stats(pool).refs, st.chains);
    assert_true(cJSON_Compare(f[2], src[2], 1));
    assert_true(cJSON_Compare(f[0], src[0], 1));
    k8s_json_pool_release(pool, f[2]);
    st = stats(pool);
    assert_int_equal(st.chains, 0);
    assert_int_equal(st.chain_bytes, 0);
    assert_int_equal(st.refs, 0);
    assert_int_equal(st.objects, 1);
    k8s_json_pool_release(pool, f[0]);
    st = stats(pool);
    assert_int_equal(st.objects, 0);
    assert_int_equal(st.object_bytes, 0);
    for (int i = 0; i < 3; i++)
        cJSON_Delete(src[i]);
    k8s_json_pool_free(pool);
}

/* An object replaced right after its add (a status write) pools its repeated spec, and the
 * lists inside that spec stay shared with the other objects rather than copied into it. */
static void test_pool_update_keeps_sharing(void **state)
{
    k8s_json_pool *pool = k8s_json_pool_new();
    cJSON *f[4];
    for (int i = 0; i < 4; i++) {
        cJSON *src = service(i, 15443);
        f[i] = k8s_json_freeze_pooled(pool, cJSON_Duplicate(src, 1));
        cJSON_SetValuestring(
            cJSON_GetObjectItem(cJSON_GetObjectItem(src, "metadata"), "resourceVersion"), "9999");
        cJSON *next = freeze_checked(pool, src);
        k8s_json_pool_release(pool, f[i]);
        f[i] = next;
        cJSON_Delete(src);
    }
    /* Each spec is pooled (seen in the first version), each object's own. */
    assert_ptr_not_equal(cJSON_GetObjectItem(f[1], "spec")->child,
                         cJSON_GetObjectItem(f[2], "spec")->child);
    /* Yet the ports below them are one list for all. */
    for (int i = 1; i < 4; i++)
        assert_ptr_equal(path(f[0], "spec", "ports")->child, path(f[i], "spec", "ports")->child);
    for (int i = 0; i < 4; i++)
        k8s_json_pool_release(pool, f[i]);
    k8s_json_pool_stats st = stats(pool);
    assert_int_equal(st.chains + st.refs + st.objects, 0);
    k8s_json_pool_free(pool);
}

/* Releases a set of pooled objects in a given order; the pool must end empty. */
static void release_in_order(const int *order, int n)
{
    k8s_json_pool *pool = k8s_json_pool_new();
    cJSON *src[8], *f[8];
    for (int i = 0; i < n; i++) {
        src[i] = service(i, 15443);
        f[i] = freeze_checked(pool, src[i]);
    }
    /* The same object again (a relist beside the live copy) pools its whole top level, and a
     * third copy shares it. */
    cJSON *again = freeze_checked(pool, src[n - 1]);
    cJSON *third = freeze_checked(pool, src[n - 1]);
    assert_ptr_equal(again->child, third->child);
    k8s_json_pool_release(pool, third);
    for (int i = 0; i < n; i++) {
        k8s_json_pool_release(pool, f[order[i]]);
        f[order[i]] = NULL;
        for (int j = 0; j < n; j++)
            if (f[j])
                assert_true(cJSON_Compare(f[j], src[j], 1));
        assert_true(cJSON_Compare(again, src[n - 1], 1));
    }
    k8s_json_pool_release(pool, again);
    k8s_json_pool_stats st = stats(pool);
    assert_int_equal(st.chains + st.chain_bytes + st.refs + st.objects + st.object_bytes, 0);
    for (int i = 0; i < n; i++)
        cJSON_Delete(src[i]);
    k8s_json_pool_free(pool);
}

static void test_pool_release_any_order(void **state)
{
    const int forward[] = {0, 1, 2, 3, 4}, backward[] = {4, 3, 2, 1, 0}, mixed[] = {2, 0, 4, 1, 3};
    release_in_order(forward, 5);
    release_in_order(backward, 5);
    release_in_order(mixed, 5);
}

/* With every hash forced equal, only exact equality decides what is shared. */
static void check_no_false_sharing(uint64_t mask)
{
    k8s_json_pool *pool = k8s_json_pool_new();
    k8s_json_pool_test_hash_mask(pool, mask);

    /* Lists of one shape: A, B (a number differs) and C (a string differs). Under either mask
     * the second A and the second B go into the pool, and later copies refer to them. */
    const char *small[] = {"{\"ports\":[{\"name\":\"tls\",\"port\":15443}]}",
                           "{\"ports\":[{\"name\":\"tls\",\"port\":15444}]}",
                           "{\"ports\":[{\"name\":\"tlz\",\"port\":15443}]}"};
    const int seq[] = {0, 0, 1, 1, 1, 0, 2, 2};
    cJSON *f[8];
    for (int i = 0; i < 8; i++) {
        cJSON *src = cJSON_Parse(small[seq[i]]);
        f[i] = freeze_checked(pool, src);
        cJSON_Delete(src);
    }
    assert_ptr_equal(f[1]->child, f[5]->child); /* A */
    assert_ptr_equal(f[3]->child, f[4]->child); /* B */
    assert_ptr_not_equal(f[1]->child, f[3]->child);
    assert_ptr_not_equal(f[7]->child, f[1]->child);
    assert_ptr_not_equal(f[7]->child, f[3]->child);
    for (int i = 0; i < 8; i++)
        k8s_json_pool_release(pool, f[i]);

    /* Whole Services of one shape: wherever a ports list is shared, the sources agree. */
    int ports[] = {15443, 15443, 15444, 15444, 15443, 15443};
    cJSON *src[6], *g[6];
    for (int i = 0; i < 6; i++) {
        src[i] = service(i, ports[i]);
        if (i == 4) {
            cJSON *p = cJSON_GetArrayItem(path(src[i], "spec", "ports"), 0);
            cJSON_SetValuestring(cJSON_GetObjectItem(p, "name"), "tlz");
        }
        g[i] = freeze_checked(pool, src[i]);
    }
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            if (path(g[i], "spec", "ports")->child == path(g[j], "spec", "ports")->child)
                assert_true(
                    cJSON_Compare(path(src[i], "spec", "ports"), path(src[j], "spec", "ports"), 1));
    for (int i = 0; i < 6; i++) {
        assert_true(cJSON_Compare(g[i], src[i], 1));
        k8s_json_pool_release(pool, g[i]);
        cJSON_Delete(src[i]);
    }

    /* Numbers compare exactly, not within cJSON_Compare's epsilon: 1 and 1 + 2^-52 differ. */
    cJSON *x = cJSON_Parse("{\"a\":{\"v\":[1,2]},\"b\":{\"v\":[1,2]},\"c\":{\"v\":[1,2]}}");
    cJSON_SetNumberValue(cJSON_GetArrayItem(path(x, "c", "v"), 0), 1.0 + 0x1p-52);
    cJSON *fx = freeze_checked(pool, x);
    assert_ptr_not_equal(path(fx, "b", "v")->child, path(fx, "c", "v")->child);
    assert_true(cJSON_GetArrayItem(path(fx, "c", "v"), 0)->valuedouble == 1.0 + 0x1p-52);
    k8s_json_pool_release(pool, fx);
    cJSON_Delete(x);
    k8s_json_pool_stats st = stats(pool);
    assert_int_equal(st.chains + st.refs + st.objects, 0);
    k8s_json_pool_free(pool);
}

static void test_pool_equal_hashes_never_share_different_lists(void **state)
{
    check_no_false_sharing(0);          /* every list collides */
    check_no_false_sharing(UINT64_MAX); /* the real hash */
}

static void test_pool_scalars_empties_and_lists(void **state)
{
    k8s_json_pool *pool = k8s_json_pool_new();
    const char *cases[] = {"\"just text\"", "42",          "[]",        "{}",
                           "null",          "[[[[]]]]",    "\"\"",      "[1,2,3]",
                           "[1,2,3]",       "[1,2,3]",     "{\"\":[]}", "[null,[]]",
                           "{\"a\":[1]}",   "{\"a\":[1]}", "[[1],[1]]", "[[1,2],[1,2],[1,2]]"};
    cJSON *f[sizeof(cases) / sizeof(cases[0])];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *src = cJSON_Parse(cases[i]);
        f[i] = freeze_checked(pool, src);
        cJSON_Delete(src);
    }
    /* "[1,2,3]" the third time refers to the pooled list made the second time. */
    assert_ptr_equal(f[8]->child, f[9]->child);
    /* A root taken from inside a list leaves its siblings out. */
    cJSON *list = cJSON_Parse("[{\"a\":1,\"b\":2},{\"a\":1,\"b\":2},{\"c\":3}]");
    cJSON *mid = cJSON_DetachItemFromArray(list, 1);
    cJSON *fm = k8s_json_freeze_pooled(pool, mid);
    assert_int_equal(cJSON_GetArraySize(fm), 2);
    assert_null(fm->next);
    assert_null(fm->prev);
    k8s_json_pool_release(pool, fm);
    cJSON_Delete(list);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        k8s_json_pool_release(pool, f[i]);
    assert_null(k8s_json_freeze_pooled(pool, NULL));
    k8s_json_pool_release(pool, NULL);
    k8s_json_pool_stats st = stats(pool);
    assert_int_equal(st.chains + st.refs + st.objects, 0);
    k8s_json_pool_free(pool);
    k8s_json_pool_free(NULL);
}

/* A store keeps pooled objects: watch events and a relist of the same contents. */
static void test_store_relist_on_pooled_objects(void **state)
{
    k8s_store *s = k8s_store_new();
    assert_non_null(s);
    for (int i = 0; i < 50; i++)
        assert_int_equal(k8s_store_apply(s, K8S_WATCH_ADDED, service(i, 15443), NULL, NULL), 0);
    assert_int_equal(k8s_store_replace_begin(s), 0);
    for (int i = 0; i < 50; i++)
        assert_int_equal(k8s_store_replace_add(s, service(i, i < 25 ? 15443 : 15444)), 0);
    assert_int_equal(k8s_store_replace_commit(s, NULL, NULL), 0);
    for (int i = 0; i < 50; i += 7) {
        char key[64];
        snprintf(key, sizeof(key), "tailscale/c%d-k8s-operator", i);
        cJSON *want = service(i, i < 25 ? 15443 : 15444);
        assert_true(cJSON_Compare(k8s_store_get(s, key), want, 1));
        cJSON_Delete(want);
    }
    assert_int_equal(k8s_store_apply(s, K8S_WATCH_DELETED, service(3, 0), NULL, NULL), 0);
    assert_int_equal(k8s_store_apply(s, K8S_WATCH_MODIFIED, service(4, 1), NULL, NULL), 0);
    assert_int_equal(k8s_store_size(s), 49);
    k8s_store_replace_begin(s);
    k8s_store_replace_add(s, service(7, 15443));
    k8s_store_replace_abort(s);
    k8s_store_free(s);
}

/* ---- figures ---- */

static size_t plain_frozen_bytes(const cJSON *v)
{
    size_t n = 0;
    for (; v; v = v->next) {
        n += sizeof(cJSON) + (v->string ? strlen(v->string) + 1 : 0) +
             (v->valuestring ? strlen(v->valuestring) + 1 : 0) + plain_frozen_bytes(v->child);
    }
    return n;
}

static void test_pool_figures_for_1000_services(void **state)
{
    enum { N = 1000 };
    k8s_json_pool *pool = k8s_json_pool_new();
    cJSON **f = calloc(N, sizeof(*f));
    size_t plain = 0;
    for (int i = 0; i < N; i++) {
        cJSON *src = service(i, 15443);
        plain += plain_frozen_bytes(src); /* one k8s_json_freeze block (the root has no key) */
        f[i] = k8s_json_freeze_pooled(pool, src);
        assert_non_null(f[i]);
    }
    k8s_json_pool_stats st = stats(pool);
    size_t pooled = st.object_bytes + st.chain_bytes + st.table_bytes;
    printf("[ figures  ] %d Services: frozen %zu bytes; pooled %zu (objects %zu, %zu shared lists "
           "%zu, %zu refs, index %zu) = %.1f%%\n",
           N, plain, pooled, st.object_bytes, st.chains, st.chain_bytes, st.refs, st.table_bytes,
           100.0 * (double)pooled / (double)plain);
    assert_true(pooled < plain);
    for (int i = 0; i < N; i++)
        k8s_json_pool_release(pool, f[i]);
    free(f);
    k8s_json_pool_free(pool);
}

/* The content hash: equal for equal trees (parsed twice, frozen or not), different when a
 * value, a name or the order changes, 0 only for NULL. */
static void test_hash_follows_content(void **state)
{
    (void)state;
    cJSON *a = cJSON_Parse(SAMPLE), *b = cJSON_Parse(SAMPLE);
    assert_non_null(a);
    assert_non_null(b);
    cJSON *f = k8s_json_freeze(a);
    uint64_t h = k8s_json_hash(a);
    assert_true(h != 0);
    assert_true(k8s_json_hash(b) == h);
    assert_true(k8s_json_hash(f) == h);
    cJSON_ReplaceItemInObject(b, "kind", cJSON_CreateString("Secret"));
    assert_true(k8s_json_hash(b) != h);
    cJSON *x = cJSON_Parse("{\"a\":1,\"b\":2}"), *y = cJSON_Parse("{\"b\":2,\"a\":1}");
    cJSON *z = cJSON_Parse("{\"a\":1,\"c\":2}"), *w = cJSON_Parse("{\"a\":1,\"b\":3}");
    assert_true(k8s_json_hash(x) != k8s_json_hash(y));
    assert_true(k8s_json_hash(x) != k8s_json_hash(z));
    assert_true(k8s_json_hash(x) != k8s_json_hash(w));
    assert_true(k8s_json_hash(NULL) == 0);
    cJSON_Delete(x);
    cJSON_Delete(y);
    cJSON_Delete(z);
    cJSON_Delete(w);
    k8s_json_frozen_free(f);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_text_and_values),
        cmocka_unit_test(test_hash_follows_content),
        cmocka_unit_test(test_root_inside_a_list),
        cmocka_unit_test(test_references_and_const_keys_are_copied),
        cmocka_unit_test(test_scalars_empties_and_null),
        cmocka_unit_test(test_pool_second_sighting_shares),
        cmocka_unit_test(test_pool_update_keeps_sharing),
        cmocka_unit_test(test_pool_release_any_order),
        cmocka_unit_test(test_pool_equal_hashes_never_share_different_lists),
        cmocka_unit_test(test_pool_scalars_empties_and_lists),
        cmocka_unit_test(test_store_relist_on_pooled_objects),
        cmocka_unit_test(test_pool_figures_for_1000_services),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
