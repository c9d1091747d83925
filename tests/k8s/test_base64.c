/* k8s/base64: the project's one base64 codec, as Kubernetes writes []byte fields. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/base64.h"

static void test_decode(void **state)
{
    unsigned char *out;
    size_t len;
    assert_int_equal(k8s_base64_decode("aGVsbG8=", 0, &out, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(out[5], 0);
    free(out);
    assert_int_equal(k8s_base64_decode("aGVs\nbG8", 0, &out, &len), 0); /* wrapped, unpadded */
    assert_int_equal(len, 5);
    free(out);
    assert_int_equal(k8s_base64_decode("", 0, &out, &len), 0);
    assert_int_equal(len, 0);
    free(out);
    /* Misplaced or excess padding, a lone sextet, the URL-safe alphabet: not what Kubernetes
     * writes, so refused. */
    const char *bad[] = {"a", "aGVsbG8==", "aG=Vs", "aGVsbG8===", "a-b_", "====", "aGVsb===="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(k8s_base64_decode(bad[i], 0, &out, &len), -EINVAL);
        assert_null(out);
    }
    assert_int_equal(k8s_base64_decode(NULL, 0, &out, &len), -EINVAL);
}

static void test_limit(void **state)
{
    unsigned char *out;
    size_t len;
    assert_int_equal(k8s_base64_decode("aGVsbG8=", 5, &out, &len), 0);
    free(out);
    assert_int_equal(k8s_base64_decode("aGVsbG8=", 4, &out, &len), -EINVAL);
    assert_null(out);
}

static void test_round_trip(void **state)
{
    unsigned char bytes[256];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof(bytes); n += 1 + n / 3) {
        char *text = k8s_base64_encode(bytes, n);
        assert_non_null(text);
        assert_int_equal(strlen(text), 4 * ((n + 2) / 3));
        unsigned char *out;
        size_t len;
        assert_int_equal(k8s_base64_decode(text, 0, &out, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(out, bytes, n);
        free(out);
        free(text);
    }
    char *hello = k8s_base64_encode("hello", 5);
    assert_string_equal(hello, "aGVsbG8=");
    free(hello);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
