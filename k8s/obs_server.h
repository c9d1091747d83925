/*
 * The health and metrics HTTP server, on libwebsockets joined to the caller's libuv loop:
 *
 *   GET /healthz  200 "ok": the loop is turning (this very answer needs it to)
 *   GET /readyz   200 "ok" when the readiness callback says so, else 503 with its reason
 *   GET /metrics  200, the registry in Prometheus text format 0.0.4 (with opts.authorize set,
 *                 only once the authorizer allows the request's bearer token; else 401/403/503;
 *                 with K8S_OBS_SERVER_NO_METRICS, 404)
 *   any other path 404; a request that is not a GET, or that announces a body, is dropped
 *   unanswered (the connection closed)
 *
 * Life cycle, as for other loop-attached objects: k8s_obs_server_new() allocates,
 * k8s_obs_server_start() listens, k8s_obs_server_close() tears the server down and calls back
 * from the loop once libwebsockets has released every handle it had on the loop; only then (in
 * or after that callback) may k8s_obs_server_free() run. A server that was never started can be
 * freed at once; after a failed start, close it like a started one (libwebsockets may already
 * hold handles on the loop) and free it in the callback.
 *
 * Everything runs on the loop thread: the readiness callback and the metrics rendering happen
 * inside the loop, so they must not block.
 *
 * Note: libwebsockets' log level is process-wide; start() sets it to errors only (to stderr;
 * its warnings are one line per malformed request, which a client could flood) unless
 * K8S_OBS_SERVER_KEEP_LWS_LOGS is set in opts.flags.
 */
#ifndef K8S_OBS_SERVER_H
#define K8S_OBS_SERVER_H

#include <stddef.h>

#include <uv.h>

#include "k8s/metrics.h"

typedef struct k8s_obs_server k8s_obs_server;

/*
 * Returns nonzero when ready. When not ready it writes a one-line reason into reason (size
 * bytes, NUL-terminated), which /readyz returns as the 503 body.
 */
typedef int (*k8s_obs_ready_fn)(void *data, char *reason, size_t size);

typedef void (*k8s_obs_server_cb)(k8s_obs_server *srv, void *data);

#define K8S_OBS_SERVER_KEEP_LWS_LOGS 0x1u
/* /metrics answers 404: for the plain health listener beside a secure metrics listener. */
#define K8S_OBS_SERVER_NO_METRICS 0x2u

/*
 * Delegated authorization of /metrics (a TokenReview and a SubjectAccessReview, see
 * k8s/delegated_auth.h, or anything else that decides on a bearer token).
 *
 * authorize() is asked for each /metrics request with the request's bearer token (NULL when
 * the request carried no "Authorization: Bearer ..." header) and the path. It returns an HTTP
 * status at once (200 serves the page; 401, 403, 429, 500 and 503 answer with that status),
 * or 0 when the answer comes later: then it stores a handle for the pending decision in
 * *handle and calls done(req, status) exactly once from a later loop callback, never from
 * inside authorize(), unless cancel(data, handle) ran first (the client went away), after
 * which done is never called. Any other return is answered 500.
 */
typedef void (*k8s_obs_auth_done_fn)(void *req, int status);
typedef int (*k8s_obs_authorize_fn)(void *data, const char *token, const char *path,
                                    k8s_obs_auth_done_fn done, void *req, void **handle);
typedef void (*k8s_obs_auth_cancel_fn)(void *data, void *handle);

/*
 * How long a request may wait for its authorization before the connection is closed. While it
 * waits nothing more is read from the connection, so a client that went away meanwhile is
 * noticed when the answer is written or at this timeout (and its decision withdrawn then).
 */
#define K8S_OBS_AUTH_TIMEOUT_S 15

