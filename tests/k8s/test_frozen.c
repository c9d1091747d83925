/*
 * Proves k8s/frozen: a frozen copy prints, compares and reads exactly like the tree it came
 * from (objects, arrays, nested containers, empty ones, numbers, booleans, null, keys and
 * strings with escapes and UTF-8); sibling links keep cJSON's shape (the first child's prev is
 * the last child), so an array's size and reverse walk are right; a root taken from inside a
 * list does not drag its siblings along; references and constant keys in the source are
 * copied, not shared; cJSON_Duplicate of a frozen copy is an ordinary tree that can be changed
 * and freed on its own; the copy is one allocation (ASan sees any stray free or leak), and
 * freeze_owned frees its input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/frozen.h"

static const char *const SAMPLE =
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"a\",\"labels\":"
    "{\"app.kubernetes.io/managed-by\":\"meshcluster-controller\"},\"annotations\":{}},"
    "\"spec\":{\"ports\":[{\"name\":\"tls\",\"port\":15443,\"weight\":0.25},{\"port\":15021}],"
    "\"empty\":[],\"flag\":true,\"off\":false,\"none\":null,\"big\":-1e300},"
    "\"data\":{\"k\\\"ey\":\"line\\nnext \\u00e9 \\u2713\"}}";

static void test_same_text_and_values(void **state)
{
    cJSON *src = cJSON_Parse(SAMPLE);
    assert_non_null(src);
    cJSON *f = k8s_json_freeze(src);
    assert_non_null(f);
    assert_true(cJSON_Compare(src, f, 1));
    char *a = cJSON_PrintUnformatted(src), *b = cJSON_PrintUnformatted(f);
    assert_string_equal(a, b);
    free(a);
    free(b);

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_text_and_values),
        cmocka_unit_test(test_root_inside_a_list),
        cmocka_unit_test(test_references_and_const_keys_are_copied),
        cmocka_unit_test(test_scalars_empties_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
