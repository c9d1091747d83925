/*
 * meshclusterd flags: one table drives defaults, environment twins, parsing and --help, so
 * the three can never disagree. Values are gathered as strings first (default, then the
 * environment, then the command line) and converted once, so an error names the source the
 * bad value came from.
 */
#include "cmd/meshclusterd/flags.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum mcd_flag_id {
    F_CLUSTER_NAME,
    F_KUBECONFIG,
    F_CONTEXT,
    F_ISTIO_NS,
    F_TAILSCALE_NS,
    F_TOKEN_NS,
    F_MESH_NETWORKS,
    F_LEADER_ELECT,
    F_LEASE_NAME,
    F_LEASE_NS,
    F_HEALTH_ADDR,
    F_METRICS_ADDR,
    F_METRICS_SECURE,
    F_METRICS_CERT,
    F_METRICS_KEY,
    F_LOG_LEVEL,
    F_LOG_FORMAT,
    F_RESYNC,
    F_QPS,
    F_BURST,
    F_ALLOW_GW_REPLACE,
    F_FORCE_MESHNET,
    F_PROBE_INTERVAL,
    F_PROBE_CONNECT_TO,
    F_ISTIOD_URL,
    F_ISTIOD_TOKEN_FILE,
    F_DNS_INTERVAL,
    F_COUNT
};

struct mcd_flag_def {
    const char *name; /* without the leading "--" */
    const char *env;
    const char *def; /* NULL: unset */
    bool boolean;
    const char *help;
};

