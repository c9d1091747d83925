/*
 * Proves configuration loading (k8s/config): kubeconfig current-context and named contexts,
 * inline -data (base64) vs file forms resolved relative to the kubeconfig's folder, static token
 * vs tokenFile (read lazily, re-read only after a minute or when forced, a failed re-read keeps
 * the old token), namespace defaulting, $KUBECONFIG lists (merged as kubectl merges them, each
 * file's relative paths its own), and clear refusals: insecure-skip-tls-verify, exec plugins,
 * a certificate without a key, bad base64, unknown contexts/clusters, non-URL servers. In-cluster
 * config is read from a fake root folder: server from the service env (IPv6 bracketed), CA,
 * namespace file vs $POD_NAMESPACE, token; missing pieces are errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "k8s/config.h"

static char dir[64];

static void write_text(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    strcpy(dir, "/tmp/k8s-config-test.XXXXXX");
    assert_non_null(mkdtemp(dir));
    unsetenv("KUBECONFIG");
    unsetenv("POD_NAMESPACE");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* base64("CA-PEM\n") = "Q0EtUEVNCg==", base64("CERT") = "Q0VSVA==", base64("KEY") = "S0VZ" */
static const char *kubeconfig = "apiVersion: v1\n"
                                "kind: Config\n"
                                "current-context: one\n"
                                "clusters:\n"
                                "- name: c1\n"
                                "  cluster:\n"
                                "    server: https://127.0.0.1:6443/\n"
                                "    certificate-authority-data: Q0EtUEVNCg==\n"
                                "- name: c2\n"
                                "  cluster:\n"
                                "    server: https://[::1]:7443\n"
                                "    certificate-authority: ca.pem\n"
                                "    insecure-skip-tls-verify: false\n"
                                "- name: bad\n"
                                "  cluster:\n"
                                "    server: https://10.0.0.1\n"
                                "    insecure-skip-tls-verify: true\n"
                                "- name: noserver\n"
                                "  cluster: {}\n"
                                "users:\n"
                                "- name: u1\n"
                                "  user:\n"
                                "    token: static-token\n"
                                "    client-certificate-data: Q0VSVA==\n"
                                "    client-key-data: S0VZ\n"
                                "- name: u2\n"
                                "  user:\n"
                                "    client-certificate: sub/cert.pem\n"
                                "    client-key: sub/key.pem\n"
                                "    tokenFile: tok\n"
                                "- name: exec\n"
                                "  user:\n"
                                "    exec: {command: aws}\n"
                                "- name: halfcert\n"
                                "  user: {client-certificate-data: Q0VSVA==}\n"
                                "- name: badb64\n"
                                "  user: {client-certificate-data: '@@@', client-key-data: S0VZ}\n"
                                "contexts:\n"
                                "- name: one\n"
                                "  context: {cluster: c1, user: u1, namespace: team}\n"
                                "- name: two\n"
                                "  context: {cluster: c2, user: u2}\n"
                                "- name: insecure\n"
                                "  context: {cluster: bad, user: u1}\n"
                                "- name: exec\n"
                                "  context: {cluster: c1, user: exec}\n"
                                "- name: halfcert\n"
                                "  context: {cluster: c1, user: halfcert}\n"
                                "- name: badb64\n"
                                "  context: {cluster: c1, user: badb64}\n"
                                "- name: nocluster\n"
                                "  context: {cluster: missing, user: u1}\n"
                                "- name: nouser\n"
                                "  context: {cluster: c1, user: missing}\n"
                                "- name: noserver\n"
                                "  context: {cluster: noserver}\n";

static void test_current_context_inline_data(void **state)
{
    k8s_config *c = NULL;
    char err[256] = "";
    assert_int_equal(k8s_config_from_kubeconfig_buf(kubeconfig, strlen(kubeconfig), dir, NULL, &c,
                                                    err, sizeof(err)),
                     0);
    assert_string_equal(c->server, "https://127.0.0.1:6443");
    assert_string_equal(c->context, "one");
    assert_string_equal(c->namespace, "team");
    assert_int_equal(c->ca_len, 7);
    assert_memory_equal(c->ca_pem, "CA-PEM\n", 7);
    assert_int_equal(c->cert_len, 4);
    assert_memory_equal(c->cert_pem, "CERT", 4);
    assert_int_equal(c->key_len, 3);
    assert_memory_equal(c->key_pem, "KEY", 3);
    assert_null(c->token_file);
    const char *tok;
    assert_int_equal(k8s_config_token(c, 123, true, &tok), 0);
    assert_string_equal(tok, "static-token");
    k8s_config_free(c);
}

