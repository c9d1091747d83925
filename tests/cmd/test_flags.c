/*
 * Proves meshclusterd's flag parsing: defaults, environment twins, command line over
 * environment, --leader-elect defaulting to in-cluster, and a clear one-line error naming
 * the flag (or variable) for every kind of bad value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/meshclusterd/flags.h"

static int parse(mcd_flags *f, char **envp, bool in_cluster, char *err, size_t errlen, ...)
{
    char *argv[32] = {"meshclusterd"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && argc < 31)
        argv[argc++] = a;
    va_end(ap);
    err[0] = '\0';
    return mcd_flags_parse(f, argc, argv, envp, in_cluster, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    mcd_flags f;
    char err[256];
    char *env[] = {NULL};
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--cluster-name", "cluster1", NULL),
                     0);
    assert_string_equal(f.cluster_name, "cluster1");
    assert_string_equal(f.istio_namespace, "istio-system");
    assert_string_equal(f.tailscale_namespace, "tailscale");
    assert_int_equal(f.mesh_networks, MCD_MESH_NETWORKS_BOTH);
    assert_false(f.leader_elect);
    assert_string_equal(f.lease_name, "meshcluster-controller");
    assert_string_equal(f.lease_namespace, "meshcluster-system");
    assert_string_equal(f.health_addr, ":8081");
    assert_string_equal(f.metrics_addr, ":8080");
    assert_int_equal(f.log_level, MCD_LOG_INFO);
    assert_int_equal(f.log_format, MCD_LOG_JSON);
    assert_int_equal(f.resync_ms, 600000);
    assert_true(f.qps == 50.0);
    assert_int_equal(f.burst, 100);
    assert_null(f.kubeconfig);
    assert_false(f.allow_gateway_replacement);
}

/* secretRef may name one namespace: the Tailscale one unless set, never the istio one. */
static void test_token_namespace(void **state)
{
    (void)state;
    mcd_flags f;
    char err[256];
    char *env[] = {NULL};
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--cluster-name", "c1",
                           "--tailscale-namespace", "ts", NULL),
                     0);
    assert_string_equal(f.token_namespace, "ts");
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--cluster-name", "c1",
                           "--token-namespace", "", NULL),
                     0);
    assert_string_equal(f.token_namespace, "");
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--cluster-name", "c1",
                           "--token-namespace", "istio-system", NULL),
                     -1);
    assert_non_null(strstr(err, "--token-namespace"));
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--cluster-name", "c1",
                           "--token-namespace", "Bad_NS", NULL),
                     -1);
}

/* --probe-interval: off by default; --probe-connect-to: a comma-separated list. */
static void test_probes(void **state)
{
    (void)state;
    mcd_flags f;
    char err[256];
    char *env[] = {NULL};
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--cluster-name", "c1", NULL), 0);
    assert_int_equal(f.probe_interval_ms, 0); /* off unless asked */
    assert_int_equal(f.nprobe_connect_to, 0);
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--cluster-name", "c1",
                           "--probe-interval", "30s", "--probe-connect-to",
                           "a.test:443:127.0.0.1:6443,gw.test:15443:[::1]:9000", NULL),
                     0);
    assert_int_equal(f.probe_interval_ms, 30000);
    assert_int_equal(f.nprobe_connect_to, 2);
    assert_string_equal(f.probe_connect_to[1], "gw.test:15443:[::1]:9000");
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--cluster-name", "c1",
                           "--probe-interval", "10ms", NULL),
                     -1);
    assert_non_null(strstr(err, "--probe-interval"));
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--cluster-name", "c1",
                           "--probe-connect-to", "a.test:443", NULL),
                     -1);
    assert_non_null(strstr(err, "--probe-connect-to"));
}

