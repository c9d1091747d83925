/*
 * Proves mc_trust_evaluate turns the objects the controller reads (the cacerts Secret with
 * base64 data, the istio-ca-root-cert ConfigMap, the MeshCluster set) into the right
 * TrustVerified condition on generated chains: matching roots → True; the two seed failures
 * (a cluster on a different root → RootMismatch naming both fingerprints; istiod started before
 * cacerts → IstiodRootStale with the restart advice) and their fixes; no cacerts → NoCacerts;
 * MeshClusters disagreeing; hostile Secret data (bad base64, non-strings, garbage PEM, empty)
 * → ChainInvalid without crashing; an intermediate expiring within 30 days → reason, Warning
 * Event and notAfter in .status.trust.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "chain_util.h"
#include "controller/trust.h"

struct fixture {
    struct tchain shared;      /* cluster1: intermediate under the shared root */
    struct tchain other;       /* cluster2's mistake: an intermediate under its own root */
    struct tchain sibling;     /* cluster2 fixed: intermediate under the shared root */
    struct tchain istiod_self; /* the self-signed root istiod makes without cacerts */
    struct tchain expiring;    /* a 10-day intermediate */
    char shared_fp[PKI_FP_LEN], other_fp[PKI_FP_LEN], self_fp[PKI_FP_LEN];
    char expiring_fp[PKI_FP_LEN];
    time_t now;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    tchain_make(&f->shared, "cluster1", 730);
    tchain_make(&f->other, "cluster2", 730);
    tchain_make_sibling(&f->sibling, &f->shared, "cluster2");
    tchain_make(&f->istiod_self, "cluster2", 730);
    tchain_make(&f->expiring, "cluster1", 10);
    tfingerprint(f->shared.root, f->shared_fp);
    tfingerprint(f->other.root, f->other_fp);
    tfingerprint(f->istiod_self.root, f->self_fp);
    tfingerprint(f->expiring.root, f->expiring_fp);
    f->now = time(NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tchain_free(&f->shared);
    tchain_free(&f->other);
    tchain_free(&f->sibling);
    tchain_free(&f->istiod_self);
    tchain_free(&f->expiring);
    free(f);
    return 0;
}

/* Base64 as the API server stores Secret data. */
static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

static void add_b64(cJSON *data, const char *key, const char *pem)
{
    char *enc = b64(pem);
    cJSON_AddStringToObject(data, key, enc);
    free(enc);
}

/* The istio-system/cacerts Secret for chain c (all four keys). */
static cJSON *secret_of(const struct tchain *c)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "apiVersion", "v1");
    cJSON_AddStringToObject(s, "kind", "Secret");
    cJSON *md = cJSON_AddObjectToObject(s, "metadata");
    cJSON_AddStringToObject(md, "name", "cacerts");
    cJSON_AddStringToObject(md, "namespace", "istio-system");
    cJSON *data = cJSON_AddObjectToObject(s, "data");
    add_b64(data, "ca-cert.pem", c->ca_pem);
    add_b64(data, "ca-key.pem", c->ca_key_pem);
    add_b64(data, "root-cert.pem", c->root_pem);
    add_b64(data, "cert-chain.pem", c->chain_pem);
    return s;
}

static cJSON *configmap_of(const char *root_pem)
{
    cJSON *cm = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(cm, "metadata");
    cJSON_AddStringToObject(md, "name", "istio-ca-root-cert");
    cJSON *data = cJSON_AddObjectToObject(cm, "data");
    cJSON_AddStringToObject(data, "root-cert.pem", root_pem);
    return cm;
}

/* Two MeshClusters declaring fp1 and fp2 (strings borrowed: never cleared). */
static void set_of(struct mc_meshcluster mcs[2], const char *fp1, const char *fp2)
{
    memset(mcs, 0, 2 * sizeof(*mcs));
    mcs[0].name = (char *)"cluster1";
    mcs[0].root_ca_fingerprint = (char *)fp1;
    mcs[1].name = (char *)"cluster2";
    mcs[1].root_ca_fingerprint = (char *)fp2;
}