static void test_named_context_files_and_token_file(void **state)
{
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_text("ca.pem", "FILE-CA");
    write_text("sub/cert.pem", "FILE-CERT");
    write_text("sub/key.pem", "FILE-KEY");
    write_text("tok", "  first-token\n");
    k8s_config *c = NULL;
    char err[256] = "";
    assert_int_equal(k8s_config_from_kubeconfig_buf(kubeconfig, strlen(kubeconfig), dir, "two", &c,
                                                    err, sizeof(err)),
                     0);
    assert_string_equal(c->server, "https://[::1]:7443");
    assert_string_equal(c->namespace, "default");
    assert_memory_equal(c->ca_pem, "FILE-CA", c->ca_len);
    /* A CA from a file is followed on disk: a rotated bundle is read again. */
    assert_non_null(c->ca_file);
    assert_int_equal(k8s_config_refresh_ca(c, 0, true), 0); /* unchanged */
    write_text("ca.pem", "ROTATED-CA");
    assert_int_equal(k8s_config_refresh_ca(c, 1, false), 0); /* not yet time to look */
    assert_int_equal(k8s_config_refresh_ca(c, 1 + K8S_CA_RECHECK_MS, false), 1);
    assert_memory_equal(c->ca_pem, "ROTATED-CA", c->ca_len);
    assert_memory_equal(c->cert_pem, "FILE-CERT", c->cert_len);
    assert_memory_equal(c->key_pem, "FILE-KEY", c->key_len);
    assert_non_null(c->token_file);
    assert_null(c->token); /* read lazily */

    const char *tok;
    assert_int_equal(k8s_config_token(c, 1000, false, &tok), 0);
    assert_string_equal(tok, "first-token");
    write_text("tok", "second-token");
    assert_int_equal(k8s_config_token(c, 1000 + 59999, false, &tok), 0);
    assert_string_equal(tok, "first-token"); /* not yet a minute */
    assert_int_equal(k8s_config_token(c, 1000 + 60000, false, &tok), 0);
    assert_string_equal(tok, "second-token");
    write_text("tok", "third-token");
    assert_int_equal(k8s_config_token(c, 1000 + 60001, true, &tok), 0); /* after a 401 */
    assert_string_equal(tok, "third-token");
    /* A vanished or empty token file keeps the last good token. */
    write_text("tok", "\n");
    assert_int_equal(k8s_config_token(c, 500000, true, &tok), 0);
    assert_string_equal(tok, "third-token");
    k8s_config_free(c);
}

static void expect_refusal(const char *context, const char *needle)
{
    k8s_config *c = (k8s_config *)1;
    char err[512] = "";
    int rc = k8s_config_from_kubeconfig_buf(kubeconfig, strlen(kubeconfig), dir, context, &c, err,
                                            sizeof(err));
    assert_true(rc < 0);
    assert_null(c);
    if (!strstr(err, needle))
        fail_msg("context %s: error \"%s\" does not mention \"%s\"", context, err, needle);
}

static void test_refusals(void **state)
{
    expect_refusal("insecure", "insecure-skip-tls-verify");
    expect_refusal("exec", "exec");
    expect_refusal("halfcert", "without a key");
    expect_refusal("badb64", "base64");
    expect_refusal("nocluster", "cluster \"missing\"");
    expect_refusal("nouser", "user \"missing\"");
    expect_refusal("noserver", "no server");
    expect_refusal("nope", "context \"nope\" not found");
    /* "two" names ca.pem, which does not exist in a fresh folder. */
    expect_refusal("two", "ca.pem");

    k8s_config *c = NULL;
    char err[256] = "";
    const char *garbage = "clusters: [\n";
    assert_true(k8s_config_from_kubeconfig_buf(garbage, strlen(garbage), dir, NULL, &c, err,
                                               sizeof(err)) < 0);
    assert_true(strstr(err, "kubeconfig") != NULL);
    const char *nocur = "apiVersion: v1\nkind: Config\n";
    assert_true(
        k8s_config_from_kubeconfig_buf(nocur, strlen(nocur), dir, NULL, &c, err, sizeof(err)) < 0);
    assert_true(strstr(err, "current-context") != NULL);
    const char *ftp = "current-context: a\ncontexts: [{name: a, context: {cluster: b}}]\n"
                      "clusters: [{name: b, cluster: {server: 'ftp://x'}}]\n";
    assert_true(k8s_config_from_kubeconfig_buf(ftp, strlen(ftp), dir, NULL, &c, err, sizeof(err)) <
                0);
}