/* --metrics-secure: off by default; certificate and key go together; its own listener. */
static void test_metrics_secure(void **state)
{
    (void)state;
    mcd_flags f;
    char err[256];
    char *env[] = {"MC_CLUSTER_NAME=c1", NULL};
    assert_int_equal(parse(&f, env, false, err, sizeof(err), NULL), 0);
    assert_false(f.metrics_secure);
    assert_null(f.metrics_cert_file);
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--metrics-secure", NULL), 0);
    assert_true(f.metrics_secure);
    assert_null(f.metrics_cert_file);
    char *env_files[] = {"MC_CLUSTER_NAME=c1", "MC_METRICS_SECURE=true",
                         "MC_METRICS_CERT_FILE=/t/tls.crt", "MC_METRICS_KEY_FILE=/t/tls.key", NULL};
    assert_int_equal(parse(&f, env_files, false, err, sizeof(err), NULL), 0);
    assert_true(f.metrics_secure);
    assert_string_equal(f.metrics_cert_file, "/t/tls.crt");
    assert_string_equal(f.metrics_key_file, "/t/tls.key");
    /* Port 0 gives each listener a port of its own: allowed (tests do it). */
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--metrics-secure",
                           "--health-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0", NULL),
                     0);

    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--metrics-secure",
                           "--metrics-cert-file=/t/tls.crt", NULL),
                     -1);
    assert_non_null(strstr(err, "--metrics-cert-file: needs --metrics-key-file too"));
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--metrics-secure",
                           "--metrics-key-file=/t/tls.key", NULL),
                     -1);
    assert_non_null(strstr(err, "--metrics-key-file: needs --metrics-cert-file too"));
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--metrics-cert-file=/t/tls.crt",
                           "--metrics-key-file=/t/tls.key", NULL),
                     -1);
    assert_non_null(strstr(err, "needs --metrics-secure"));
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--metrics-secure",
                           "--health-addr=:9000", "--metrics-addr=:9000", NULL),
                     -1);
    assert_non_null(strstr(err, "needs --metrics-addr different from --health-addr"));
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--metrics-secure=perhaps", NULL), -1);
    assert_non_null(strstr(err, "--metrics-secure"));
}

static void test_in_cluster_defaults_to_leader_election(void **state)
{
    (void)state;
    mcd_flags f;
    char err[256];
    char *env[] = {"MC_CLUSTER_NAME=c2", "POD_NAMESPACE=mesh-ops", NULL};
    assert_int_equal(parse(&f, env, true, err, sizeof(err), NULL), 0);
    assert_true(f.leader_elect);
    assert_string_equal(f.cluster_name, "c2");
    assert_string_equal(f.lease_namespace, "mesh-ops");
    assert_int_equal(parse(&f, env, true, err, sizeof(err), "--leader-elect=false", NULL), 0);
    assert_false(f.leader_elect);
}

static void test_environment_and_command_line(void **state)
{
    (void)state;
    mcd_flags f;
    char err[256];
    char *env[] = {"MC_CLUSTER_NAME=from-env",
                   "MC_MESH_NETWORKS=configmap",
                   "MC_QPS=7.5",
                   "MC_LOG_FORMAT=text",
                   "MC_RESYNC=1h30m",
                   NULL};
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--cluster-name=from-flag", "--burst",
                           "3", "--leader-elect", "--health-addr", "127.0.0.1:0",
                           "--metrics-addr=[::1]:9090", NULL),
                     0);
    assert_string_equal(f.cluster_name, "from-flag");
    assert_int_equal(f.mesh_networks, MCD_MESH_NETWORKS_CONFIGMAP);
    assert_true(f.qps == 7.5);
    assert_int_equal(f.burst, 3);
    assert_true(f.leader_elect);
    assert_int_equal(f.log_format, MCD_LOG_TEXT);
    assert_int_equal(f.resync_ms, 5400000);
    assert_string_equal(f.health_addr, "127.0.0.1:0");
}

static void expect_error(char **env, const char *want, const char *flag, const char *value)
{
    mcd_flags f;
    char err[256];
    int rc =
        value ? parse(&f, env, false, err, sizeof(err), "--cluster-name", "c1", flag, value, NULL)
              : parse(&f, env, false, err, sizeof(err), flag, NULL);
    assert_int_equal(rc, -1);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
    assert_null(strchr(err, '\n'));
}

