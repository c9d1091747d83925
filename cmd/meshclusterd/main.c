/*
 * meshclusterd: the meshcluster controller daemon. This file only wires: flags, logger,
 * client, leader election, the reconciler, the health/metrics server, signals, the libuv
 * loop and an ordered shutdown. The reconciler lives in controller/, the Kubernetes client
 * runtime in k8s/.
 *
 * Shutdown (SIGTERM/SIGINT): the reconciler stops taking work and lets the request in flight
 * finish, then the lease is released (so a standby takes over at once), then Events, the
 * health server and the client are closed and the process exits 0. A timer makes sure this
 * never takes more than a few seconds.
 *
 * SIGHUP is logged and otherwise ignored: its default action killed the daemon silently while
 * it held the Lease (issue 18.6), and there is nothing left for it to do, because the client
 * re-reads a rotated token file on its own (and on a 401) and follows the CA bundle on disk;
 * other flag or kubeconfig changes take a restart. SIGPIPE is ignored: a peer that closes a
 * socket under a write gets EPIPE from that write, not the process killed.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <limits.h>
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <uv.h>

#include "cmd/meshclusterd/flags.h"
#include "controller/desired.h"
#include "controller/reconciler.h"
#include "k8s/config.h"
#include "k8s/delegated_auth.h"
#include "k8s/events.h"
#include "k8s/lease.h"
#include "k8s/log.h"
#include "k8s/metrics.h"
#include "k8s/obs_server.h"
#include "k8s/request.h"
#include "mc_version.h"
#include "pki/pki.h"

extern char **environ;

/* A hard stop, comfortably inside the 5 s a kubelet or a test gives after SIGTERM. */
#define SHUTDOWN_DEADLINE_MS 4500
/* The product's own metric families are named meshcluster_*; k8s/ takes the prefix from here. */
#define METRICS_PREFIX "meshcluster"
/* How often free heap pages go back to the kernel (see on_trim). */
#define TRIM_INTERVAL_MS 2000

typedef struct daemon_state {
    uv_loop_t *loop;
    mcd_flags flags;
    k8s_log *log;
    k8s_metrics *metrics;
    k8s_client *client;
    k8s_event_recorder *events;
    mc_reconciler *rec;
    k8s_http *probe_http; /* the prober's own connections (other servers, other TLS) */
    k8s_lease *lease;
    k8s_obs_server *obs[2];
    k8s_delegated_auth *metrics_auth; /* --metrics-secure: decides who may scrape */
    int nobs;
    int obs_open;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t deadline;
    uv_timer_t obs_grace; /* see on_obs_grace */
    uv_timer_t trim;      /* see on_trim */
    bool shutting_down;
    int exit_code;
} daemon_state;

static k8s_log_level log_level(mcd_log_level l)
{
    switch (l) {
    case MCD_LOG_DEBUG:
        return K8S_LOG_DEBUG;
    case MCD_LOG_WARN:
        return K8S_LOG_WARN;
    case MCD_LOG_ERROR:
        return K8S_LOG_ERROR;
    default:
        return K8S_LOG_INFO;
    }
}

static void set_leader_metric(daemon_state *d, double v)
{
    k8s_metric *f = k8s_metrics_find(d->metrics, K8S_M_LEADER_STATUS);
    if (f)
        k8s_metric_set(f, (const char *[]){d->flags.lease_name}, v);
}

static void on_lease_started_leading(k8s_lease *l, void *data)
{
    daemon_state *d = data;
    k8s_log_info(d->log, "became leader", "identity", k8s_lease_identity(l));
    set_leader_metric(d, 1);
    mc_reconciler_set_leader(d->rec, true);
}

static void on_lease_stopped_leading(k8s_lease *l, void *data)
{
    daemon_state *d = data;
    k8s_log_info(d->log, "stopped leading", "identity", k8s_lease_identity(l));
    set_leader_metric(d, 0);
    mc_reconciler_set_leader(d->rec, false);
}

static int on_ready(void *data, char *reason, size_t size)
{
    daemon_state *d = data;
    if (d->shutting_down) {
        snprintf(reason, size, "shutting down");
        return 0;
    }
    if (!mc_reconciler_synced(d->rec)) {
        /* Why not: the last API failure says more than "not synced" (a 403, a TLS error). */
        char failure[400];
        if (k8s_client_last_failure(d->client, failure, sizeof(failure)))
            snprintf(reason, size, "caches not synced yet; last API failure: %s", failure);
        else
            snprintf(reason, size, "caches not synced yet");
        return 0;
    }
    return 1; /* synced: leader, or a warm standby */
}