static const struct mcd_flag_def mcd_flag_defs[F_COUNT] = {
    [F_CLUSTER_NAME] = {"cluster-name", "MC_CLUSTER_NAME", NULL, false,
                        "this cluster's Istio cluster name: the name of its own MeshCluster "
                        "(required)"},
    [F_KUBECONFIG] = {"kubeconfig", "MC_KUBECONFIG", NULL, false,
                      "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)"},
    [F_CONTEXT] = {"context", "MC_CONTEXT", NULL, false,
                   "kubeconfig context (default: current-context)"},
    [F_ISTIO_NS] = {"istio-namespace", "MC_ISTIO_NAMESPACE", "istio-system", false,
                    "namespace of istiod, its ConfigMaps and the east-west gateway"},
    [F_TAILSCALE_NS] = {"tailscale-namespace", "MC_TAILSCALE_NAMESPACE", "tailscale", false,
                        "namespace of the Tailscale operator (API-server egress Services)"},
    [F_TOKEN_NS] = {"token-namespace", "MC_TOKEN_NAMESPACE", NULL, false,
                    "the one namespace a MeshCluster's remoteSecret.secretRef may name; only its "
                    "Secrets labelled meshcluster.io/remote-token=true are read (default: "
                    "--tailscale-namespace; \"\" disables auth: secret)"},
    [F_MESH_NETWORKS] = {"mesh-networks", "MC_MESH_NETWORKS", "both", false,
                         "where meshNetworks is written: configmap|helm-values|both"},
    [F_LEADER_ELECT] = {"leader-elect", "MC_LEADER_ELECT", NULL, true,
                        "elect a leader among replicas (default: on in-cluster, off outside)"},
    [F_LEASE_NAME] = {"lease-name", "MC_LEASE_NAME", "meshcluster-controller", false,
                      "name of the leader-election Lease"},
    [F_LEASE_NS] = {"lease-namespace", "MC_LEASE_NAMESPACE", NULL, false,
                    "namespace of the Lease (default: the pod's namespace, else "
                    "meshcluster-system)"},
    /* All interfaces by default: kubelet probes and Prometheus come to the pod IP (README). */
    [F_HEALTH_ADDR] = {"health-addr", "MC_HEALTH_ADDR", ":8081", false,
                       "address for /healthz and /readyz (default: all interfaces, as kubelet "
                       "probes the pod IP; use 127.0.0.1:8081 outside a pod)"},
    [F_METRICS_ADDR] = {"metrics-addr", "MC_METRICS_ADDR", ":8080", false,
                        "address for /metrics, Prometheus text format (all interfaces by "
                        "default; limit access with a NetworkPolicy)"},
    /* Off by default: turning it on needs RBAC for the reviews and a scraper with a token. */
    [F_METRICS_SECURE] = {"metrics-secure", "MC_METRICS_SECURE", "false", true,
                          "serve /metrics over HTTPS, only to bearer tokens the API server "
                          "authenticates (TokenReview) and authorizes for get on /metrics "
                          "(SubjectAccessReview); 401/403 otherwise"},
    [F_METRICS_CERT] = {"metrics-cert-file", "MC_METRICS_CERT_FILE", NULL, false,
                        "PEM certificate (chain) for --metrics-secure (default: a self-signed "
                        "one made in memory at start)"},
    [F_METRICS_KEY] = {"metrics-key-file", "MC_METRICS_KEY_FILE", NULL, false,
                       "PEM private key of --metrics-cert-file"},
    [F_LOG_LEVEL] = {"log-level", "MC_LOG_LEVEL", "info", false, "debug|info|warn|error"},
    [F_LOG_FORMAT] = {"log-format", "MC_LOG_FORMAT", "json", false, "json|text"},
    [F_RESYNC] = {"resync", "MC_RESYNC", "10m", false,
                  "periodic full reconcile, a backstop for missed events (e.g. 30s, 10m, 1h)"},
    [F_QPS] = {"qps", "MC_QPS", "50", false, "client-side API request rate (requests/s)"},
    [F_BURST] = {"burst", "MC_BURST", "100", false, "client-side API request burst"},
    [F_ALLOW_GW_REPLACE] = {"allow-gateway-replacement", "MC_ALLOW_GATEWAY_REPLACEMENT", "false",
                            true,
                            "replace an existing east-west gateway Service whose "
                            "loadBalancerClass is not tailscale (it is immutable)"},
    [F_FORCE_MESHNET] = {"force-mesh-networks", "MC_FORCE_MESH_NETWORKS", "false", true,
                         "take the istio ConfigMap's meshNetworks key from another field "
                         "manager (Helm, Argo CD) instead of reporting MeshNetworksConflict"},
    /* Off unless asked (the chart asks for 30s): a binary run by hand against a test cluster
     * has no peer to reach, and its remotes would never become Ready. */
    [F_PROBE_INTERVAL] = {"probe-interval", "MC_PROBE_INTERVAL", "0", false,
                          "probe each remote's API server and gateway this often (jittered), "
                          "making Ready mean reachable; 0 disables (e.g. 30s)"},
    [F_PROBE_CONNECT_TO] = {"probe-connect-to", "MC_PROBE_CONNECT_TO", NULL, false,
                            "test worlds only: comma-separated HOST:PORT:CONNECT-HOST:CONNECT-PORT "
                            "lines sending probes for names only a cluster's DNS knows elsewhere"},
    [F_ISTIOD_URL] = {"istiod-url", "MC_ISTIOD_URL", NULL, false,
                      "istiod's monitoring URL (e.g. http://istiod.istio-system.svc:15014): "
                      "each remote's IstiodSynced from its /debug/clusterz, polled at "
                      "--probe-interval (30s when that is 0); unset: not asked"},
    [F_ISTIOD_TOKEN_FILE] = {"istiod-token-file", "MC_ISTIOD_TOKEN_FILE", NULL, false,
                             "bearer token for istiod's debug endpoint, re-read before every "
                             "poll (a projected ServiceAccount token for audience istio-ca)"},
    [F_DNS_INTERVAL] = {"dns-interval", "MC_DNS_INTERVAL", "30s", false,
                        "with spec.tailscale.dns: managed, how often CoreDNS's ConfigMaps and "
                        "the DNSConfig are read back to repair drift (reads only)"},
};

enum mcd_flag_source { MCD_SRC_DEFAULT, MCD_SRC_ENV, MCD_SRC_CLI };

struct mcd_flag_value {
    const char *value;
    enum mcd_flag_source source;
};

static const char *mcd_env_lookup(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* Splits a comma-separated list of connect_to lines into f's own buffer; each line must have
 * four colon-separated parts (an IPv6 connect host in brackets adds colons, so at least 3). */
static int mcd_split_connect_to(mcd_flags *f, const char *list)
{
    if (strlen(list) >= sizeof(f->probe_connect_to_buf))
        return -1;
    strcpy(f->probe_connect_to_buf, list);
    for (char *save = NULL, *line = strtok_r(f->probe_connect_to_buf, ",", &save); line;
         line = strtok_r(NULL, ",", &save)) {
        int colons = 0;
        for (const char *c = line; *c; c++)
            colons += *c == ':';
        if (colons < 3 || f->nprobe_connect_to == MCD_MAX_CONNECT_TO)
            return -1;
        f->probe_connect_to[f->nprobe_connect_to++] = line;
    }
    return 0;
}

static int mcd_parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) {
        *out = false;
        return 0;
    }
    return -1;
}

