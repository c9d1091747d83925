/*
 * Proves k8s/sbuf: a zeroed buffer accepts puts and stays NUL-terminated at len, embedded NULs
 * included; growth over many puts keeps every byte; reserving on an empty buffer yields "";
 * take hands over the text (an allocated "" when nothing was put) and leaves the buffer
 * zeroed for reuse; a failure is sticky, makes later puts no-ops and makes take return NULL
 * having freed the partial text; sizes that would wrap size_t fail instead of allocating.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/sbuf.h"

static void test_put_and_str(void **state)
{
    k8s__sbuf b = {0};
    k8s__sb_str(&b, "hello");
    k8s__sb_put(&b, ", world!!", 7);
    assert_false(b.failed);
    assert_int_equal(b.len, 12);
    assert_string_equal(b.buf, "hello, world");
    assert_true(b.cap >= b.len + 1);

    k8s__sb_put(&b, "a\0b", 3); /* bytes, not C strings: NULs are kept */
    assert_int_equal(b.len, 15);
    assert_memory_equal(b.buf + 12, "a\0b", 4);
    free(b.buf);
}

static void test_growth_keeps_bytes(void **state)
{
    k8s__sbuf b = {0};
    char want[10000];
    for (size_t i = 0; i < sizeof(want); i++) {
        char c = (char)('a' + i % 26);
        want[i] = c;
        k8s__sb_put(&b, &c, 1);
        assert_int_equal(b.buf[b.len], '\0');
    }
    assert_false(b.failed);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.buf, want, sizeof(want));
    assert_int_equal(b.cap, 16384); /* 256 doubled until len + NUL fits */

    k8s__sbuf big = {0};
    k8s__sb_put(&big, want, sizeof(want)); /* one large put grows in one step */
    assert_int_equal(big.cap, 16384);
    assert_memory_equal(big.buf, want, sizeof(want));
    free(big.buf);
    free(b.buf);
}

static void test_reserve_on_empty_reads_empty(void **state)
{
    k8s__sbuf b = {0};
    k8s__sb_reserve(&b, 0);
    assert_non_null(b.buf);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.buf, "");
    k8s__sb_reserve(&b, 1000);
    assert_true(b.cap >= 1001);
    assert_string_equal(b.buf, "");
    free(b.buf);
}

static void test_take(void **state)
{
    k8s__sbuf b = {0};
    k8s__sb_str(&b, "kind: ConfigMap\n");
    char *s = k8s__sb_take(&b);
    assert_string_equal(s, "kind: ConfigMap\n");
    assert_null(b.buf);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_false(b.failed);
    free(s);

    char *empty = k8s__sb_take(&b); /* nothing put: still an allocated string */
    assert_non_null(empty);
    assert_string_equal(empty, "");
    free(empty);

    k8s__sb_str(&b, "again"); /* reusable after take */
    s = k8s__sb_take(&b);
    assert_string_equal(s, "again");
    free(s);
}

static void test_failure_is_sticky(void **state)
{
    k8s__sbuf b = {0};
    k8s__sb_str(&b, "partial");
    b.failed = 1; /* as after a realloc failure */
    k8s__sb_str(&b, " more");
    k8s__sb_reserve(&b, 1);
    assert_int_equal(b.len, 7);
    assert_string_equal(b.buf, "partial");
    assert_null(k8s__sb_take(&b)); /* frees the partial text: ASan would see a leak */
    assert_null(b.buf);
    assert_false(b.failed);
}

static void test_wrapping_sizes_fail(void **state)
{
    k8s__sbuf b = {0};
    k8s__sb_reserve(&b, SIZE_MAX);
    assert_true(b.failed);
    assert_null(b.buf);

    k8s__sbuf c = {0};
    k8s__sb_str(&c, "abc");
    k8s__sb_reserve(&c, SIZE_MAX - 3); /* len + extra + 1 wraps to 0 */
    assert_true(c.failed);
    assert_int_equal(c.len, 3);
    assert_string_equal(c.buf, "abc");
    free(c.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_and_str),
        cmocka_unit_test(test_growth_keeps_bytes),
        cmocka_unit_test(test_reserve_on_empty_reads_empty),
        cmocka_unit_test(test_take),
        cmocka_unit_test(test_failure_is_sticky),
        cmocka_unit_test(test_wrapping_sizes_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
