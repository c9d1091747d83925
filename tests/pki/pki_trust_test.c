/*
 * Proves pki_trust_evaluate reaches every reason of its contract on generated chains,
 * including the two seed failures and their fixes: cluster B with a different root than A
 * (RootMismatch, then RootMatches once cacerts carries the shared root), and istiod started
 * before cacerts existed (IstiodRootStale while istio-ca-root-cert still holds istiod's
 * self-signed root, RootMatches once istiod restarted and distributes the shared root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "chain_util.h"

struct fixture {
    struct tchain shared;      /* cluster A: intermediate under the shared root */
    struct tchain b_own;       /* cluster B's mistake: its own root */
    struct tchain b_fixed;     /* cluster B fixed: an intermediate under the shared root */
    struct tchain istiod_self; /* what istiod generates when cacerts is missing */
    char shared_fp[PKI_FP_LEN], own_fp[PKI_FP_LEN], self_fp[PKI_FP_LEN];
    char shared_plain_lower[65];
    time_t now;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    tchain_make(&f->shared, "cluster-a", 730);
    tchain_make(&f->b_own, "cluster-b", 730);
    tchain_make_sibling(&f->b_fixed, &f->shared, "cluster-b");
    tchain_make(&f->istiod_self, "cluster-b", 730);
    tfingerprint(f->shared.root, f->shared_fp);
    tfingerprint(f->b_own.root, f->own_fp);
    tfingerprint(f->istiod_self.root, f->self_fp);
    for (size_t i = 0, o = 0; f->shared_fp[i]; i++)
        if (f->shared_fp[i] != ':')
            f->shared_plain_lower[o++] =
                (char)(f->shared_fp[i] >= 'A' ? f->shared_fp[i] + 32 : f->shared_fp[i]);
    f->now = time(NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tchain_free(&f->shared);
    tchain_free(&f->b_own);
    tchain_free(&f->b_fixed);
    tchain_free(&f->istiod_self);
    free(f);
    return 0;
}

/* A cacerts input from chain c, with the given declared roots and istiod root. */
static struct pki_trust_input input(const struct fixture *f, const struct tchain *c,
                                    const char *const *declared, size_t n, const char *istiod)
{
    struct pki_trust_input in = {
        .declared_roots = declared,
        .n_declared_roots = n,
        .istiod_root_cert = tbytes(istiod),
        .now = f->now,
    };
    if (c) {
        in.ca_cert = tbytes(c->ca_pem);
        in.ca_key = tbytes(c->ca_key_pem);
        in.root_cert = tbytes(c->root_pem);
        in.cert_chain = tbytes(c->chain_pem);
    }
    return in;
}

static void evaluate(const struct pki_trust_input *in, struct pki_trust_verdict *v)
{
    assert_int_equal(pki_trust_evaluate(in, v), 0);
    assert_non_null(v->reason);
    assert_true(v->message[0] != '\0');
}

static void test_root_matches(void **state)
{
    struct fixture *f = *state;
    /* Users write the fingerprint in any form; all must compare equal. */
    const char *declared[] = {f->shared_fp, f->shared_plain_lower, "", NULL};
    struct pki_trust_input in = input(f, &f->shared, declared, 4, f->shared.root_pem);
    struct pki_trust_verdict v;
    evaluate(&in, &v);
    assert_true(v.verified);
    assert_string_equal(v.reason, PKI_REASON_ROOT_MATCHES);
    assert_string_equal(v.cacerts_root_fingerprint, f->shared_fp);
    assert_string_equal(v.declared_root_fingerprint, f->shared_fp);
    assert_string_equal(v.istiod_root_fingerprint, f->shared_fp);
    assert_non_null(strstr(v.message, f->shared_fp));
    assert_false(v.expiring_soon);
    assert_int_equal(strlen(v.not_after), 20);
    assert_true(v.not_after_unix > f->now + 700L * 86400);
}

static void test_chain_verified_without_declaration(void **state)
{
    struct fixture *f = *state;
    struct pki_trust_input in = input(f, &f->shared, NULL, 0, NULL);
    struct pki_trust_verdict v;
    evaluate(&in, &v);
    assert_true(v.verified);
    assert_string_equal(v.reason, PKI_REASON_CHAIN_VERIFIED);
    assert_string_equal(v.cacerts_root_fingerprint, f->shared_fp);
}

