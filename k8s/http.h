/* HTTP transport: libcurl's multi_socket interface driven by one libuv loop.
 *
 * One k8s_http per API server connection pool. HTTP/2 is negotiated by ALPN and transfers are
 * multiplexed over one connection when the server offers it (HTTP/1.1 otherwise, with
 * connection reuse); dead connections are detected with TCP keepalive. No threads, no
 * globals: all state hangs off the k8s_http, and libcurl is only ever called from libuv
 * callbacks, never from libcurl's own.
 *
 * Threading/callback rules: everything runs on the loop thread. k8s_http_start(),
 * k8s_http_req_cancel() and k8s_http_close() may be called from any callback, including
 * on_data: the work they imply is deferred to a later loop turn. on_done is never called from
 * inside k8s_http_start().
 *
 * Most code should use k8s/request.h, which adds auth, retries, rate limiting and typed errors.
 */
#ifndef K8S_HTTP_H
#define K8S_HTTP_H

/* What a client that does not name itself sends; programs pass "name/version". */
#define K8S_DEFAULT_USER_AGENT "k8s-c-client"

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "k8s/error.h"

typedef struct k8s_http k8s_http;
typedef struct k8s_http_req k8s_http_req;

typedef struct k8s_http_opts {
    bool http1_only;         /* never offer h2 (tests, proxies that break h2) */
    long connect_timeout_ms; /* 0: 10000 */
    long keepalive_idle_s;   /* TCP keepalive idle and interval; 0: 30 */
    const char *user_agent;  /* copied; NULL: K8S_DEFAULT_USER_AGENT (programs name themselves) */
} k8s_http_opts;

/* TLS material for a transfer. Borrowed during k8s_http_start() only (libcurl copies blobs). */
typedef struct k8s_http_tls {
    const char *ca_pem; /* NULL: system trust store */
    size_t ca_len;
    const char *cert_pem; /* client certificate, NULL: none */
    size_t cert_len;
    const char *key_pem;
    size_t key_len;
    /* The name TLS is done for (SNI, the certificate check) instead of the URL's host, which
     * the connection still goes to: kubeconfig's tls-server-name. NULL: the URL's host. */
    const char *server_name;
} k8s_http_tls;

/* Outcome of a transfer; every pointer is borrowed for the duration of on_done. */
typedef struct k8s_http_result {
    k8s_err err;          /* K8S_OK if an HTTP answer arrived completely (any status);
                           * K8S_ERR_TRANSPORT, K8S_ERR_TIMEOUT (client timeout),
                           * K8S_ERR_CANCELLED or K8S_ERR_NOMEM otherwise */
    const char *err_text; /* libcurl's detail for a failure, "" otherwise */
    int status;           /* HTTP status, 0 if none arrived */
    const char *body;     /* buffered body (NUL-terminated) unless it was streamed */
    size_t body_len;
    bool streamed;            /* the body went to on_data */
    const char *retry_after;  /* Retry-After header or NULL */
    const char *content_type; /* Content-Type or NULL */
    long http_version;        /* 10, 11, 20 (0 if unknown) */
    long new_connections;     /* connections this transfer had to open (0 = reused) */
    bool tls_failed;          /* the failure was the TLS handshake or the peer's certificate */
    bool resolve_failed;      /* the host name did not resolve */
    bool connect_failed;      /* resolved, but no connection (refused, unreachable) */
} k8s_http_result;

/* Body bytes of a 2xx answer, in whatever chunking the network produced (1 byte .. many KB).
 * buf is borrowed for the call. Non-2xx bodies are never streamed: they are buffered and
 * handed to on_done so the error can be decoded. */
typedef void (*k8s_http_data_cb)(k8s_http_req *req, int status, const char *buf, size_t len,
                                 void *data);
/* Called exactly once per started transfer; req is freed when it returns. */
typedef void (*k8s_http_done_cb)(k8s_http_req *req, const k8s_http_result *res, void *data);

typedef struct k8s_http_req_opts {
    const char *method;         /* "GET", "POST", "PUT", "PATCH", "DELETE"; copied */
    const char *url;            /* absolute URL; copied */
    const char *const *headers; /* nheaders "Name: value" lines; copied */
    size_t nheaders;
    const char *body; /* request body or NULL; copied */
    size_t body_len;
    const k8s_http_tls *tls;  /* borrowed during the call; NULL: defaults */
    long timeout_ms;          /* whole transfer; 0: none (watches) */
    size_t max_body;          /* cap on a buffered body; 0: 64 MiB. Exceeding fails with
                               * K8S_ERR_TRANSPORT */
    k8s_http_data_cb on_data; /* NULL: buffer 2xx bodies too */
    k8s_http_done_cb on_done; /* required */
    void *data;
    long idle_timeout_s; /* fail with K8S_ERR_TIMEOUT after this many seconds without any byte
                          * (a dead connection under a quiet watch; with bookmarks a live watch
                          * hears something every minute); 0: off */
    /* "HOST:PORT:CONNECT-HOST:CONNECT-PORT" lines (libcurl's CONNECT_TO): a connection for
     * HOST:PORT goes to CONNECT-HOST:CONNECT-PORT while TLS still checks HOST. For tests that
     * stand in for names only a cluster's DNS knows; copied. */
    const char *const *connect_to;
    size_t nconnect_to;
} k8s_http_req_opts;

/* Aggregate counters, for tests and metrics. */
typedef struct k8s_http_stats {
    unsigned long started;
    unsigned long finished;
    unsigned long connections; /* sum of new_connections over finished transfers */
    unsigned long active;      /* transfers currently in flight */
} k8s_http_stats;

/* Creates a transport on loop. *out is owned by the caller and released by k8s_http_close().
 * Returns 0, -ENOMEM, or -EIO if libcurl cannot be initialised. */
int k8s_http_new(uv_loop_t *loop, const k8s_http_opts *opts, k8s_http **out);

/* Queues a transfer; it starts on a later loop turn. *out (may be NULL) is valid until on_done
 * returns. Returns 0, or -EINVAL/-ENOMEM/-ESHUTDOWN (closing) without calling on_done. */
int k8s_http_start(k8s_http *h, const k8s_http_req_opts *opts, k8s_http_req **out);

/* Aborts a transfer: on_done follows on a later loop turn with K8S_ERR_CANCELLED (unless it
 * already completed in the same turn, then with its real result). Idempotent; a no-op once
 * on_done has been called. */
void k8s_http_req_cancel(k8s_http_req *req);

void *k8s_http_req_data(const k8s_http_req *req);

void k8s_http_get_stats(const k8s_http *h, k8s_http_stats *out);

/* Cancels every transfer (each on_done runs with K8S_ERR_CANCELLED), closes all libuv handles
 * and frees h; cb (may be NULL) runs after the last handle closed. h must not be used after
 * this call. The loop must keep running until cb. */
void k8s_http_close(k8s_http *h, void (*cb)(void *data), void *data);

#endif
