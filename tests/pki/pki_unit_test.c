/*
 * Proves pki/'s building blocks on generated chains: the CA certificates carry the extensions
 * the seeds and Istio expect, serials are random 128-bit, fingerprints match openssl's form and
 * accept every way users write them, PEM parsing is strict about what it accepts and never
 * prompts, pki_bundle_check names each kind of broken bundle, and key files are created 0600
 * and never overwritten without force. Cross-checks against the openssl CLI and
 * python3-cryptography live in cli_test.py and crypto_check.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "chain_util.h"

static void test_root_extensions(void **state)
{
    (void)state;
    struct tchain c;
    tchain_make(&c, "east", 730);

    uint32_t flags = X509_get_extension_flags(c.root);
    assert_true(flags & EXFLAG_CA);
    assert_true(flags & EXFLAG_SS);
    assert_int_equal(X509_get_key_usage(c.root), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    int crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(c.root, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_int_equal(crit, 1);
    assert_null(bc->pathlen); /* the seeds set no pathlen */
    BASIC_CONSTRAINTS_free(bc);

    flags = X509_get_extension_flags(c.ca);
    assert_true(flags & EXFLAG_CA);
    assert_false(flags & EXFLAG_SS);
    assert_int_equal(X509_get_key_usage(c.ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    ASN1_BIT_STRING *ku = X509_get_ext_d2i(c.ca, NID_key_usage, &crit, NULL);
    assert_non_null(ku);
    assert_int_equal(crit, 1);
    ASN1_BIT_STRING_free(ku);
    assert_non_null(X509_get0_subject_key_id(c.ca));
    assert_non_null(X509_get0_authority_key_id(c.ca));
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(c.ca), X509_get0_subject_key_id(c.root)),
        0);

    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(c.ca), subject, sizeof(subject));
    assert_string_equal(subject, "/O=Istio/CN=Intermediate CA/L=east");
    X509_NAME_oneline(X509_get_subject_name(c.root), subject, sizeof(subject));
    assert_string_equal(subject, "/O=Istio/CN=Root CA");
    assert_true(X509_check_host(c.ca, "istiod.istio-system.svc", 0, 0, NULL) == 1);
    assert_int_equal(X509_verify(c.ca, c.root_key), 1);
    tchain_free(&c);
}

static void test_serials_random_128_bit(void **state)
{
    (void)state;
    struct tchain a, b;
    tchain_make(&a, "a", 30);
    tchain_make(&b, "b", 30);
    X509 *certs[] = {a.root, a.ca, b.root, b.ca};
    BIGNUM *seen[4];
    for (int i = 0; i < 4; i++) {
        seen[i] = ASN1_INTEGER_to_BN(X509_get0_serialNumber(certs[i]), NULL);
        assert_non_null(seen[i]);
        assert_false(BN_is_negative(seen[i]));
        assert_int_equal(BN_num_bits(seen[i]), 127); /* top bit clear, next bit set */
        for (int j = 0; j < i; j++)
            assert_int_not_equal(BN_cmp(seen[i], seen[j]), 0);
    }
    for (int i = 0; i < 4; i++)
        BN_free(seen[i]);
    tchain_free(&a);
    tchain_free(&b);
}