static void test_declared_roots_disagree(void **state)
{
    struct fixture *f = *state;
    const char *declared[] = {f->shared_fp, f->own_fp};
    struct pki_trust_input in = input(f, &f->shared, declared, 2, NULL);
    struct pki_trust_verdict v;
    evaluate(&in, &v);
    assert_false(v.verified);
    assert_string_equal(v.reason, PKI_REASON_DECLARED_ROOTS_DISAGREE);
    assert_non_null(strstr(v.message, f->shared_fp));
    assert_non_null(strstr(v.message, f->own_fp));

    const char *typo[] = {f->shared_fp, "AB:CD:EF"};
    in = input(f, &f->shared, typo, 2, NULL);
    evaluate(&in, &v);
    assert_false(v.verified);
    assert_string_equal(v.reason, PKI_REASON_DECLARED_ROOTS_DISAGREE);
    assert_non_null(strstr(v.message, "AB:CD:EF"));
}

static void test_no_cacerts(void **state)
{
    struct fixture *f = *state;
    const char *declared[] = {f->shared_fp};
    struct pki_trust_input in = input(f, NULL, declared, 1, f->istiod_self.root_pem);
    struct pki_trust_verdict v;
    evaluate(&in, &v);
    assert_false(v.verified);
    assert_string_equal(v.reason, PKI_REASON_NO_CACERTS);
    assert_non_null(strstr(v.message, "self-signed"));
    assert_non_null(strstr(v.message, f->shared_fp));

    in = input(f, NULL, NULL, 0, NULL);
    evaluate(&in, &v);
    assert_false(v.verified);
    assert_string_equal(v.reason, PKI_REASON_NO_CACERTS);
    assert_non_null(strstr(v.message, "own self-signed root"));

    /* An external CA: no cacerts (its key lives elsewhere), istiod distributes the declared
     * root. That is the mesh working, not a missing Secret. */
    in = input(f, NULL, declared, 1, f->shared.root_pem);
    evaluate(&in, &v);
    assert_true(v.verified);
    assert_string_equal(v.reason, PKI_REASON_ROOT_MATCHES);
    assert_non_null(strstr(v.message, "external CA"));
    assert_non_null(strstr(v.message, f->shared_fp));
}

static void expect_chain_invalid(const struct pki_trust_input *in, const char *needle)
{
    struct pki_trust_verdict v;
    evaluate(in, &v);
    assert_false(v.verified);
    assert_string_equal(v.reason, PKI_REASON_CHAIN_INVALID);
    if (!strstr(v.message, needle))
        fail_msg("message \"%s\" lacks \"%s\"", v.message, needle);
}