static void evaluate(const struct fixture *f, const cJSON *secret, const cJSON *cm,
                     const struct mc_meshcluster *mcs, size_t n, struct mc_trust_result *r)
{
    struct mc_trust_input in = {.cacerts_secret = secret,
                                .root_configmap = cm,
                                .clusters = mcs,
                                .nclusters = n,
                                .now = f->now};
    assert_int_equal(mc_trust_evaluate(&in, r), 0);
    print_message("    %s %s: %s\n", r->status, r->reason, r->message);
}

static void test_matching_roots(void **state)
{
    struct fixture *f = *state;
    cJSON *secret = secret_of(&f->shared), *cm = configmap_of(f->shared.root_pem);
    struct mc_meshcluster mcs[2];
    set_of(mcs, f->shared_fp, f->shared_fp);
    struct mc_trust_result r;
    evaluate(f, secret, cm, mcs, 2, &r);
    assert_string_equal(r.status, "True");
    assert_string_equal(r.reason, PKI_REASON_ROOT_MATCHES);
    assert_non_null(strstr(r.message, f->shared_fp));
    assert_string_equal(r.root_fingerprint, f->shared_fp);
    assert_true(r.intermediate_not_after[0] != '\0');
    assert_false(r.warn);

    cJSON *st = mc_trust_status_json(&r);
    assert_string_equal(cJSON_GetObjectItem(st, "rootCAFingerprint")->valuestring, f->shared_fp);
    assert_string_equal(cJSON_GetObjectItem(st, "intermediateNotAfter")->valuestring,
                        r.intermediate_not_after);
    cJSON_Delete(st);

    /* istiod's ConfigMap not there (yet): nothing contradicts cacerts. */
    evaluate(f, secret, NULL, mcs, 2, &r);
    assert_string_equal(r.status, "True");
    assert_string_equal(r.reason, PKI_REASON_ROOT_MATCHES);
    assert_string_equal(r.istiod_root_fingerprint, "");
    cJSON_Delete(secret);
    cJSON_Delete(cm);
}

/* Seed failure 1: cluster2's cacerts comes from its own root, the mesh declares the shared. */
static void test_seed_different_roots(void **state)
{
    struct fixture *f = *state;
    cJSON *secret = secret_of(&f->other), *cm = configmap_of(f->other.root_pem);
    struct mc_meshcluster mcs[2];
    set_of(mcs, f->shared_fp, f->shared_fp);
    struct mc_trust_result r;
    evaluate(f, secret, cm, mcs, 2, &r);
    assert_string_equal(r.status, "False");
    assert_string_equal(r.reason, PKI_REASON_ROOT_MISMATCH);
    assert_non_null(strstr(r.message, f->shared_fp));
    assert_non_null(strstr(r.message, f->other_fp));
    assert_string_equal(r.root_fingerprint, f->other_fp);
    cJSON_Delete(secret);
    cJSON_Delete(cm);

    /* The fix: cacerts from an intermediate under the shared root. */
    secret = secret_of(&f->sibling);
    cm = configmap_of(f->shared.root_pem);
    evaluate(f, secret, cm, mcs, 2, &r);
    assert_string_equal(r.status, "True");
    assert_string_equal(r.reason, PKI_REASON_ROOT_MATCHES);
    cJSON_Delete(secret);
    cJSON_Delete(cm);
}

/* Seed failure 2: cacerts is right, istiod still serves the root it made before it existed. */
static void test_seed_istiod_before_cacerts(void **state)
{
    struct fixture *f = *state;
    cJSON *secret = secret_of(&f->sibling), *cm = configmap_of(f->istiod_self.root_pem);
    struct mc_meshcluster mcs[2];
    set_of(mcs, f->shared_fp, f->shared_fp);
    struct mc_trust_result r;
    evaluate(f, secret, cm, mcs, 2, &r);
    assert_string_equal(r.status, "False");
    assert_string_equal(r.reason, PKI_REASON_ISTIOD_ROOT_STALE);
    assert_non_null(strstr(r.message, f->self_fp));
    assert_non_null(strstr(r.message, f->shared_fp));
    assert_non_null(strstr(r.message, "restart istiod, then"));
    assert_non_null(strstr(r.message, "workloads"));
    assert_string_equal(r.istiod_root_fingerprint, f->self_fp);
    cJSON_Delete(cm);

    /* After the restart istiod distributes the cacerts root. */
    cm = configmap_of(f->shared.root_pem);
    evaluate(f, secret, cm, mcs, 2, &r);
    assert_string_equal(r.status, "True");
    assert_string_equal(r.reason, PKI_REASON_ROOT_MATCHES);
    cJSON_Delete(secret);
    cJSON_Delete(cm);
}