int mcd_parse_duration(const char *s, long *out_ms)
{
    /* A sequence of <number><unit>, as Go's time.ParseDuration writes them (no fractions). */
    static const struct {
        const char *unit;
        long ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    if (!s || !*s)
        return -1;
    long total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        errno = 0;
        char *end;
        long n = strtol(p, &end, 10);
        if (errno || end == p)
            return -1;
        long mult = 0;
        size_t ulen = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i].unit);
            /* "ms" must win over "m": it is listed first. */
            if (strncmp(end, units[i].unit, l) == 0 && !isalpha((unsigned char)end[l])) {
                mult = units[i].ms;
                ulen = l;
                break;
            }
        }
        if (!mult || n > LONG_MAX / mult || total > LONG_MAX - n * mult)
            return -1;
        total += n * mult;
        p = end + ulen;
    }
    *out_ms = total;
    return 0;
}

int mcd_parse_addr(const char *s, char *host, size_t hostlen, int *port)
{
    if (!s || hostlen < 64)
        return -1;
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        size_t l = (size_t)(close - s - 1);
        if (l == 0 || l >= hostlen)
            return -1;
        memcpy(host, s + 1, l);
        host[l] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        size_t l = (size_t)(colon - s);
        if (l >= hostlen || memchr(s, ':', l))
            return -1;
        memcpy(host, s, l);
        host[l] = '\0';
    }
    const char *ps = colon + 1;
    if (!*ps)
        return -1;
    for (const char *c = ps; *c; c++)
        if (!isdigit((unsigned char)*c))
            return -1;
    long p = strtol(ps, NULL, 10);
    if (p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

static int mcd_is_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return 0;
    return 1;
}

/* Finds a flag by "--name" or "--name=value"; sets *inline_value for the second form. */
static int mcd_flag_lookup(const char *arg, const char **inline_value)
{
    if (strncmp(arg, "--", 2) != 0)
        return -1;
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    for (int i = 0; i < F_COUNT; i++)
        if (strlen(mcd_flag_defs[i].name) == len && !strncmp(mcd_flag_defs[i].name, name, len)) {
            *inline_value = eq ? eq + 1 : NULL;
            return i;
        }
    return -1;
}