static void test_validity_and_clamp(void **state)
{
    (void)state;
    char err[256];
    EVP_PKEY *rk = NULL, *ik = NULL;
    X509 *root = NULL, *ca = NULL;
    time_t start = 1700000000;
    struct pki_ca_opts ropts = {.days = 10, .not_before = start};
    assert_int_equal(pki_key_generate(PKI_KEY_EC_P256, &rk, err, sizeof(err)), 0);
    assert_int_equal(pki_root_create(rk, &ropts, &root, err, sizeof(err)), 0);
    time_t na = 0;
    char when[PKI_TIME_LEN];
    assert_int_equal(pki_asn1_time_to_rfc3339(X509_get0_notAfter(root), when, &na), 0);
    assert_int_equal(na, start + 10 * 86400);
    assert_string_equal(when, "2023-11-24T22:13:20Z");

    /* An intermediate asking for longer than its root ends with the root. */
    struct pki_ca_opts iopts = {.locality = "x", .days = 365, .not_before = start};
    assert_int_equal(pki_key_generate(PKI_KEY_EC_P256, &ik, err, sizeof(err)), 0);
    assert_int_equal(pki_intermediate_create(root, rk, ik, &iopts, &ca, err, sizeof(err)), 0);
    assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(ca), X509_get0_notAfter(root)), 0);

    /* A root key that does not belong to the root certificate is refused. */
    X509 *bad = NULL;
    assert_int_equal(pki_intermediate_create(root, ik, ik, &iopts, &bad, err, sizeof(err)),
                     PKI_EINVAL);
    assert_null(bad);
    assert_non_null(strstr(err, "does not belong"));
    struct pki_ca_opts zero = {.days = 0};
    assert_int_equal(pki_root_create(rk, &zero, &bad, err, sizeof(err)), PKI_EINVAL);

    X509_free(root);
    X509_free(ca);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
}

static void test_rsa_chain(void **state)
{
    (void)state;
    char err[256];
    EVP_PKEY *rk = NULL, *ik = NULL;
    X509 *root = NULL, *ca = NULL;
    struct pki_ca_opts ropts = {.days = 3650, .org = "Company Inc."};
    struct pki_ca_opts iopts = {.locality = "west", .days = 730};
    assert_int_equal(pki_key_generate(PKI_KEY_RSA_4096, &rk, err, sizeof(err)), 0);
    assert_int_equal(EVP_PKEY_get_bits(rk), 4096);
    assert_int_equal(pki_key_type_of(rk), PKI_KEY_RSA_4096);
    assert_int_equal(pki_root_create(rk, &ropts, &root, err, sizeof(err)), 0);
    assert_int_equal(pki_key_generate(PKI_KEY_EC_P256, &ik, err, sizeof(err)), 0);
    assert_int_equal(pki_key_type_of(ik), PKI_KEY_EC_P256);
    assert_int_equal(pki_intermediate_create(root, rk, ik, &iopts, &ca, err, sizeof(err)), 0);
    assert_int_equal(X509_get_signature_nid(ca), NID_sha256WithRSAEncryption);

    struct pki_bundle b = {.ca_cert = ca, .ca_key = ik, .roots = sk_X509_new_null()};
    sk_X509_push(b.roots, root);
    struct pki_check_report r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(pki_bundle_check(&b, NULL, time(NULL), &r), 0);
    assert_int_equal(r.n_problems, 0);
    pki_bundle_clear(&b);
    EVP_PKEY_free(rk);
}

static void test_fingerprint_forms(void **state)
{
    (void)state;
    struct tchain c;
    tchain_make(&c, "east", 730);
    char fp[PKI_FP_LEN], norm[PKI_FP_LEN];
    tfingerprint(c.root, fp);
    assert_int_equal(strlen(fp), 95);
    for (int i = 2; i < 95; i += 3)
        assert_int_equal(fp[i], ':');

    char plain[65] = "", lower[96];
    for (size_t i = 0, o = 0; fp[i]; i++)
        if (fp[i] != ':')
            plain[o++] = fp[i];
    for (size_t i = 0; i <= strlen(fp); i++)
        lower[i] = (char)(fp[i] >= 'A' && fp[i] <= 'F' ? fp[i] + 32 : fp[i]);
    char prefixed[160];
    snprintf(prefixed, sizeof(prefixed), "  sha256 Fingerprint=%s\n", fp);
    const char *good[] = {fp, plain, lower, prefixed};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(pki_fingerprint_normalize(good[i], norm), 0);
        assert_string_equal(norm, fp);
    }
    char split[100];
    snprintf(split, sizeof(split), "%c:%s", plain[0], plain + 1);
    const char *bad[] = {"", "AB:CD", split, "zz", NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(pki_fingerprint_normalize(bad[i], norm), PKI_EINVAL);
    char longer[80];
    snprintf(longer, sizeof(longer), "%sAB", plain);
    assert_int_equal(pki_fingerprint_normalize(longer, norm), PKI_EINVAL);
    tchain_free(&c);
}