static void test_no_cacerts(void **state)
{
    struct fixture *f = *state;
    cJSON *cm = configmap_of(f->istiod_self.root_pem);
    struct mc_meshcluster mcs[2];
    set_of(mcs, f->shared_fp, f->shared_fp);
    struct mc_trust_result r;
    evaluate(f, NULL, cm, mcs, 2, &r);
    assert_string_equal(r.status, "False");
    assert_string_equal(r.reason, PKI_REASON_NO_CACERTS);
    assert_non_null(strstr(r.message, "self-signed"));
    assert_non_null(strstr(r.message, f->shared_fp));
    assert_non_null(strstr(r.message, f->self_fp));
    /* The root in use is istiod's own. */
    assert_string_equal(r.root_fingerprint, f->self_fp);
    assert_string_equal(r.intermediate_not_after, "");
    cJSON *st = mc_trust_status_json(&r);
    assert_null(cJSON_GetObjectItem(st, "intermediateNotAfter"));
    cJSON_Delete(st);

    /* Nothing at all: still NoCacerts, nothing in use to report. */
    evaluate(f, NULL, NULL, NULL, 0, &r);
    assert_string_equal(r.status, "False");
    assert_string_equal(r.reason, PKI_REASON_NO_CACERTS);
    assert_string_equal(r.root_fingerprint, "");
    cJSON_Delete(cm);
}

static void test_declared_roots_disagree(void **state)
{
    struct fixture *f = *state;
    cJSON *secret = secret_of(&f->shared), *cm = configmap_of(f->shared.root_pem);
    struct mc_meshcluster mcs[2];
    set_of(mcs, f->shared_fp, f->other_fp);
    struct mc_trust_result r;
    evaluate(f, secret, cm, mcs, 2, &r);
    assert_string_equal(r.status, "False");
    assert_string_equal(r.reason, PKI_REASON_DECLARED_ROOTS_DISAGREE);
    assert_non_null(strstr(r.message, f->shared_fp));
    assert_non_null(strstr(r.message, f->other_fp));

    /* One undeclared, one declared: the declaration stands. */
    set_of(mcs, "", f->shared_fp);
    evaluate(f, secret, cm, mcs, 2, &r);
    assert_string_equal(r.reason, PKI_REASON_ROOT_MATCHES);

    /* None declared: the chain is still checked. */
    set_of(mcs, "", "");
    evaluate(f, secret, cm, mcs, 2, &r);
    assert_string_equal(r.status, "True");
    assert_string_equal(r.reason, PKI_REASON_CHAIN_VERIFIED);
    cJSON_Delete(secret);
    cJSON_Delete(cm);
}

/* Secret data shaped by whoever can write Secrets: never a crash, always ChainInvalid. */
static void expect_invalid(const struct fixture *f, cJSON *secret, const char *needle)
{
    cJSON *cm = configmap_of(f->shared.root_pem);
    struct mc_meshcluster mcs[2];
    set_of(mcs, f->shared_fp, f->shared_fp);
    struct mc_trust_result r;
    evaluate(f, secret, cm, mcs, 2, &r);
    assert_string_equal(r.status, "False");
    assert_string_equal(r.reason, PKI_REASON_CHAIN_INVALID);
    if (needle)
        assert_non_null(strstr(r.message, needle));
    cJSON_Delete(secret);
    cJSON_Delete(cm);
}

