/*
 * Reachability probes: is a server answering, how fast, and if not, why (the name did not
 * resolve, nothing listens, TLS was refused, no answer in time, or an HTTP error status). Used
 * to check the path a workload would take, with the credentials it would use, rather than the
 * existence of the objects that describe the path.
 *
 * Two kinds, both on the loop, each delivering exactly one callback (never from inside the
 * start call) and then freeing itself:
 *   k8s_probe_http   a GET through a k8s_http transport (TLS, bearer token, timeout);
 *   k8s_probe_tcp    a TCP connect (resolve, connect, close), for ports that speak no HTTP.
 * Both honour connect_to lines ("HOST:PORT:CONNECT-HOST:CONNECT-PORT", as libcurl's
 * CONNECT_TO), which tests use to stand in for names only a cluster's DNS knows.
 */
#ifndef K8S_PROBE_H
#define K8S_PROBE_H

#include <stddef.h>

#include <uv.h>

#include "k8s/http.h"

typedef enum k8s_probe_failure {
    K8S_PROBE_OK = 0,
    K8S_PROBE_RESOLVE,   /* the name did not resolve */
    K8S_PROBE_CONNECT,   /* resolved, but no connection (refused, unreachable) */
    K8S_PROBE_TLS,       /* handshake or certificate refused */
    K8S_PROBE_TIMEOUT,   /* no complete answer within the probe's timeout */
    K8S_PROBE_HTTP,      /* an answer, with a status outside 200-399 */
    K8S_PROBE_TRANSPORT, /* any other network failure (reset, malformed answer) */
    K8S_PROBE_CANCELLED, /* k8s_probe_cancel or the transport closing */
    K8S_PROBE_NFAILURES
} k8s_probe_failure;

/* A label value for metrics and a word for messages: "ok", "resolve", "connect", ... */
const char *k8s_probe_failure_name(k8s_probe_failure f);

typedef struct k8s_probe_result {
    k8s_probe_failure failure;
    int status;         /* the HTTP status when one arrived, else 0 */
    double seconds;     /* from start to answer (or failure) */
    const char *detail; /* a sentence for a failure ("" when OK); borrowed for the callback */
} k8s_probe_result;

typedef struct k8s_probe k8s_probe;
typedef void (*k8s_probe_cb)(const k8s_probe_result *res, void *data);

typedef struct k8s_probe_http_opts {
    const char *url;          /* copied */
    const k8s_http_tls *tls;  /* borrowed during the start call; NULL: system trust */
    const char *bearer_token; /* NULL: none; copied */
    long timeout_ms;          /* whole probe; 0: 5000 */
    const char *const *connect_to;
    size_t nconnect_to;
} k8s_probe_http_opts;

/* Starts a GET of o->url on h. *out (may be NULL) is valid until cb returns. 0 or -errno
 * (then cb is never called). */
int k8s_probe_http(k8s_http *h, const k8s_probe_http_opts *o, k8s_probe_cb cb, void *data,
                   k8s_probe **out);

typedef struct k8s_probe_tcp_opts {
    const char *host; /* copied */
    int port;
    long timeout_ms; /* 0: 5000 */
    const char *const *connect_to;
    size_t nconnect_to;
} k8s_probe_tcp_opts;

int k8s_probe_tcp(uv_loop_t *loop, const k8s_probe_tcp_opts *o, k8s_probe_cb cb, void *data,
                  k8s_probe **out);

/* Stops a probe: cb follows on a later loop turn with K8S_PROBE_CANCELLED (or the real
 * result, if it completed in the same turn). p is freed when cb returns: never call this
 * from or after cb. */
void k8s_probe_cancel(k8s_probe *p);

/* The path every kube-apiserver answers readiness on, to any caller (RBAC's
 * system:public-info-viewer): what a probe of an API server asks for. */
#define K8S_APISERVER_READY_PATH "/readyz"

/* The URL of a cleartext GET of path on host:port, IPv6 literals bracketed, into buf. 0, or
 * -EINVAL when it does not fit or host is not a plain name or address. */
int k8s_probe_plain_url(char *buf, size_t len, const char *host, int port, const char *path);

/*
 * The connect_to line for host:port, as *to_host (copied into buf) and *to_port, or 0 when
 * none matches. Exposed for tests; lines that do not parse are ignored.
 */
int k8s_probe_map(const char *const *lines, size_t n, const char *host, int port, char *buf,
                  size_t buflen, int *to_port);

#endif