/* A kubeconfig of one cluster at server, one user with the given user fields (YAML flow). */
static int load_plain(const char *server, const char *user, char *err, size_t errlen)
{
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "current-context: a\ncontexts: [{name: a, context: {cluster: b, user: u}}]\n"
             "clusters: [{name: b, cluster: {server: '%s'}}]\nusers: [{name: u, user: %s}]\n",
             server, user);
    k8s_config *c = NULL;
    int rc = k8s_config_from_kubeconfig_buf(buf, strlen(buf), dir, NULL, &c, err, errlen);
    k8s_config_free(c);
    return rc;
}

/* Bearer tokens go over plain http only to loopback (kubectl proxy); elsewhere start-up fails
 * with a reason that says why. Hosts are parsed, so look-alikes of loopback do not pass. */
static void test_cleartext_credentials(void **state)
{
    static const struct {
        const char *server, *user;
        bool accepted;
    } rows[] = {
        {"http://api.example.com:8080", "{token: t}", false},
        {"http://api.example.com:8080", "{tokenFile: tok}", false},
        {"http://10.0.0.1", "{token: t}", false},
        {"http://127.0.0.1.example.com", "{token: t}", false},
        {"http://user@127.0.0.1.example.com", "{token: t}", false},
        {"http://[::2]:8001", "{token: t}", false},
        {"http://127.0.0.1:8001", "{token: t}", true},
        {"http://127.9.9.9:8001", "{token: t}", true},
        {"http://localhost:8001", "{tokenFile: tok}", true},
        {"http://[::1]:8001", "{token: t}", true},
        {"http://api.example.com:8080", "{}", true}, /* nothing secret to send */
        {"https://api.example.com", "{token: t}", true},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char err[512] = "";
        int rc = load_plain(rows[i].server, rows[i].user, err, sizeof(err));
        if ((rc == 0) != rows[i].accepted)
            fail_msg("%s with %s: rc %d (%s)", rows[i].server, rows[i].user, rc, err);
        if (!rows[i].accepted && !strstr(err, "cleartext"))
            fail_msg("%s: reason \"%s\" does not say cleartext", rows[i].server, err);
    }
}

static void test_kubeconfig_env_list(void **state)
{
    write_text("kc", kubeconfig);
    char env[256];
    snprintf(env, sizeof(env), "%s/missing:%s/kc", dir, dir);
    setenv("KUBECONFIG", env, 1);
    k8s_config *c = NULL;
    char err[256] = "";
    assert_int_equal(k8s_config_load(NULL, NULL, &c, err, sizeof(err)), 0);
    assert_string_equal(c->context, "one");
    k8s_config_free(c);
    snprintf(env, sizeof(env), "%s/missing", dir);
    setenv("KUBECONFIG", env, 1);
    assert_int_equal(k8s_config_from_kubeconfig(NULL, NULL, &c, err, sizeof(err)), -ENOENT);
    unsetenv("KUBECONFIG");
    char path[256];
    snprintf(path, sizeof(path), "%s/nothing-here", dir);
    assert_int_equal(k8s_config_from_kubeconfig(path, NULL, &c, err, sizeof(err)), -ENOENT);
}

/* A second kubeconfig in another directory: a cluster named like one of the first file's, and
 * a context of its own whose files are relative to this file's directory. */
static const char *second =
    "current-context: three\n"
    "clusters:\n"
    "- name: c1\n"
    "  cluster: {server: 'https://127.0.0.9:1'}\n"
    "- name: c3\n"
    "  cluster: {server: 'https://127.0.0.3:8443', certificate-authority: ca3.pem}\n"
    "users:\n"
    "- name: u3\n"
    "  user: {tokenFile: tok3}\n"
    "contexts:\n"
    "- name: three\n"
    "  context: {cluster: c3, user: u3}\n";