static void test_malformed_secret(void **state)
{
    struct fixture *f = *state;

    cJSON *s = secret_of(&f->shared);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(s, "data"), "ca-cert.pem",
                              cJSON_CreateString("not*base64!"));
    expect_invalid(f, s, "data[\"ca-cert.pem\"] is not valid base64");

    /* Invalid base64 in an optional key is still a broken Secret. */
    s = secret_of(&f->shared);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(s, "data"), "ca-key.pem",
                              cJSON_CreateString("QUJD=QUJD"));
    expect_invalid(f, s, "ca-key.pem");

    s = secret_of(&f->shared);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(s, "data"), "root-cert.pem",
                              cJSON_CreateNumber(42));
    expect_invalid(f, s, "root-cert.pem");

    /* Valid base64 of something that is not PEM. */
    s = secret_of(&f->shared);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(s, "data"), "ca-cert.pem",
                              cJSON_CreateString("aGVsbG8gd29ybGQ="));
    expect_invalid(f, s, "ca-cert.pem");

    /* PEM armour around garbage. */
    s = secret_of(&f->shared);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(s, "data"), "root-cert.pem",
                              cJSON_CreateString("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBQUEKLS0"
                                                 "tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="));
    expect_invalid(f, s, "root-cert.pem");

    /* A Secret without data, and one whose data is not an object. */
    s = cJSON_CreateObject();
    expect_invalid(f, s, "none of the cacerts keys");
    s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "data", "oops");
    expect_invalid(f, s, "not an object");

    /* Another cluster's intermediate with this cluster's root does not chain. */
    s = secret_of(&f->shared);
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(s, "data"), "ca-cert.pem");
    add_b64(cJSON_GetObjectItem(s, "data"), "ca-cert.pem", f->other.ca_pem);
    expect_invalid(f, s, NULL);
}

static void test_expiring_intermediate(void **state)
{
    struct fixture *f = *state;
    cJSON *secret = secret_of(&f->expiring), *cm = configmap_of(f->expiring.root_pem);
    struct mc_meshcluster mcs[2];
    set_of(mcs, f->expiring_fp, f->expiring_fp);
    struct mc_trust_result r;
    evaluate(f, secret, cm, mcs, 2, &r);
    assert_string_equal(r.status, "True");
    assert_string_equal(r.reason, PKI_REASON_EXPIRING_SOON);
    assert_true(r.warn);
    assert_true(r.intermediate_not_after[0] != '\0');
    assert_non_null(strstr(r.event_message, r.intermediate_not_after));
    assert_non_null(strstr(r.message, r.intermediate_not_after));
    cJSON *st = mc_trust_status_json(&r);
    assert_string_equal(cJSON_GetObjectItem(st, "intermediateNotAfter")->valuestring,
                        r.intermediate_not_after);
    cJSON_Delete(st);

    /* Past notAfter the verdict turns False, and the warning still goes out. */
    struct mc_trust_input in = {.cacerts_secret = secret,
                                .root_configmap = cm,
                                .clusters = mcs,
                                .nclusters = 2,
                                .now = f->now + 11 * 24 * 3600};
    assert_int_equal(mc_trust_evaluate(&in, &r), 0);
    assert_string_equal(r.status, "False");
    assert_string_equal(r.reason, PKI_REASON_INTERMEDIATE_EXPIRED);
    cJSON_Delete(secret);
    cJSON_Delete(cm);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct mc_trust_result r;
    assert_int_equal(mc_trust_evaluate(NULL, &r), -EINVAL);
    assert_string_equal(r.status, "False");
    struct mc_trust_input in = {.nclusters = 1};
    assert_int_equal(mc_trust_evaluate(&in, &r), -EINVAL);
    assert_int_equal(mc_trust_evaluate(&in, NULL), -EINVAL);
    assert_null(mc_trust_status_json(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching_roots),
        cmocka_unit_test(test_seed_different_roots),
        cmocka_unit_test(test_seed_istiod_before_cacerts),
        cmocka_unit_test(test_no_cacerts),
        cmocka_unit_test(test_declared_roots_disagree),
        cmocka_unit_test(test_malformed_secret),
        cmocka_unit_test(test_expiring_intermediate),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
