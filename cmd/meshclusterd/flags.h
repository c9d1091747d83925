/*
 * meshclusterd's command line. Every flag has an environment-variable twin (MC_<FLAG>, e.g.
 * --cluster-name and MC_CLUSTER_NAME) so a Deployment can set it either way; a flag given on
 * the command line wins over its variable. Parsing is pure (the environment is passed in)
 * so it is unit-tested without a process per case.
 */
#ifndef MESHCLUSTERD_FLAGS_H
#define MESHCLUSTERD_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum mcd_mesh_networks {
    MCD_MESH_NETWORKS_CONFIGMAP,
    MCD_MESH_NETWORKS_HELM_VALUES,
    MCD_MESH_NETWORKS_BOTH
} mcd_mesh_networks;

typedef enum mcd_log_format { MCD_LOG_JSON, MCD_LOG_TEXT } mcd_log_format;

typedef enum mcd_log_level {
    MCD_LOG_DEBUG,
    MCD_LOG_INFO,
    MCD_LOG_WARN,
    MCD_LOG_ERROR
} mcd_log_level;

/* Parsed options. String fields point into argv or the environment array handed to
 * mcd_flags_parse(), or at static defaults: borrowed for the life of those arrays. */
#define MCD_MAX_CONNECT_TO 32
#define MCD_XSTR(x)        #x
#define MCD_STR(x)         MCD_XSTR(x)

typedef struct mcd_flags {
    const char *cluster_name;
    const char *kubeconfig; /* NULL: $KUBECONFIG, ~/.kube/config, then in-cluster */
    const char *context;    /* NULL: current-context */
    const char *istio_namespace;
    const char *tailscale_namespace;
    const char *token_namespace; /* where secretRef may point; "" disables auth: secret */
    mcd_mesh_networks mesh_networks;
    bool leader_elect;
    const char *lease_name;
    const char *lease_namespace;
    const char *health_addr;
    const char *metrics_addr;
    bool metrics_secure;
    const char *metrics_cert_file; /* NULL: self-signed at start */
    const char *metrics_key_file;
    mcd_log_level log_level;
    mcd_log_format log_format;
    long resync_ms;
    double qps;
    int burst;
    bool allow_gateway_replacement;
    bool force_mesh_networks;
    long probe_interval_ms; /* 0: no probes */
    long dns_interval_ms;   /* cluster DNS read-back (controller/dns_sync.h) */
    const char *probe_connect_to[MCD_MAX_CONNECT_TO];
    size_t nprobe_connect_to;
    char probe_connect_to_buf[4096]; /* the lines above point into it */
    const char *istiod_url;          /* NULL: istiod is not asked */
    const char *istiod_token_file;
    bool help;
    bool version;
} mcd_flags;

/*
 * Parses argv (argv[0] is the program) over the defaults and the environment (envp: NULL-
 * terminated "NAME=value" strings, e.g. environ). in_cluster decides the default of
 * --leader-elect. Returns 0, or -1 with one clear line (no newline) in err, naming the flag
 * and what it accepts; the caller prints it and exits 2.
 */
int mcd_flags_parse(mcd_flags *f, int argc, char **argv, char **envp, bool in_cluster, char *err,
                    size_t errlen);

/* Prints --help: every flag with its variable and default. */
void mcd_flags_usage(FILE *out);

/* "10m", "30s", "1h30m", "250ms" → milliseconds. Returns 0 or -1. */
int mcd_parse_duration(const char *s, long *out_ms);

/* ":8081", "127.0.0.1:0", "[::1]:8080" → host ("" = all addresses) and port. host must hold
 * at least 64 bytes. Returns 0 or -1. */
int mcd_parse_addr(const char *s, char *host, size_t hostlen, int *port);

#endif