static void test_pem_parsing(void **state)
{
    (void)state;
    struct tchain c;
    tchain_make(&c, "east", 730);
    char err[256];
    STACK_OF(X509) *certs = NULL;

    /* Text and other PEM blocks around certificates are skipped. */
    char *mixed = tconcat("# comment\n", c.ca_key_pem);
    char *mixed2 = tconcat(mixed, c.chain_pem);
    assert_int_equal(pki_pem_parse_certs(tbytes(mixed2), &certs, err, sizeof(err)), 0);
    assert_int_equal(sk_X509_num(certs), 2);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 0), c.ca), 0);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 1), c.root), 0);
    sk_X509_pop_free(certs, X509_free);

    /* Lengths are honoured: no NUL terminator needed, nothing read past len. */
    size_t one = strlen(c.ca_pem);
    assert_int_equal(
        pki_pem_parse_certs((struct pki_bytes){c.chain_pem, one}, &certs, err, sizeof(err)), 0);
    assert_int_equal(sk_X509_num(certs), 1);
    sk_X509_pop_free(certs, X509_free);

    assert_int_equal(pki_pem_parse_certs(tbytes(""), &certs, err, sizeof(err)), PKI_EBADMSG);
    assert_int_equal(pki_pem_parse_certs(tbytes("hello"), &certs, err, sizeof(err)), PKI_EBADMSG);
    assert_null(certs);
    assert_int_equal(pki_pem_parse_certs(tbytes(c.ca_key_pem), &certs, err, sizeof(err)),
                     PKI_EBADMSG);
    assert_non_null(strstr(err, "no CERTIFICATE"));

    /* A certificate block whose body is damaged is an error, not silently skipped. */
    char *damaged = strdup(c.ca_pem);
    damaged[strlen(damaged) / 2] = '*';
    assert_int_equal(pki_pem_parse_certs(tbytes(damaged), &certs, err, sizeof(err)), PKI_EBADMSG);
    char *truncated = strdup(c.ca_pem);
    truncated[strlen(truncated) - 30] = '\0';
    assert_int_equal(pki_pem_parse_certs(tbytes(truncated), &certs, err, sizeof(err)), PKI_EBADMSG);

    EVP_PKEY *key = NULL;
    assert_int_equal(pki_pem_parse_key(tbytes(c.ca_key_pem), &key, err, sizeof(err)), 0);
    assert_int_equal(EVP_PKEY_eq(key, c.ca_key), 1);
    EVP_PKEY_free(key);
    key = NULL;
    assert_int_equal(pki_pem_parse_key(tbytes(c.ca_pem), &key, err, sizeof(err)), PKI_EBADMSG);

    /* An encrypted key is refused without prompting for a passphrase. */
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, c.ca_key, EVP_aes_256_cbc(),
                                              (unsigned char *)"secret", 6, NULL, NULL),
                     1);
    char *enc = NULL;
    long n = BIO_get_mem_data(bio, &enc);
    assert_int_equal(pki_pem_parse_key((struct pki_bytes){enc, (size_t)n}, &key, err, sizeof(err)),
                     PKI_EBADMSG);
    assert_null(key);
    BIO_free(bio);

    free(mixed);
    free(mixed2);
    free(damaged);
    free(truncated);
    tchain_free(&c);
}

/* Parses the parts given and checks them against the bundle's own root. */
static void check(const char *ca, const char *key, const char *root, const char *chain,
                  struct pki_check_report *r)
{
    struct pki_bundle_bytes in = {tbytes(ca), tbytes(key), tbytes(root), tbytes(chain)};
    struct pki_bundle b;
    assert_int_equal(pki_bundle_parse(&in, true, &b, r), 0);
    assert_int_equal(pki_bundle_check(&b, NULL, time(NULL), r), 0);
    pki_bundle_clear(&b);
}