/* ---- shutdown, in order --------------------------------------------------------------------- */

static void on_client_closed(void *data)
{
    daemon_state *d = data;
    k8s_log_debug(d->log, "shutdown step", "done", "on_client_closed");
    uv_close((uv_handle_t *)&d->deadline, NULL);
    if (!uv_is_closing((uv_handle_t *)&d->obs_grace))
        uv_close((uv_handle_t *)&d->obs_grace, NULL);
    /* Health servers that never finished closing would keep the loop alive. */
    if (d->obs_open > 0)
        uv_stop(d->loop);
}

static void close_client(daemon_state *d)
{
    k8s_client *c = d->client;
    d->client = NULL;
    if (c)
        k8s_client_close(c, on_client_closed, d);
    else if (!uv_is_closing((uv_handle_t *)&d->deadline))
        on_client_closed(d);
}

/* The health servers had their chance to close; go on without them (reconciler-needs.md). */
static void on_obs_grace(uv_timer_t *t)
{
    daemon_state *d = t->data;
    k8s_log_debug(d->log, "shutdown step", "done", "obs grace expired");
    close_client(d);
}

static void on_obs_closed(k8s_obs_server *srv, void *data)
{
    daemon_state *d = data;
    k8s_log_debug(d->log, "shutdown step", "done", "on_obs_closed");
    (void)srv;
    if (--d->obs_open == 0) {
        uv_timer_stop(&d->obs_grace);
        close_client(d);
    }
}

static void on_events_stopped(k8s_event_recorder *r, void *data)
{
    (void)r;
    daemon_state *d = data;
    k8s_log_debug(d->log, "shutdown step", "done", "on_events_stopped");
    d->obs_open = d->nobs;
    if (d->nobs == 0) {
        close_client(d);
        return;
    }
    uv_timer_start(&d->obs_grace, on_obs_grace, 1000, 0);
    for (int i = 0; i < d->nobs; i++)
        k8s_obs_server_close(d->obs[i], on_obs_closed, d);
}

static void on_lease_stopped(k8s_lease *l, void *data)
{
    (void)l;
    daemon_state *d = data;
    k8s_log_debug(d->log, "shutdown step", "done", "on_lease_stopped");
    if (d->events)
        k8s_event_recorder_close(d->events, on_events_stopped, d);
    else
        on_events_stopped(NULL, d);
}

static void on_reconciler_stopped(mc_reconciler *r, void *data)
{
    (void)r;
    daemon_state *d = data;
    k8s_log_debug(d->log, "shutdown step", "done", "on_reconciler_stopped");
    if (d->probe_http) { /* the prober is closed with the reconciler: nothing uses it now */
        k8s_http_close(d->probe_http, NULL, NULL);
        d->probe_http = NULL;
    }
    if (d->lease)
        k8s_lease_close(d->lease, true, on_lease_stopped, d);
    else
        on_lease_stopped(NULL, d);
}

/*
 * glibc returns freed memory to the kernel only from the top of the heap. Converging a large
 * mesh frees many short-lived request bodies between long-lived cache entries, and those holes
 * stayed resident (11 MB of 42 at 1,000 clusters). malloc_trim also releases the whole free
 * pages inside the heap; with nothing to release it costs a walk of the free lists.
 */