static k8s_config *load_env(const char *env, const char *context)
{
    setenv("KUBECONFIG", env, 1);
    k8s_config *c = NULL;
    char err[256] = "";
    int rc = k8s_config_from_kubeconfig(NULL, context, &c, err, sizeof(err));
    unsetenv("KUBECONFIG");
    if (rc != 0)
        fail_msg("KUBECONFIG=%s context %s: %d %s", env, context ? context : "(current)", rc, err);
    return c;
}

/* A $KUBECONFIG list is merged as kubectl merges it: the first file to name a cluster, user or
 * context, or to set current-context, wins, and each file's relative paths are its own. */
static void test_kubeconfig_env_merge(void **state)
{
    char sub[128], env[512];
    snprintf(sub, sizeof(sub), "%s/second", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_text("kc", kubeconfig);
    write_text("second/kc", second);
    write_text("second/ca3.pem", "CA-THREE");
    snprintf(env, sizeof(env), "%s/missing:%s/kc:%s/second/kc", dir, dir, dir);

    k8s_config *c = load_env(env, NULL); /* the first file's current-context and c1 */
    assert_string_equal(c->context, "one");
    assert_string_equal(c->server, "https://127.0.0.1:6443");
    k8s_config_free(c);

    c = load_env(env, "three"); /* only in the second file: its paths are relative to it */
    assert_string_equal(c->server, "https://127.0.0.3:8443");
    assert_memory_equal(c->ca_pem, "CA-THREE", c->ca_len);
    char want[256];
    snprintf(want, sizeof(want), "%s/second/tok3", dir);
    assert_string_equal(c->token_file, want);
    k8s_config_free(c);

    /* The other order: the second file's current-context and its c1 win. */
    snprintf(env, sizeof(env), "%s/second/kc:%s/kc", dir, dir);
    c = load_env(env, NULL);
    assert_string_equal(c->context, "three");
    k8s_config_free(c);
    c = load_env(env, "one");
    assert_string_equal(c->server, "https://127.0.0.9:1");
    assert_string_equal(c->token, "static-token"); /* u1, from the first file */
    k8s_config_free(c);
}

static void make_sa(const char *ns, const char *token)
{
    char p[256];
    snprintf(p, sizeof(p), "mkdir -p '%s/%s'", dir, K8S_SA_DIR);
    assert_int_equal(system(p), 0);
    write_text(K8S_SA_DIR "/ca.crt", "SA-CA");
    if (ns)
        write_text(K8S_SA_DIR "/namespace", ns);
    if (token)
        write_text(K8S_SA_DIR "/token", token);
}

static void test_incluster(void **state)
{
    k8s_config *c = NULL;
    char err[256] = "";
    assert_int_equal(k8s_config_from_incluster(dir, &c, err, sizeof(err)), -ENOENT);
    assert_true(strstr(err, "KUBERNETES_SERVICE_HOST") != NULL);

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_true(k8s_config_from_incluster(dir, &c, err, sizeof(err)) < 0); /* no SA folder */
    make_sa("mesh-system\n", "sa-token\n");
    assert_int_equal(k8s_config_from_incluster(dir, &c, err, sizeof(err)), 0);
    assert_string_equal(c->server, "https://10.96.0.1:443");
    assert_string_equal(c->namespace, "mesh-system");
    assert_string_equal(c->context, "in-cluster");
    assert_memory_equal(c->ca_pem, "SA-CA", c->ca_len);
    assert_non_null(c->ca_file); /* the projected ca.crt is followed too */
    const char *tok;
    assert_int_equal(k8s_config_token(c, 1, false, &tok), 0);
    assert_string_equal(tok, "sa-token");
    k8s_config_free(c);

    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("POD_NAMESPACE", "from-env", 1);
    assert_int_equal(k8s_config_from_incluster(dir, &c, err, sizeof(err)), 0);
    assert_string_equal(c->server, "https://[fd00::1]:443");
    assert_string_equal(c->namespace, "from-env");
    k8s_config_free(c);
    unsetenv("POD_NAMESPACE");

    char p[256];
    snprintf(p, sizeof(p), "%s/%s/token", dir, K8S_SA_DIR);
    assert_int_equal(unlink(p), 0);
    assert_true(k8s_config_from_incluster(dir, &c, err, sizeof(err)) < 0);
    assert_true(strstr(err, "token") != NULL);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_current_context_inline_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_named_context_files_and_token_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleartext_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_env_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_env_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incluster, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