static void test_bundle_check(void **state)
{
    (void)state;
    struct tchain a, b, sib;
    tchain_make(&a, "east", 730);
    tchain_make(&b, "west", 730);
    tchain_make_sibling(&sib, &a, "north");
    struct pki_check_report *r = calloc(1, sizeof(*r));

    check(a.ca_pem, a.ca_key_pem, a.root_pem, a.chain_pem, r);
    assert_int_equal(r->n_problems, 0);
    assert_false(r->expiring_soon);
    char fp[PKI_FP_LEN];
    tfingerprint(a.root, fp);
    assert_string_equal(r->root_fingerprint, fp);

    /* The seeds' lesson stores the intermediate alone as cert-chain.pem: still valid. */
    check(a.ca_pem, a.ca_key_pem, a.root_pem, a.ca_pem, r);
    assert_int_equal(r->n_problems, 0);

    check(a.ca_pem, sib.ca_key_pem, a.root_pem, a.chain_pem, r);
    assert_int_equal(r->n_problems, 1);
    assert_int_equal(r->problems[0].kind, PKI_PROBLEM_KEY_MISMATCH);

    /* An intermediate from another root. */
    check(b.ca_pem, b.ca_key_pem, a.root_pem, NULL, r);
    assert_true(pki_report_has(r, PKI_PROBLEM_CHAIN));
    assert_true(pki_report_has(r, PKI_PROBLEM_MISSING)); /* cert-chain.pem required here */

    char *reversed = tconcat(a.root_pem, a.ca_pem);
    check(a.ca_pem, a.ca_key_pem, a.root_pem, reversed, r);
    assert_int_equal(r->n_problems, 1);
    assert_int_equal(r->problems[0].kind, PKI_PROBLEM_CHAIN_FILE);
    free(reversed);

    check(a.ca_pem, a.ca_key_pem, a.root_pem, sib.chain_pem, r);
    assert_true(pki_report_has(r, PKI_PROBLEM_CHAIN_FILE));

    check(NULL, "garbage", a.root_pem, a.chain_pem, r);
    assert_int_equal(r->n_problems, 2);
    assert_string_equal(r->problems[0].text, "ca-cert.pem: missing");
    assert_int_equal(r->problems[1].kind, PKI_PROBLEM_MISSING);

    /* Signed by the root but not a CA, and a CA without keyCertSign. */
    X509 *leaf = tcert_custom(a.root, a.root_key, a.ca_key, "leaf", "critical,CA:FALSE",
                              "critical,digitalSignature", 30);
    char *leaf_pem = tpem_cert(leaf);
    check(leaf_pem, a.ca_key_pem, a.root_pem, NULL, r);
    assert_true(pki_report_has(r, PKI_PROBLEM_NOT_CA));
    assert_true(pki_report_has(r, PKI_PROBLEM_KEY_USAGE));
    assert_false(pki_report_has(r, PKI_PROBLEM_CHAIN));
    X509_free(leaf);
    free(leaf_pem);

    /* The seeds' recipe: basicConstraints=CA:TRUE not critical, keyUsage critical. Accepted. */
    X509 *seedish = tcert_custom(a.root, a.root_key, a.ca_key, "Cluster-1 Intermediate CA",
                                 "CA:TRUE", "critical,keyCertSign,cRLSign", 20);
    char *seed_pem = tpem_cert(seedish);
    check(seed_pem, a.ca_key_pem, a.root_pem, seed_pem, r);
    assert_int_equal(r->n_problems, 0);
    assert_true(r->expiring_soon); /* 20 days from now is within the window */
    X509_free(seedish);
    free(seed_pem);

    /* A trust anchor other than root-cert.pem. */
    struct pki_bundle_bytes in = {tbytes(a.ca_pem), tbytes(a.ca_key_pem), tbytes(a.root_pem),
                                  tbytes(a.chain_pem)};
    struct pki_bundle bundle;
    assert_int_equal(pki_bundle_parse(&in, true, &bundle, r), 0);
    assert_int_equal(pki_bundle_check(&bundle, b.root, time(NULL), r), 0);
    assert_true(pki_report_has(r, PKI_PROBLEM_ROOT_DIFFERS));
    assert_true(pki_report_has(r, PKI_PROBLEM_CHAIN));
    tfingerprint(b.root, fp);
    assert_string_equal(r->root_fingerprint, fp);

    pki_bundle_clear(&bundle);

    /* Time travel: expired intermediate; root not yet valid. */
    assert_int_equal(pki_bundle_parse(&in, true, &bundle, r), 0);
    assert_int_equal(pki_bundle_check(&bundle, NULL, time(NULL) + 800L * 86400, r), 0);
    assert_int_equal(r->n_problems, 1);
    assert_int_equal(r->problems[0].kind, PKI_PROBLEM_EXPIRED);
    pki_bundle_clear(&bundle);
    assert_int_equal(pki_bundle_parse(&in, true, &bundle, r), 0);
    assert_int_equal(pki_bundle_check(&bundle, NULL, time(NULL) - 86400, r), 0);
    assert_true(pki_report_has(r, PKI_PROBLEM_NOT_YET_VALID));
    assert_true(pki_report_has(r, PKI_PROBLEM_ROOT_EXPIRED));
    pki_bundle_clear(&bundle);

    free(r);
    tchain_free(&a);
    tchain_free(&b);
    tchain_free(&sib);
}