static void test_chain_invalid(void **state)
{
    struct fixture *f = *state;
    const char *declared[] = {f->shared_fp};

    /* B's intermediate presented with the shared root: it does not chain. */
    struct pki_trust_input in = input(f, &f->b_own, declared, 1, NULL);
    in.root_cert = tbytes(f->shared.root_pem);
    in.cert_chain = tbytes(NULL);
    expect_chain_invalid(&in, "does not chain");

    in = input(f, &f->shared, declared, 1, NULL);
    in.ca_key = tbytes(f->b_fixed.ca_key_pem);
    expect_chain_invalid(&in, "ca-key.pem");

    in = input(f, &f->shared, declared, 1, NULL);
    in.root_cert = tbytes(NULL);
    expect_chain_invalid(&in, "root-cert.pem: missing");

    in = input(f, &f->shared, declared, 1, NULL);
    in.ca_cert = tbytes("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    expect_chain_invalid(&in, "ca-cert.pem");

    /* Only the key is present: still a cacerts Secret, and a broken one. */
    in = input(f, NULL, declared, 1, NULL);
    in.ca_key = tbytes(f->shared.ca_key_pem);
    expect_chain_invalid(&in, "ca-cert.pem: missing");
}

static void test_intermediate_expiry(void **state)
{
    struct fixture *f = *state;
    const char *declared[] = {f->shared_fp};
    struct pki_trust_input in = input(f, &f->shared, declared, 1, f->shared.root_pem);
    struct pki_trust_verdict v;

    in.now = f->now + 710L * 86400; /* 20 days before the 730-day intermediate ends */
    evaluate(&in, &v);
    assert_true(v.verified);
    assert_string_equal(v.reason, PKI_REASON_EXPIRING_SOON);
    assert_true(v.expiring_soon);
    assert_non_null(strstr(v.message, v.not_after));

    in.now = f->now + 800L * 86400;
    evaluate(&in, &v);
    assert_false(v.verified);
    assert_string_equal(v.reason, PKI_REASON_INTERMEDIATE_EXPIRED);
    assert_true(v.expiring_soon);
    assert_non_null(strstr(v.message, "expired"));
}

/* Seed failure 1: B -> A fails because cluster B has a different root CA than cluster A. */
static void test_seed_different_roots(void **state)
{
    struct fixture *f = *state;
    const char *declared[] = {f->shared_fp, f->shared_fp};
    struct pki_trust_input in = input(f, &f->b_own, declared, 2, f->b_own.root_pem);
    struct pki_trust_verdict v;
    evaluate(&in, &v);
    assert_false(v.verified);
    assert_string_equal(v.reason, PKI_REASON_ROOT_MISMATCH);
    assert_string_equal(v.cacerts_root_fingerprint, f->own_fp);
    assert_non_null(strstr(v.message, f->own_fp));
    assert_non_null(strstr(v.message, f->shared_fp));

    /* The fix: cacerts with the shared root applied, istiod restarted. */
    in = input(f, &f->b_fixed, declared, 2, f->b_fixed.root_pem);
    evaluate(&in, &v);
    assert_true(v.verified);
    assert_string_equal(v.reason, PKI_REASON_ROOT_MATCHES);
}

/* Seed failure 2: istiod started before cacerts existed and still serves its own root. */
static void test_seed_istiod_before_cacerts(void **state)
{
    struct fixture *f = *state;
    const char *declared[] = {f->shared_fp};
    struct pki_trust_input in = input(f, &f->b_fixed, declared, 1, f->istiod_self.root_pem);
    struct pki_trust_verdict v;
    evaluate(&in, &v);
    assert_false(v.verified);
    assert_string_equal(v.reason, PKI_REASON_ISTIOD_ROOT_STALE);
    assert_string_equal(v.istiod_root_fingerprint, f->self_fp);
    assert_non_null(strstr(v.message, f->self_fp));
    assert_non_null(strstr(v.message, f->shared_fp));
    assert_non_null(strstr(v.message, "restart istiod, then restart the workloads"));

    /* A ConfigMap istiod filled with garbage is no better. */
    in.istiod_root_cert = tbytes("not a certificate");
    evaluate(&in, &v);
    assert_false(v.verified);
    assert_string_equal(v.reason, PKI_REASON_ISTIOD_ROOT_STALE);

    /* During a root rotation the ConfigMap holds several roots; one must be the cacerts root. */
    char *both = tconcat(f->istiod_self.root_pem, f->shared.root_pem);
    in.istiod_root_cert = tbytes(both);
    evaluate(&in, &v);
    assert_true(v.verified);
    assert_string_equal(v.reason, PKI_REASON_ROOT_MATCHES);
    free(both);

    /* The fix: istiod restarted after cacerts existed. */
    in.istiod_root_cert = tbytes(f->shared.root_pem);
    evaluate(&in, &v);
    assert_true(v.verified);
    assert_string_equal(v.reason, PKI_REASON_ROOT_MATCHES);
    assert_non_null(strstr(v.message, "istiod distributes it"));
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct pki_trust_verdict v;
    struct pki_trust_input in;
    memset(&in, 0, sizeof(in));
    assert_int_equal(pki_trust_evaluate(NULL, &v), PKI_EINVAL);
    assert_int_equal(pki_trust_evaluate(&in, NULL), PKI_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_matches),
        cmocka_unit_test(test_chain_verified_without_declaration),
        cmocka_unit_test(test_declared_roots_disagree),
        cmocka_unit_test(test_no_cacerts),
        cmocka_unit_test(test_chain_invalid),
        cmocka_unit_test(test_intermediate_expiry),
        cmocka_unit_test(test_seed_different_roots),
        cmocka_unit_test(test_seed_istiod_before_cacerts),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
