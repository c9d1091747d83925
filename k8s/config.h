/* Where the API server is and how to authenticate: kubeconfig or in-cluster service account.
 *
 * Everything a transfer needs is loaded into memory here (CA, client certificate and key as
 * PEM blobs), so the transport never reads files on the loop except the token file, which is
 * re-read at most once a minute and whenever a 401 forces it (bound service-account tokens
 * rotate hourly). TLS verification is always on: a kubeconfig asking for
 * insecure-skip-tls-verify is refused with K8S_ERR_CONFIG. Exec and auth-provider plugins are
 * not supported (refused with a clear message).
 *
 * Functions return 0 or a negative errno (-EINVAL for a refused or malformed config, -ENOENT
 * for a missing file, -ENOMEM) and write a human-readable reason into err when it is non-NULL.
 */
#ifndef K8S_CONFIG_H
#define K8S_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The in-cluster service-account folder, relative to the root passed to
 * k8s_config_load_incluster() ("/" in production). */
#define K8S_SA_DIR "var/run/secrets/kubernetes.io/serviceaccount"

/* Re-read the token file after this long even without a 401. */
#define K8S_TOKEN_REREAD_MS 60000u

/* Look at the CA file again after this long even without a TLS failure. */
#define K8S_CA_RECHECK_MS 10000u

typedef struct k8s_config {
    char *server; /* "https://host:port[/prefix]", no trailing '/' */
    char *ca_pem; /* CA bundle (PEM) or NULL for the system store; ca_len bytes */
    size_t ca_len;
    char *ca_file;          /* the file ca_pem was read from, or NULL (inline data) */
    uint64_t ca_file_sig;   /* device, inode, size and mtime of ca_file when last read */
    uint64_t ca_checked_ms; /* caller's clock when ca_file was last looked at */
    char *cert_pem;         /* client certificate (PEM) or NULL */
    size_t cert_len;
    char *key_pem; /* client key (PEM) or NULL */
    size_t key_len;
    char *tls_server_name;  /* kubeconfig tls-server-name, or NULL: TLS checks this name */
    char *token;            /* bearer token (static or last read from token_file), or NULL */
    char *token_file;       /* file the token is re-read from, or NULL */
    uint64_t token_read_ms; /* caller's clock when token_file was last read */
    bool token_read_once;   /* token_file has been read at least once */
    unsigned token_changes; /* re-reads of token_file that found a different token */
    char *namespace;        /* context or service-account namespace; "default" if unset */
    char *context;          /* chosen kubeconfig context, or "in-cluster" */
    char *user_agent;       /* the program's "name/version"; NULL: the transport's default */
} k8s_config;

/* Parses kubeconfig text (YAML or JSON). base_dir resolves relative file paths (the kubeconfig's
 * own folder; NULL = current directory). context NULL = current-context. Files it names
 * (certificate-authority, client-certificate, client-key, tokenFile) are read now, except the
 * token file which is read lazily by k8s_config_token(). *out is owned by the caller. */
int k8s_config_from_kubeconfig_buf(const char *buf, size_t len, const char *base_dir,
                                   const char *context, k8s_config **out, char *err, size_t errlen);

/* Loads a kubeconfig file: path, else the existing files of $KUBECONFIG (a colon-separated list)
 * merged as kubectl merges them (the first file to name a cluster, user or context, or to set
 * current-context, wins; relative paths are relative to their own file), else ~/.kube/config. */
int k8s_config_from_kubeconfig(const char *path, const char *context, k8s_config **out, char *err,
                               size_t errlen);

/* In-cluster config: server from $KUBERNETES_SERVICE_HOST/_PORT (IPv6 hosts bracketed), CA and
 * namespace from <root>/K8S_SA_DIR/{ca.crt,namespace} ($POD_NAMESPACE wins), token file
 * <root>/K8S_SA_DIR/token. root NULL = "/". Tests pass a fake root. */
int k8s_config_from_incluster(const char *root, k8s_config **out, char *err, size_t errlen);

/* In-cluster when $KUBERNETES_SERVICE_HOST is set and no kubeconfig path was given, otherwise
 * k8s_config_from_kubeconfig(path, context). */
int k8s_config_load(const char *path, const char *context, k8s_config **out, char *err,
                    size_t errlen);

void k8s_config_free(k8s_config *c);

/*
 * CA bundles rotate on disk (a new cluster CA, a re-projected ca.crt). With a ca_file, looks at
 * it when force is set (after a TLS failure) or K8S_CA_RECHECK_MS after the last look, and
 * re-reads it when its signature changed. A new bundle takes effect on the next connection:
 * libcurl does not reuse a connection made with a different CA. A file that cannot be read
 * keeps the previous bundle. Returns 1 when the bundle changed, 0 when not, or a negative errno.
 */
int k8s_config_refresh_ca(k8s_config *c, uint64_t now_ms, bool force);

/* Current bearer token (borrowed, valid until the next k8s_config_token call) or NULL when the
 * config has none. With a token file, re-reads it when force is set, on first use, or when
 * K8S_TOKEN_REREAD_MS have passed since now_ms of the last read; a failed re-read keeps the
 * previous token. Returns 0, or a negative errno only if there is no token at all. */
int k8s_config_token(k8s_config *c, uint64_t now_ms, bool force, const char **token);

#endif