static void test_file_write(void **state)
{
    (void)state;
    char dir[] = "/tmp/pki-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    mode_t old = umask(022);

    assert_int_equal(pki_file_write(path, "first", 5, 0600, false), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(pki_file_write(path, "second", 6, 0600, false), PKI_EEXIST);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(pki_file_read(path, &data, &len), 0);
    assert_string_equal(data, "first");
    free(data);

    assert_int_equal(pki_file_write(path, "second", 6, 0600, true), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(pki_file_read(path, &data, &len), 0);
    assert_string_equal(data, "second");
    assert_int_equal(len, 6);
    free(data);

    snprintf(path, sizeof(path), "%s/cert.pem", dir);
    assert_int_equal(pki_file_write(path, "c", 1, 0644, false), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    umask(old);

    /* Nothing but the two files is left behind (no temporary names). */
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 2 && rm -r %s", dir, dir);
    assert_int_equal(system(cmd), 0);
}

/* A serving certificate: not a CA, serverAuth, the SANs asked for, self-signed by its key. */
static void test_serving_self_signed(void **state)
{
    (void)state;
    char err[256];
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    struct pki_ca_opts o = {.org = "meshclusterd", .cn = "metrics", .days = 2};
    assert_int_equal(pki_key_generate(PKI_KEY_EC_P256, &key, err, sizeof(err)), 0);
    assert_int_equal(pki_serving_self_signed(key, &o, "", &cert, err, sizeof(err)), PKI_EINVAL);
    assert_null(cert);
    assert_int_equal(
        pki_serving_self_signed(key, &o, "DNS:localhost,IP:127.0.0.1", &cert, err, sizeof(err)), 0);
    assert_int_equal(X509_check_ca(cert), 0);
    assert_true(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER);
    assert_true(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE);
    assert_false(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN);
    assert_int_equal(X509_check_host(cert, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(cert, "10.0.0.1", 0), 0);
    assert_int_equal(X509_verify(cert, key), 1);
    assert_int_equal(X509_check_private_key(cert, key), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_extensions),     cmocka_unit_test(test_serials_random_128_bit),
        cmocka_unit_test(test_validity_and_clamp),  cmocka_unit_test(test_rsa_chain),
        cmocka_unit_test(test_fingerprint_forms),   cmocka_unit_test(test_pem_parsing),
        cmocka_unit_test(test_bundle_check),        cmocka_unit_test(test_file_write),
        cmocka_unit_test(test_serving_self_signed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