static int mcd_flags_convert(mcd_flags *f, const struct mcd_flag_value *v, bool in_cluster,
                             char **envp, char *err, size_t errlen)
{
#define BAD(id, what)                                                                              \
    do {                                                                                           \
        snprintf(err, errlen, "invalid value \"%s\" for %s%s: %s", v[id].value,                    \
                 v[id].source == MCD_SRC_ENV ? "" : "--",                                          \
                 v[id].source == MCD_SRC_ENV ? mcd_flag_defs[id].env : mcd_flag_defs[id].name,     \
                 what);                                                                            \
        return -1;                                                                                 \
    } while (0)

    f->cluster_name = v[F_CLUSTER_NAME].value;
    if (!f->cluster_name) {
        snprintf(err, errlen,
                 "--cluster-name (or MC_CLUSTER_NAME) is required: the name of "
                 "this cluster's own MeshCluster");
        return -1;
    }
    if (!mcd_is_dns_label(f->cluster_name))
        BAD(F_CLUSTER_NAME, "must be a DNS label (lowercase letters, digits, '-', at most 63)");
    f->kubeconfig = v[F_KUBECONFIG].value;
    f->context = v[F_CONTEXT].value;
    f->istio_namespace = v[F_ISTIO_NS].value;
    if (!mcd_is_dns_label(f->istio_namespace))
        BAD(F_ISTIO_NS, "must be a namespace name (DNS label)");
    f->tailscale_namespace = v[F_TAILSCALE_NS].value;
    if (!mcd_is_dns_label(f->tailscale_namespace))
        BAD(F_TAILSCALE_NS, "must be a namespace name (DNS label)");
    f->token_namespace = v[F_TOKEN_NS].value ? v[F_TOKEN_NS].value : f->tailscale_namespace;
    if (f->token_namespace[0] && !mcd_is_dns_label(f->token_namespace))
        BAD(F_TOKEN_NS, "must be a namespace name (DNS label) or empty");
    if (!strcmp(f->token_namespace, f->istio_namespace))
        BAD(F_TOKEN_NS, "must not be --istio-namespace: it holds the controller's own Secrets "
                        "and Istio's CA key");

    const char *mn = v[F_MESH_NETWORKS].value;
    if (!strcmp(mn, "configmap"))
        f->mesh_networks = MCD_MESH_NETWORKS_CONFIGMAP;
    else if (!strcmp(mn, "helm-values"))
        f->mesh_networks = MCD_MESH_NETWORKS_HELM_VALUES;
    else if (!strcmp(mn, "both"))
        f->mesh_networks = MCD_MESH_NETWORKS_BOTH;
    else
        BAD(F_MESH_NETWORKS, "must be configmap, helm-values or both");

    if (v[F_LEADER_ELECT].value) {
        if (mcd_parse_bool(v[F_LEADER_ELECT].value, &f->leader_elect) != 0)
            BAD(F_LEADER_ELECT, "must be true or false");
    } else {
        f->leader_elect = in_cluster;
    }
    f->lease_name = v[F_LEASE_NAME].value;
    if (!mcd_is_dns_label(f->lease_name))
        BAD(F_LEASE_NAME, "must be a DNS label");
    f->lease_namespace = v[F_LEASE_NS].value;
    if (!f->lease_namespace)
        f->lease_namespace = mcd_env_lookup(envp, "POD_NAMESPACE");
    if (!f->lease_namespace)
        f->lease_namespace = "meshcluster-system";
    else if (!mcd_is_dns_label(f->lease_namespace))
        BAD(F_LEASE_NS, "must be a namespace name (DNS label)");

    char host[64];
    int port;
    f->health_addr = v[F_HEALTH_ADDR].value;
    if (mcd_parse_addr(f->health_addr, host, sizeof(host), &port) != 0)
        BAD(F_HEALTH_ADDR, "must be [host]:port, e.g. :8081 or 127.0.0.1:8081");
    f->metrics_addr = v[F_METRICS_ADDR].value;
    if (mcd_parse_addr(f->metrics_addr, host, sizeof(host), &port) != 0)
        BAD(F_METRICS_ADDR, "must be [host]:port, e.g. :8080 or 127.0.0.1:8080");
    if (mcd_parse_bool(v[F_METRICS_SECURE].value, &f->metrics_secure) != 0)
        BAD(F_METRICS_SECURE, "must be true or false");
    f->metrics_cert_file = v[F_METRICS_CERT].value;
    f->metrics_key_file = v[F_METRICS_KEY].value;
    /* BAD names the flag that was given: the missing one has no value to quote. */
    if (f->metrics_cert_file && !f->metrics_key_file)
        BAD(F_METRICS_CERT, "needs --metrics-key-file too");
    if (f->metrics_key_file && !f->metrics_cert_file)
        BAD(F_METRICS_KEY, "needs --metrics-cert-file too");
    if (f->metrics_cert_file && !f->metrics_secure)
        BAD(F_METRICS_CERT, "needs --metrics-secure");
    /*
     * One listener cannot be both the plain health endpoint and the authorized metrics one
     * (port 0 is a fresh port for each: two listeners, as in tests).
     */
    if (f->metrics_secure && port != 0 && strcmp(f->metrics_addr, f->health_addr) == 0)
        BAD(F_METRICS_SECURE, "needs --metrics-addr different from --health-addr");

    static const char *levels[] = {"debug", "info", "warn", "error"};
    const char *lv = v[F_LOG_LEVEL].value;
    int level = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(lv, levels[i]))
            level = i;
    if (level < 0)
        BAD(F_LOG_LEVEL, "must be debug, info, warn or error");
    f->log_level = (mcd_log_level)level;
    const char *lf = v[F_LOG_FORMAT].value;
    if (!strcmp(lf, "json"))
        f->log_format = MCD_LOG_JSON;
    else if (!strcmp(lf, "text"))
        f->log_format = MCD_LOG_TEXT;
    else
        BAD(F_LOG_FORMAT, "must be json or text");

    if (mcd_parse_duration(v[F_RESYNC].value, &f->resync_ms) != 0 || f->resync_ms < 1000)
        BAD(F_RESYNC, "must be a duration of at least 1s, e.g. 30s, 10m, 1h");

    char *end;
    errno = 0;
    f->qps = strtod(v[F_QPS].value, &end);
    if (errno || *end || end == v[F_QPS].value || !(f->qps > 0) || f->qps > 100000)
        BAD(F_QPS, "must be a number of requests per second above 0");
    errno = 0;
    long burst = strtol(v[F_BURST].value, &end, 10);
    if (errno || *end || end == v[F_BURST].value || burst < 1 || burst > 100000)
        BAD(F_BURST, "must be a whole number from 1 to 100000");
    f->burst = (int)burst;
    if (mcd_parse_bool(v[F_ALLOW_GW_REPLACE].value, &f->allow_gateway_replacement) != 0)
        BAD(F_ALLOW_GW_REPLACE, "must be true or false");
    if (mcd_parse_bool(v[F_FORCE_MESHNET].value, &f->force_mesh_networks) != 0)
        BAD(F_FORCE_MESHNET, "must be true or false");
    if (strcmp(v[F_PROBE_INTERVAL].value, "0") == 0)
        f->probe_interval_ms = 0;
    else if (mcd_parse_duration(v[F_PROBE_INTERVAL].value, &f->probe_interval_ms) != 0 ||
             f->probe_interval_ms < 100)
        BAD(F_PROBE_INTERVAL, "must be 0 or a duration of at least 100ms, e.g. 30s");
    f->istiod_url =
        v[F_ISTIOD_URL].value && v[F_ISTIOD_URL].value[0] ? v[F_ISTIOD_URL].value : NULL;
    if (f->istiod_url && strncmp(f->istiod_url, "http://", 7) != 0 &&
        strncmp(f->istiod_url, "https://", 8) != 0)
        BAD(F_ISTIOD_URL, "must be an http:// or https:// URL");
    f->istiod_token_file = v[F_ISTIOD_TOKEN_FILE].value;
    if (mcd_parse_duration(v[F_DNS_INTERVAL].value, &f->dns_interval_ms) != 0 ||
        f->dns_interval_ms < 100)
        BAD(F_DNS_INTERVAL, "must be a duration of at least 100ms, e.g. 30s");
    if (v[F_PROBE_CONNECT_TO].value && mcd_split_connect_to(f, v[F_PROBE_CONNECT_TO].value) != 0)
        BAD(F_PROBE_CONNECT_TO, "must be comma-separated HOST:PORT:CONNECT-HOST:CONNECT-PORT "
                                "(at most " MCD_STR(MCD_MAX_CONNECT_TO) ")");
    return 0;
