/*
 * Proves controller/corefile.c, the Corefile edit behind cluster DNS for the tailnet (the
 * guide's Step 3): our block is added, kept idempotent, repaired after an edit inside it, and
 * removed, while every byte outside the markers stays; a server block someone else keeps for
 * the zone is a conflict, not overwritten; a Corefile the editor cannot read safely and a
 * nameserver that is not an IP address (it comes from another controller's status) are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/corefile.h"

/* kubeadm's default Corefile. */
static const char *KUBEADM =
    ".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n"
    "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n"
    "       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }\n"
    "    prometheus :9153\n    forward . /etc/resolv.conf {\n       max_concurrent 1000\n"
    "    }\n    cache 30\n    loop\n    reload\n    loadbalance\n}\n";

static const struct mc_corefile_want ACME = {"acme.ts.net", "100.100.100.100"};

static enum mc_corefile_outcome edit(const char *text, const struct mc_corefile_want *w, char **out)
{
    char why[256];
    return mc_corefile_edit(text, strlen(text), w, out, why, sizeof(why));
}

static void test_add_keep_remove(void **state)
{
    (void)state;
    char *added = NULL, *again = NULL, *removed = NULL;
    assert_int_equal(edit(KUBEADM, &ACME, &added), MC_COREFILE_CHANGED);
    assert_memory_equal(added, KUBEADM, strlen(KUBEADM)); /* everything before stays */
    assert_non_null(strstr(added, "acme.ts.net:53 {\n    errors\n    cache 30\n"
                                  "    forward . 100.100.100.100\n}\n"));
    assert_int_equal(edit(added, &ACME, &again), MC_COREFILE_UNCHANGED);
    assert_null(again);
    struct mc_corefile_want none = {NULL, NULL};
    assert_int_equal(edit(added, &none, &removed), MC_COREFILE_CHANGED);
    assert_string_equal(removed, KUBEADM); /* teardown gives back the original exactly */
    assert_int_equal(edit(KUBEADM, &none, &again), MC_COREFILE_UNCHANGED);
    free(added);
    free(removed);
}

static void test_repairs_only_our_block(void **state)
{
    (void)state;
    char *added = NULL, *moved = NULL, *fixed = NULL;
    /* Our block between two foreign ones: a new nameserver IP changes only our lines. */
    char text[2048];
    snprintf(text, sizeof(text),
             "%s" MC_COREFILE_BEGIN "\nacme.ts.net:53 {\n    errors\n"
             "    forward . 100.64.0.9\n}\n" MC_COREFILE_END
             "\nexample.org:53 {\n  forward . 1.1.1.1\n}\n",
             KUBEADM);
    assert_int_equal(edit(text, &ACME, &fixed), MC_COREFILE_CHANGED);
    assert_memory_equal(fixed, KUBEADM, strlen(KUBEADM));
    assert_non_null(strstr(fixed, "forward . 100.100.100.100\n}\n" MC_COREFILE_END
                                  "\nexample.org:53 {\n  forward . 1.1.1.1\n}\n"));
    struct mc_corefile_want v6 = {"acme.ts.net", "fd7a:115c:a1e0::53"};
    assert_int_equal(edit(fixed, &v6, &moved), MC_COREFILE_CHANGED);
    assert_non_null(strstr(moved, "forward . fd7a:115c:a1e0::53\n"));
    /* No trailing newline in the original: our block starts on a line of its own. */
    assert_int_equal(edit("a:53 {\n}", &ACME, &added), MC_COREFILE_CHANGED);
    assert_memory_equal(added, "a:53 {\n}\n" MC_COREFILE_BEGIN "\n",
                        strlen("a:53 {\n}\n" MC_COREFILE_BEGIN "\n"));
    free(added);
    free(moved);
    free(fixed);
}

static void test_conflicts(void **state)
{
    (void)state;
    const char *theirs[] = {
        "acme.ts.net:53 {\n forward . 1.2.3.4\n}\n",
        "acme.ts.net {\n forward . 1.2.3.4\n}\n",
        "dns://ACME.ts.net.:53{\n forward . 1.2.3.4\n}\n",
        "example.org:53,acme.ts.net:53 {\n forward . 1.2.3.4\n}\n",
        "example.org acme.ts.net {\n}\n",
    };
    for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++) {
        char *out = NULL;
        assert_int_equal(edit(theirs[i], &ACME, &out), MC_COREFILE_CONFLICT);
        assert_null(out);
    }
    const char *fine[] = {
        "acme.ts.net:5353 {\n}\n",                   /* another port: another listener */
        "other.ts.net:53 {\n}\n",                    /* another zone */
        "# acme.ts.net:53 {\n.:53 {\n}\n",           /* a comment */
        ".:53 {\n  rewrite name acme.ts.net x\n}\n", /* inside a block: not a key */
        ".:53 {\n  template IN A \"acme.ts.net {\" {\n  }\n}\n",
    };
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        char *out = NULL;
        assert_int_equal(edit(fine[i], &ACME, &out), MC_COREFILE_CHANGED);
        free(out);
    }
}

static void test_refuses_what_it_cannot_read(void **state)
{
    (void)state;
    const char *bad[] = {
        ".:53 {\n",
        ".:53 {\n}\n}\n",
        ".:53 {\n template \"x\n}\n",
        MC_COREFILE_BEGIN "\n" MC_COREFILE_BEGIN "\n" MC_COREFILE_END "\n",
        MC_COREFILE_END "\n" MC_COREFILE_BEGIN "\n",
        MC_COREFILE_BEGIN "\nacme.ts.net:53 {\n",
        ".:53 {\n" MC_COREFILE_BEGIN "\n" MC_COREFILE_END "\n}\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = NULL, why[256] = "";
        assert_int_equal(mc_corefile_edit(bad[i], strlen(bad[i]), &ACME, &out, why, sizeof(why)),
                         MC_COREFILE_MALFORMED);
        assert_null(out);
        assert_true(why[0] != '\0');
    }
    char *out = NULL;
    assert_int_equal(mc_corefile_edit(".:53 {\0}\n", 9, &ACME, &out, NULL, 0),
                     MC_COREFILE_MALFORMED);
}

static void test_refuses_bad_input(void **state)
{
    (void)state;
    const struct mc_corefile_want bad[] = {
        {"acme.ts.net", "100.100.100.100\n}\nevil:53 {"}, /* a status value that injects */
        {"acme.ts.net", "resolver.example"},
        {"acme.ts.net", ""},
        {"acme.ts.net", NULL},
        {"acme ts.net", "100.100.100.100"},
        {"acme.ts.net {", "100.100.100.100"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = NULL;
        assert_int_equal(edit(KUBEADM, &bad[i], &out), MC_COREFILE_BAD_INPUT);
        assert_null(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_keep_remove),
        cmocka_unit_test(test_repairs_only_our_block),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_refuses_what_it_cannot_read),
        cmocka_unit_test(test_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