static void on_trim(uv_timer_t *t)
{
    (void)t;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void on_deadline(uv_timer_t *t)
{
    daemon_state *d = t->data;
    k8s_log_warn(d->log, "shutdown took too long; exiting now");
    fflush(NULL);
    _Exit(d->exit_code);
}

static void begin_shutdown(daemon_state *d, const char *why)
{
    if (d->shutting_down)
        return;
    d->shutting_down = true;
    k8s_log_info(d->log, "shutting down", "reason", why);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    uv_close((uv_handle_t *)&d->trim, NULL);
    uv_timer_start(&d->deadline, on_deadline, SHUTDOWN_DEADLINE_MS, 0);
    uv_unref((uv_handle_t *)&d->deadline);
    if (d->rec)
        mc_reconciler_close(d->rec, on_reconciler_stopped, d);
    else
        on_reconciler_stopped(NULL, d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    begin_shutdown(s->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* See the top of the file: a reload would have nothing to re-read that is not re-read anyway. */
static void on_sighup(uv_signal_t *s, int signum)
{
    daemon_state *d = s->data;
    (void)signum;
    k8s_log_info(d->log, "SIGHUP received; ignored", "note",
                 "token and CA files are re-read on their own; other changes need a restart");
}

/* ---- start-up ------------------------------------------------------------------------------- */

/* A PEM certificate and key for the HTTPS metrics listener; both malloc'd by the caller's. */
typedef struct tls_pair {
    char *cert, *key;
    size_t cert_len, key_len;
} tls_pair;

static void tls_pair_clear(tls_pair *t)
{
    free(t->cert);
    if (t->key) /* a private key: do not leave it in freed heap memory */
        OPENSSL_cleanse(t->key, t->key_len);
    free(t->key);
    memset(t, 0, sizeof(*t));
}

/*
 * What controller-runtime does when given no certificate: a self-signed one, made in memory
 * at start and never written anywhere. Scrapers skip verification or pin it; operators who
 * want verification give --metrics-cert-file (e.g. from cert-manager).
 */
static int self_signed_pair(tls_pair *t, char *err, size_t errlen)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    struct pki_ca_opts o = {.org = "meshclusterd", .cn = "meshclusterd-metrics", .days = 365};
    int rc = pki_key_generate(PKI_KEY_EC_P256, &key, err, errlen);
    if (rc == 0)
        rc = pki_serving_self_signed(key, &o, "DNS:localhost,IP:127.0.0.1,IP:::1", &cert, err,
                                     errlen);
    if (rc == 0 && (pki_pem_encode_cert(cert, &t->cert, &t->cert_len) != 0 ||
                    pki_pem_encode_key(key, &t->key, &t->key_len) != 0)) {
        snprintf(err, errlen, "encoding the certificate failed");
        rc = -ENOMEM;
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

static int load_tls_pair(const mcd_flags *f, tls_pair *t, char *err, size_t errlen)
{
    if (!f->metrics_cert_file)
        return self_signed_pair(t, err, errlen);
    int rc = pki_file_read(f->metrics_cert_file, &t->cert, &t->cert_len);
    if (rc != 0) {
        snprintf(err, errlen, "cannot read %s", f->metrics_cert_file);
        return rc;
    }
    if ((rc = pki_file_read(f->metrics_key_file, &t->key, &t->key_len)) != 0)
        snprintf(err, errlen, "cannot read %s", f->metrics_key_file);
    return rc;
}

static int start_obs(daemon_state *d, const char *addr, unsigned flags, const tls_pair *tls)
{
    k8s_obs_server_opts o = {
        .addr = addr,
        .metrics = d->metrics,
        .ready = on_ready,
        .ready_data = d,
        .flags = flags,
    };
    if (tls) {
        o.tls_cert_pem = tls->cert;
        o.tls_cert_len = tls->cert_len;
        o.tls_key_pem = tls->key;
        o.tls_key_len = tls->key_len;
        o.authorize = k8s_delegated_auth_authorize;
        o.authorize_cancel = k8s_delegated_auth_cancel;
        o.authorize_data = d->metrics_auth;
    }
    k8s_obs_server *srv = k8s_obs_server_new(d->loop, &o);
    if (!srv)
        return -ENOMEM;
    d->obs[d->nobs++] = srv;
    int rc = k8s_obs_server_start(srv);
    if (rc) {
        k8s_log_error(d->log, "cannot serve health/metrics", "addr", addr, "error",
                      rc == -EIO && tls ? "libwebsockets refused the TLS certificate or key"
                      : rc == -ENOENT   ? "/dev/urandom is missing (libwebsockets needs it)"
                                        : strerror(-rc));
        return rc;
    }
    char port[16];
    snprintf(port, sizeof(port), "%d", k8s_obs_server_port(srv));
    k8s_log_info(d->log,
                 tls ? "serving metrics over HTTPS (TokenReview/SubjectAccessReview)"
                     : "serving health and metrics",
                 "addr", addr, "port", port);
    return 0;
}

/* The health listener, and the metrics one when separate; see --metrics-secure. */
static int start_listeners(daemon_state *d)
{
    const mcd_flags *f = &d->flags;
    bool separate = strcmp(f->metrics_addr, f->health_addr) != 0;
    if (!f->metrics_secure) {
        int rc = start_obs(d, f->health_addr, 0, NULL);
        return rc ? rc : separate ? start_obs(d, f->metrics_addr, 0, NULL) : 0;
    }
    k8s_delegated_auth_opts ao = {.log = d->log};
    int rc = k8s_delegated_auth_new(d->client, &ao, &d->metrics_auth);
    if (rc != 0)
        return rc;
    /* The plain listener must not hand out what the secure one guards. */
    if ((rc = start_obs(d, f->health_addr, K8S_OBS_SERVER_NO_METRICS, NULL)) != 0)
        return rc;
    char err[256] = "";
    tls_pair tls = {0};
    if ((rc = load_tls_pair(f, &tls, err, sizeof(err))) != 0) {
        k8s_log_error(d->log, "cannot set up TLS for metrics", "error", err);
        tls_pair_clear(&tls);
        return rc;
    }
    rc = start_obs(d, f->metrics_addr, 0, &tls);
    tls_pair_clear(&tls);
    return rc;
}

static int start(daemon_state *d)
{
    char err[512] = "";
    k8s_config *cfg = NULL;
    int rc = k8s_config_load(d->flags.kubeconfig, d->flags.context, &cfg, err, sizeof(err));
    if (rc) {
        k8s_log_error(d->log, "cannot load the cluster configuration", "error", err);
        return rc;
    }
    if (cfg->token)
        k8s_log_add_secret(d->log, cfg->token);
    /* k8s/ does not know our name: audit logs and API Priority and Fairness see it from here. */
    if (!(cfg->user_agent = strdup("meshclusterd/" MC_VERSION))) {
        k8s_config_free(cfg);
        return -ENOMEM;
    }
    k8s_client_opts copts = {
        .qps = d->flags.qps, .burst = d->flags.burst, .metrics = d->metrics, .log = d->log};
    if ((rc = k8s_client_new(d->loop, cfg, &copts, &d->client)) != 0) {
        k8s_log_error(d->log, "cannot create the API client", "error", strerror(-rc));
        return rc;
    }
    k8s_event_recorder_opts eo = {.component = MC_FIELD_MANAGER, .instance = getenv("POD_NAME")};
    if ((rc = k8s_event_recorder_new(d->client, &eo, &d->events)) != 0)
        return rc;

    struct mc_reconciler_opts ro = {
        .cluster_name = d->flags.cluster_name,
        .allow_gateway_replacement = d->flags.allow_gateway_replacement,
        .force_mesh_networks = d->flags.force_mesh_networks,
        .resync_ms = (uint64_t)d->flags.resync_ms,
        .log = d->log,
        .metrics = d->metrics,
        .events = d->events,
    };
    if (d->flags.probe_interval_ms > 0 || d->flags.istiod_url) {
        k8s_http_opts ho = {.user_agent = "meshclusterd/" MC_VERSION};
        if ((rc = k8s_http_new(d->loop, &ho, &d->probe_http)) != 0) {
            k8s_log_error(d->log, "cannot create the probes' transport", "error", strerror(-rc));
            return rc;
        }
        ro.probe_http = d->probe_http;
        ro.probe_interval_ms = (uint64_t)d->flags.probe_interval_ms;
        ro.istiod_url = d->flags.istiod_url;
        ro.istiod_token_file = d->flags.istiod_token_file;
        ro.istiod_interval_ms = (uint64_t)d->flags.probe_interval_ms;
        ro.probe_connect_to = d->flags.probe_connect_to;
        ro.nprobe_connect_to = d->flags.nprobe_connect_to;
    }
    mc_desired_options_default(&ro.desired);
    ro.desired.istio_namespace = d->flags.istio_namespace;
    ro.desired.tailscale_namespace = d->flags.tailscale_namespace;
    ro.desired.token_namespace = d->flags.token_namespace;
    ro.desired.mesh_networks_mode =
        d->flags.mesh_networks == MCD_MESH_NETWORKS_CONFIGMAP     ? MC_MESHNET_CONFIGMAP
        : d->flags.mesh_networks == MCD_MESH_NETWORKS_HELM_VALUES ? MC_MESHNET_HELM_VALUES
                                                                  : MC_MESHNET_BOTH;
    if ((rc = mc_reconciler_new(d->client, &ro, &d->rec)) != 0) {
        k8s_log_error(d->log, "cannot create the reconciler", "error", strerror(-rc));
        return rc;
    }

    if (d->flags.leader_elect) {
        k8s_lease_opts lo = {
            .namespace = d->flags.lease_namespace,
            .name = d->flags.lease_name,
            .on_started_leading = on_lease_started_leading,
            .on_stopped_leading = on_lease_stopped_leading,
            .data = d,
        };
        if ((rc = k8s_lease_new(d->client, &lo, &d->lease)) != 0)
            return rc;
        set_leader_metric(d, 0);
    } else {
        mc_reconciler_set_leader(d->rec, true);
    }

    if ((rc = mc_reconciler_start(d->rec)) != 0)
        return rc;
    if (d->lease && (rc = k8s_lease_start(d->lease)) != 0)
        return rc;

    if ((rc = start_listeners(d)) != 0)
        return rc;

    k8s_log_info(d->log, "started", "version", MC_VERSION, "cluster", d->flags.cluster_name,
                 "server", k8s_client_config(d->client)->server, "leaderElect",
                 d->flags.leader_elect ? "true" : "false");
    return 0;
}

static void free_all(daemon_state *d)
{
    for (int i = 0; i < d->nobs; i++)
        k8s_obs_server_free(d->obs[i]);
    /* After the servers (their connections hold decisions) and the client (their requests). */
    k8s_delegated_auth_free(d->metrics_auth);
    if (d->lease)
        k8s_lease_free(d->lease);
    mc_reconciler_free(d->rec);
    if (d->events)
        k8s_event_recorder_free(d->events);
    k8s_metrics_free(d->metrics);
    k8s_log_free(d->log);
}

/*
 * Debian's libcurl links librtmp and libldap, which link GnuTLS, and GnuTLS initialises itself
 * from a library constructor (its random pool, system priorities, p11-kit): about 1.5 MB of
 * the daemon's memory for a TLS stack it never uses (libcurl speaks OpenSSL here and only http
 * and https are enabled). GnuTLS skips that when GNUTLS_NO_IMPLICIT_INIT=1 is in the
 * environment at start, and the constructor runs before main(), so only a fresh exec of
 * ourselves can arrange it. An operator who sets the variable, to anything, keeps their choice.
 *
 * The exec goes to the binary's resolved path, not to "/proc/self/exe": the kernel names a
 * process after the file it executed, and "exe" in ps, ss, top and OOM-killer lines would hide
 * which daemon it is. Without /proc, or if the binary was replaced since we started (the link
 * then reads "... (deleted)"), we run as we are: the cost is memory, not correctness.
 */
static void exec_without_gnutls_init(char **argv)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0 || (size_t)n >= sizeof(self) - 1)
        return;
    self[n] = '\0';
    if (access(self, X_OK) != 0)
        return;
    if (getenv("GNUTLS_NO_IMPLICIT_INIT") || setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 1) != 0)
        return;
    execv(self, argv);
    unsetenv("GNUTLS_NO_IMPLICIT_INIT"); /* exec failed: leave the environment as it was */
}

int main(int argc, char **argv)
{
    static daemon_state d; /* cmd/ may hold process state; everything below borrows it */
    char err[256];
    exec_without_gnutls_init(argv);
    int in_cluster = getenv("KUBERNETES_SERVICE_HOST") != NULL;
    if (mcd_flags_parse(&d.flags, argc, argv, environ, in_cluster, err, sizeof(err)) != 0) {
        fprintf(stderr, "meshclusterd: %s\n", err);
        return 2;
    }
    if (d.flags.help) {
        mcd_flags_usage(stdout);
        return 0;
    }
    if (d.flags.version) {
        printf("meshclusterd %s\n", MC_VERSION);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    d.log = k8s_log_new(stderr, d.flags.log_format == MCD_LOG_TEXT ? K8S_LOG_TEXT : K8S_LOG_JSON,
                        log_level(d.flags.log_level));
    d.metrics = k8s_metrics_new();
    if (!d.log || !d.metrics ||
        k8s_metrics_register_standard(d.metrics, METRICS_PREFIX, MC_VERSION) != 0) {
        fprintf(stderr, "meshclusterd: out of memory\n");
        return 1;
    }
    d.loop = uv_default_loop();
    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_init(d.loop, &d.sigint);
    uv_signal_init(d.loop, &d.sighup);
    uv_timer_init(d.loop, &d.deadline);
    uv_timer_init(d.loop, &d.obs_grace);
    uv_timer_init(d.loop, &d.trim);
    d.sigterm.data = d.sigint.data = d.sighup.data = d.deadline.data = d.obs_grace.data =
        d.trim.data = &d;
    uv_timer_start(&d.trim, on_trim, TRIM_INTERVAL_MS, TRIM_INTERVAL_MS);
    uv_unref((uv_handle_t *)&d.trim);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sighup, on_sighup, SIGHUP);

    if (start(&d) != 0) {
        d.exit_code = 1;
        begin_shutdown(&d, "start-up failed");
    }
    uv_run(d.loop, UV_RUN_DEFAULT);
    k8s_log_info(d.log, "stopped");
    if (d.obs_open > 0) {
        /* Handles still on the loop: freeing now would be unsafe, and exiting frees all. */
        fflush(NULL);
        return d.exit_code;
    }
    free_all(&d);
    uv_loop_close(d.loop);
    return d.exit_code;
}