static void test_errors_name_the_flag(void **state)
{
    (void)state;
    char *none[] = {NULL};
    expect_error(none, "--cluster-name (or MC_CLUSTER_NAME) is required", "--qps=1", NULL);
    expect_error(none, "unknown flag \"--bogus\"", "--bogus", NULL);
    expect_error(none, "flag --context needs a value", "--context", NULL);
    expect_error(none, "invalid value \"x\" for --mesh-networks", "--mesh-networks", "x");
    expect_error(none, "invalid value \"0\" for --qps", "--qps", "0");
    expect_error(none, "invalid value \"ten\" for --burst", "--burst", "ten");
    expect_error(none, "invalid value \"5x\" for --resync", "--resync", "5x");
    expect_error(none, "invalid value \"500ms\" for --resync", "--resync", "500ms");
    expect_error(none, "invalid value \"8081\" for --health-addr", "--health-addr", "8081");
    expect_error(none, "invalid value \":70000\" for --metrics-addr", "--metrics-addr", ":70000");
    expect_error(none, "invalid value \"loud\" for --log-level", "--log-level", "loud");
    expect_error(none, "invalid value \"xml\" for --log-format", "--log-format", "xml");
    expect_error(none, "invalid value \"Istio_System\" for --istio-namespace", "--istio-namespace",
                 "Istio_System");
    char *named[] = {"MC_CLUSTER_NAME=c1", NULL};
    expect_error(named, "invalid value \"maybe\" for --leader-elect", "--leader-elect=maybe", NULL);
    char *bad_env[] = {"MC_CLUSTER_NAME=c1", "MC_BURST=-1", NULL};
    mcd_flags f;
    char err[256];
    assert_int_equal(parse(&f, bad_env, false, err, sizeof(err), NULL), -1);
    assert_non_null(strstr(err, "invalid value \"-1\" for MC_BURST"));
    char *bad_name[] = {"MC_CLUSTER_NAME=Cluster_1", NULL};
    assert_int_equal(parse(&f, bad_name, false, err, sizeof(err), NULL), -1);
    assert_non_null(strstr(err, "MC_CLUSTER_NAME"));
}

static void test_durations_and_addresses(void **state)
{
    (void)state;
    long ms;
    assert_int_equal(mcd_parse_duration("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(mcd_parse_duration("2m30s", &ms), 0);
    assert_int_equal(ms, 150000);
    assert_int_equal(mcd_parse_duration("", &ms), -1);
    assert_int_equal(mcd_parse_duration("10", &ms), -1);
    assert_int_equal(mcd_parse_duration("1d", &ms), -1);
    assert_int_equal(mcd_parse_duration("-5s", &ms), -1);
    char host[64];
    int port;
    assert_int_equal(mcd_parse_addr(":8081", host, sizeof(host), &port), 0);
    assert_string_equal(host, "");
    assert_int_equal(port, 8081);
    assert_int_equal(mcd_parse_addr("[::1]:0", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(mcd_parse_addr("::1:80", host, sizeof(host), &port), -1);
    assert_int_equal(mcd_parse_addr("host:", host, sizeof(host), &port), -1);
}

static void test_help_and_version_short_circuit(void **state)
{
    (void)state;
    mcd_flags f;
    char err[256];
    char *env[] = {NULL};
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "--help", NULL), 0);
    assert_true(f.help);
    assert_int_equal(parse(&f, env, false, err, sizeof(err), "-v", NULL), 0);
    assert_true(f.version);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_in_cluster_defaults_to_leader_election),
        cmocka_unit_test(test_environment_and_command_line),
        cmocka_unit_test(test_errors_name_the_flag),
        cmocka_unit_test(test_durations_and_addresses),
        cmocka_unit_test(test_help_and_version_short_circuit),
        cmocka_unit_test(test_token_namespace),
        cmocka_unit_test(test_probes),
        cmocka_unit_test(test_metrics_secure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