/*
 * Bounds, so that no client (a port scan, a load balancer's health check, a slowloris) can
 * take the server or the daemon down, only at worst delay one probe:
 *  - at most K8S_OBS_MAX_CONNECTIONS connections per server; a connection over the cap is
 *    closed as soon as it is accepted (not left in the kernel's backlog);
 *  - request headers of at most K8S_OBS_MAX_HEADER_BYTES in all (a probe or a scrape sends a
 *    few hundred); a larger request is refused;
 *  - a connection that has not completed its request within K8S_OBS_TIMEOUT_S seconds, or sits
 *    idle between requests that long, is closed. Each connection gets a header buffer of its
 *    own, so connections under the cap never wait for one another.
 * Memory per server stays under MAX_CONNECTIONS * (MAX_HEADER_BYTES + a response).
 */
#define K8S_OBS_MAX_CONNECTIONS  64
#define K8S_OBS_MAX_HEADER_BYTES 4096
#define K8S_OBS_TIMEOUT_S        5

typedef struct {
    const char *addr;       /* ":8081" (all interfaces), "127.0.0.1:0", "[::1]:8080" */
    k8s_metrics *metrics;   /* borrowed, must outlive the server; NULL serves an empty page */
    k8s_obs_ready_fn ready; /* NULL: always ready */
    void *ready_data;
    unsigned flags;
    /*
     * TLS: a PEM certificate (chain) and its PEM private key. When set the
     * listener speaks HTTPS only (a cleartext request fails the handshake). Borrowed until
     * start() returns: libwebsockets loads them into its TLS context there.
     */
    const char *tls_cert_pem;
    size_t tls_cert_len;
    const char *tls_key_pem;
    size_t tls_key_len;
    /* Optional authorization of /metrics (above); authorize_data is borrowed. */
    k8s_obs_authorize_fn authorize;
    k8s_obs_auth_cancel_fn authorize_cancel;
    void *authorize_data;
} k8s_obs_server_opts;

/* Copies opts (addr included). Returns NULL on allocation failure. */
k8s_obs_server *k8s_obs_server_new(uv_loop_t *loop, const k8s_obs_server_opts *opts);

/*
 * Binds and listens. Returns 0, -EINVAL for a malformed address (or authorize without
 * authorize_cancel, or a certificate without a key), -EADDRINUSE or another negative errno when
 * the port cannot be bound, -ENOENT when /dev/urandom cannot be read (libwebsockets 4.1 would
 * crash later, in lws_context_destroy, without it: seen in a chroot), -EIO when libwebsockets
 * (or its libuv plugin, Debian's libwebsockets-evlib-uv) cannot start or refuses the
 * certificate or key, -EALREADY when already started.
 */
int k8s_obs_server_start(k8s_obs_server *srv);

/* The bound TCP port once started (the real one when the address asked for port 0), else -1. */
int k8s_obs_server_port(const k8s_obs_server *srv);

/*
 * Stops serving and releases the loop. cb (may be NULL) runs from the loop when done; never
 * from inside this call. On a server that is not started, cb still runs on the next loop turn.
 */
void k8s_obs_server_close(k8s_obs_server *srv, k8s_obs_server_cb cb, void *data);

/*
 * Hands an already connected stream socket to the server as if it had been accepted (the
 * server owns fd from here, on success and failure). For the fuzz target, which feeds requests
 * through a socketpair. Returns 0, -EBUSY at the connection cap, -EIO when lws refuses it, or
 * -EINVAL when the server is not started.
 */
int k8s_obs_server_adopt(k8s_obs_server *srv, int fd);

/* Connections currently open (accepted or adopted, not yet destroyed). */
int k8s_obs_server_connections(const k8s_obs_server *srv);

/* Frees the server: when never started, or in or after the close callback. NULL is a no-op. */
void k8s_obs_server_free(k8s_obs_server *srv);

/*
 * Splits "host:port" (host empty for all interfaces, IPv6 in brackets) into host (numeric, or ""
 * for all) and port. Returns 0 or -EINVAL. Exposed for flag validation and tests.
 */
int k8s_obs_parse_addr(const char *addr, char *host, size_t host_size, int *port);

#endif