#undef BAD
}

int mcd_flags_parse(mcd_flags *f, int argc, char **argv, char **envp, bool in_cluster, char *err,
                    size_t errlen)
{
    memset(f, 0, sizeof(*f));
    struct mcd_flag_value v[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) {
        v[i].value = mcd_flag_defs[i].def;
        v[i].source = MCD_SRC_DEFAULT;
        const char *e = mcd_env_lookup(envp, mcd_flag_defs[i].env);
        if (e) {
            v[i].value = e;
            v[i].source = MCD_SRC_ENV;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            f->help = true;
            return 0;
        }
        if (!strcmp(arg, "-v") || !strcmp(arg, "--version")) {
            f->version = true;
            return 0;
        }
        const char *inline_value;
        int id = mcd_flag_lookup(arg, &inline_value);
        if (id < 0) {
            snprintf(err, errlen, "unknown flag \"%s\" (see --help)", arg);
            return -1;
        }
        const char *value = inline_value;
        if (!value) {
            if (mcd_flag_defs[id].boolean) {
                value = "true";
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                snprintf(err, errlen, "flag --%s needs a value", mcd_flag_defs[id].name);
                return -1;
            }
        }
        v[id].value = value;
        v[id].source = MCD_SRC_CLI;
    }
    return mcd_flags_convert(f, v, in_cluster, envp, err, errlen);
}

void mcd_flags_usage(FILE *out)
{
    fprintf(out, "Usage: meshclusterd --cluster-name NAME [options]\n\n"
                 "Reconciles the Tailscale + Istio multi-cluster wiring described by the "
                 "MeshCluster\nobjects into this cluster. Every flag has an environment "
                 "variable twin.\n\nOptions:\n");
    for (int i = 0; i < F_COUNT; i++) {
        const struct mcd_flag_def *d = &mcd_flag_defs[i];
        char lhs[64];
        snprintf(lhs, sizeof(lhs), "--%s%s", d->name, d->boolean ? "[=BOOL]" : " VALUE");
        fprintf(out, "  %-32s %s\n  %-32s [%s%s%s]\n", lhs, d->help, "", d->env,
                d->def ? ", default " : "", d->def ? d->def : "");
    }
    fprintf(out, "  %-32s %s\n  %-32s %s\n", "-h, --help", "show this help", "-v, --version",
            "print the version");
}
