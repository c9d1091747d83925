/*
 * Health and metrics server. libwebsockets speaks HTTP; we own the listening socket and hand
 * each accepted connection to it (lws_adopt_socket_vhost). Owning the listener gives real errno
 * values for bind failures and the real port for ":0", which lws's own listener does not report
 * reliably, and keeps every loop handle we create under our control at close.
 */
/* accept4(): atomically non-blocking and close-on-exec. */
#define _GNU_SOURCE

#include "k8s/obs_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

/* The response body goes out in pieces of this size, one per writable callback. */
#define CHUNK 4096

enum state { ST_NEW, ST_STARTED, ST_CLOSING, ST_CLOSED };

struct k8s_obs_server {
    uv_loop_t *loop;
    k8s_obs_server_opts opts;
    char *addr;
    enum state state;
    int port;

    int listen_fd;
    uv_poll_t listen_poll;
    int poll_open;          /* listen_poll initialised and not yet closed */
    uv_timer_t watch;       /* waits for lws to finish tearing down at close */
    int destroy_again_done; /* the second lws_context_destroy() has been made */

    struct lws_context *ctx; /* lws writes NULL here once destruction has completed */
    struct lws_vhost *vhost;
    int connections; /* between LWS_CALLBACK_WSI_CREATE and LWS_CALLBACK_WSI_DESTROY */

    k8s_obs_server_cb close_cb;
    void *close_data;
};

/* Per-connection state lws allocates (zeroed) for us. */
typedef struct {
    unsigned char *buf; /* LWS_PRE bytes of headroom, then the body */
    size_t len, off;
    void *auth;        /* the authorizer's handle while a decision is pending, else NULL */
    int status;        /* the answer's status, once decided */
    const char *ctype; /* and its content type (a string literal) */
    int head_due;      /* a deferred answer: the headers go out from the writable callback */
} pss;

/* ---------------------------------------------------------------------------------------- */
/* Addresses                                                                                 */
/* ---------------------------------------------------------------------------------------- */

int k8s_obs_parse_addr(const char *addr, char *host, size_t host_size, int *port)
{
    if (!addr || !host || host_size == 0)
        return -EINVAL;
    const char *colon;
    const char *h = addr;
    size_t hlen;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = addr + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return -EINVAL; /* no port, or an unbracketed IPv6 address */
        hlen = (size_t)(colon - addr);
    }
    if (hlen + 1 > host_size)
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';

    const char *p = colon + 1;
    if (!*p || strlen(p) > 5)
        return -EINVAL;
    long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return -EINVAL;
    unsigned char probe[sizeof(struct in6_addr)];
    if (hlen && inet_pton(AF_INET, host, probe) != 1 && inet_pton(AF_INET6, host, probe) != 1)
        return -EINVAL; /* numeric only: resolving names here would block the loop */
    *port = (int)v;
    return 0;
}

/* Opens a listening socket; returns the fd and the bound port, or a negative errno. */
static int listen_on(const char *host, int port, int *bound_port)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (host[0] && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        sslen = sizeof(*sin);
    } else {
        /* IPv6, or all interfaces: a dual-stack socket also takes IPv4 (kubelet probes). */
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        sin6->sin6_addr = in6addr_any;
        if (host[0] && inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return -EINVAL;
        sslen = sizeof(*sin6);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && ss.ss_family == AF_INET6 && !host[0]) {
        /* No IPv6 in this network namespace: fall back to IPv4 on all interfaces. */
        memset(&ss, 0, sizeof(ss));
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sslen = sizeof(*sin);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, 64) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    sslen = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    *bound_port = ntohs(ss.ss_family == AF_INET ? sin->sin_port : sin6->sin6_port);
    return fd;
}

/* ---------------------------------------------------------------------------------------- */
/* HTTP                                                                                      */
/* ---------------------------------------------------------------------------------------- */

static void pss_reset(pss *p)
{
    free(p->buf);
    p->buf = NULL;
    p->len = p->off = 0;
}

/* Takes body (len bytes) into the session, behind LWS_PRE bytes of headroom. */
static int pss_set_body(pss *p, const char *body, size_t len)
{
    pss_reset(p);
    p->buf = malloc(LWS_PRE + len + 1);
    if (!p->buf)
        return -ENOMEM;
    memcpy(p->buf + LWS_PRE, body, len);
    p->len = len;
    return 0;
}

/*
 * Withdraws a pending authorization, so that its answer never reaches a session lws is about
 * to free: every way a connection ends passes through here. Idempotent.
 */
static void pss_cancel_auth(k8s_obs_server *srv, pss *p)
{
    if (!p || !p->auth)
        return;
    void *handle = p->auth;
    p->auth = NULL;
    if (srv && srv->opts.authorize_cancel)
        srv->opts.authorize_cancel(srv->opts.authorize_data, handle);
}

/* Fills the session with the metrics page; returns the status. */
static int metrics_page(k8s_obs_server *srv, pss *p)
{
    p->ctype = K8S_METRICS_CONTENT_TYPE;
    char *text = NULL;
    size_t len = 0;
    if (srv->opts.metrics && k8s_metrics_render(srv->opts.metrics, &text, &len) != 0) {
        pss_set_body(p, "out of memory\n", 14);
        p->ctype = "text/plain; charset=utf-8";
        return 500;
    }
    pss_set_body(p, text ? text : "", len);
    free(text);
    return 200;
}

/* Fills the session with the answer to an authorization decision; returns the status. */
static int authorized_page(k8s_obs_server *srv, pss *p, int status)
{
    p->ctype = "text/plain; charset=utf-8";
    switch (status) {
    case 200:
        return metrics_page(srv, p);
    case 401:
        pss_set_body(p, "unauthorized: a valid bearer token is required\n", 47);
        return 401;
    case 403:
        pss_set_body(p, "forbidden: the token's user may not get this path\n", 50);
        return 403;
    case 429:
    case 503:
        pss_set_body(p, "authorization unavailable, retry later\n", 39);
        return status;
    default:
        pss_set_body(p, "authorization failed\n", 21);
        return 500;
    }
}

/*
 * The token of an "Authorization: Bearer <token>" header, copied into buf; NULL when the
 * request carries none, another scheme, or one too long for buf.
 */
static const char *bearer_token(struct lws *wsi, char *buf, size_t size)
{
    int n = lws_hdr_copy(wsi, buf, (int)size, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 0)
        return NULL;
    if (n < 7 || strncasecmp(buf, "Bearer ", 7) != 0)
        return NULL;
    char *t = buf + 7;
    while (*t == ' ')
        t++;
    size_t len = strlen(t);
    while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
        t[--len] = '\0';
    return len ? t : NULL;
}

/* lws' wsi is the request the authorizer answers: the session knows whether it still waits. */
static void on_auth_done(void *req, int status)
{
    struct lws *wsi = req;
    pss *p = lws_wsi_user(wsi);
    k8s_obs_server *srv = lws_context_user(lws_get_context(wsi));
    if (!p || !p->auth || !srv)
        return; /* cannot happen: a cancelled decision is never answered */
    p->auth = NULL;
    p->status = authorized_page(srv, p, status);
    p->head_due = 1;
    lws_callback_on_writable(wsi);
}

/*
 * Builds the response for path into the session (status, type, body). Returns the status, or
 * 0 when the answer waits for the authorizer (on_auth_done completes it).
 */
static int route(k8s_obs_server *srv, struct lws *wsi, pss *p, const char *path)
{
    p->ctype = "text/plain; charset=utf-8";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        pss_set_body(p, "method not allowed\n", 19);
        return 405;
    }
    if (strcmp(path, "/healthz") == 0) {
        pss_set_body(p, "ok", 2);
        return 200;
    }
    if (strcmp(path, "/readyz") == 0) {
        char reason[1024] = "";
        if (!srv->opts.ready || srv->opts.ready(srv->opts.ready_data, reason, sizeof(reason))) {
            pss_set_body(p, "ok", 2);
            return 200;
        }
        reason[sizeof(reason) - 1] = '\0';
        if (!reason[0])
            snprintf(reason, sizeof(reason), "not ready");
        pss_set_body(p, reason, strlen(reason));
        return 503;
    }
    if (strcmp(path, "/metrics") == 0 && !(srv->opts.flags & K8S_OBS_SERVER_NO_METRICS)) {
        if (!srv->opts.authorize)
            return metrics_page(srv, p);
        char hdr[K8S_OBS_MAX_HEADER_BYTES + 1];
        const char *token = bearer_token(wsi, hdr, sizeof(hdr));
        void *handle = NULL;
        int status =
            srv->opts.authorize(srv->opts.authorize_data, token, path, on_auth_done, wsi, &handle);
        if (status == 0 && handle) {
            p->auth = handle;
            /* lws' own timeouts do not run while we hold the answer: bound the wait here. */
            lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, K8S_OBS_AUTH_TIMEOUT_S);
            return 0;
        }
        return authorized_page(srv, p, status == 0 ? 500 : status);
    }
    pss_set_body(p, "not found\n", 10);
    return 404;
}

/* Whether the request announces a body: any Content-Length but 0, or any Transfer-Encoding. */
static int has_body(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        return 1;
    char cl[32];
    int n = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (n == 0)
        return 0;
    return n < 0 || strspn(cl, "0") != (size_t)n; /* too long to copy counts as a body */
}

/* Writes the status line and headers of the session's answer. Returns 0 or nonzero (drop). */
static int send_head(struct lws *wsi, pss *p)
{
    unsigned char hdr[LWS_PRE + 512];
    unsigned char *start = hdr + LWS_PRE, *pos = start, *end = hdr + sizeof(hdr) - 1;
    static const char challenge[] = "Bearer realm=\"metrics\"";
    if (lws_add_http_common_headers(wsi, (unsigned)p->status, p->ctype, p->len, &pos, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &pos, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                     &pos, end))
        return 1;
    if (p->status == 401 && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                                         (const unsigned char *)challenge,
                                                         sizeof(challenge) - 1, &pos, end))
        return 1;
    return lws_finalize_write_http_header(wsi, start, &pos, end) ? 1 : 0;
}

static int on_lws_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    /*
     * Every reason may arrive without a session (user == NULL): lws allocates it only once a
     * request arrives, and connection-level reasons (create, destroy, timeouts) come before
     * or after that. Each case checks for itself; the rest go to lws's default handler.
     */
    pss *p = user;
    k8s_obs_server *srv = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_WSI_CREATE:
        if (srv)
            srv->connections++;
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        if (srv && srv->connections > 0)
            srv->connections--;
        /*
         * lws frees the session itself, but not our body in it, and not every connection
         * reaches CLOSED_HTTP (a POST answered before its body arrived does not): the last
         * chance to free it, and to withdraw a pending authorization that would otherwise
         * answer into freed memory. Both are idempotent.
         */
        if (p) {
            pss_cancel_auth(srv, p);
            pss_reset(p);
        }
        break;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (p) {
            pss_cancel_auth(srv, p);
            pss_reset(p);
        }
        break;
    case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
        /*
         * Only a GET without a body is served; anything else is dropped unanswered before lws
         * gets further. libwebsockets 4.1 spins for ever (the whole loop, so the controller
         * too) when a request's body is still unread after the answer went out, and for other
         * methods it goes on parsing the bytes after the request while our answer is pending,
         * writing its own error page into the middle of it (both found by
         * tests/fuzz/k8s_obs_server_fuzz.c; corpus files lws-4.1-*). Probes and scrapers GET.
         */
        if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0 || has_body(wsi))
            return -1;
        break;
    case LWS_CALLBACK_HTTP: {
        if (!p || !srv)
            return -1; /* lws allocates the session before this; never trust that blindly */
        if (p->auth || p->buf)
            return -1; /* one request per connection (below); a second one is not served */
        p->status = route(srv, wsi, p, in ? (const char *)in : "");
        if (p->status == 0)
            return 0; /* waiting for the authorizer; on_auth_done asks for writable */
        if (!p->buf)
            return -1; /* out of memory: drop the connection */
        if (send_head(wsi, p))
            return 1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!p || !p->buf)
            break;
        if (p->head_due) {
            /* A deferred answer: its headers first, the body from the next writable. */
            p->head_due = 0;
            if (send_head(wsi, p))
                return 1;
            lws_callback_on_writable(wsi);
            return 0;
        }
        size_t n = p->len - p->off;
        int final = n <= CHUNK;
        if (!final)
            n = CHUNK;
        /* lws may use the LWS_PRE bytes before the data; those of a sent chunk are free. */
        if (lws_write(wsi, p->buf + LWS_PRE + p->off, n,
                      final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
            return 1;
        p->off += n;
        if (!final) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        pss_reset(p);
        /*
         * One request per connection: the spin above also needs lws to parse on after an
         * answer, and it never does here. Probes open a connection per probe anyway, and a
         * scrape every 15 s or more costs one handshake.
         */
        return -1;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
        /*
         * lws allocates the session only once a request arrives: a connection closed (or timed
         * out) before that closes with user == NULL. That was a remote crash (issue 18.1).
         */
        if (p) {
            pss_cancel_auth(srv, p);
            pss_reset(p);
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", on_lws_http, sizeof(pss), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---------------------------------------------------------------------------------------- */
/* Listener                                                                                  */
/* ---------------------------------------------------------------------------------------- */

int k8s_obs_server_adopt(k8s_obs_server *srv, int fd)
{
    if (srv->state != ST_STARTED || !srv->vhost) {
        close(fd);
        return -EINVAL;
    }
    if (srv->connections >= K8S_OBS_MAX_CONNECTIONS) {
        /*
         * Closing at once, rather than leaving the connection in the backlog, tells a flood
         * apart from a slow server and frees the kernel's queue for the next probe.
         */
        close(fd);
        return -EBUSY;
    }
    /* lws takes ownership of fd, and closes it when adoption fails. */
    return lws_adopt_socket_vhost(srv->vhost, fd) ? 0 : -EIO;
}

int k8s_obs_server_connections(const k8s_obs_server *srv)
{
    return srv ? srv->connections : 0;
}

static void on_listen_readable(uv_poll_t *h, int status, int events)
{
    k8s_obs_server *srv = h->data;
    (void)events;
    if (status < 0 || srv->state != ST_STARTED)
        return;
    /* Drain (a bounded part of) the backlog; the next readable event takes the rest. */
    for (int i = 0; i < 64; i++) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        k8s_obs_server_adopt(srv, fd);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Life cycle                                                                                */
/* ---------------------------------------------------------------------------------------- */

k8s_obs_server *k8s_obs_server_new(uv_loop_t *loop, const k8s_obs_server_opts *opts)
{
    if (!loop || !opts || !opts->addr)
        return NULL;
    k8s_obs_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    srv->addr = strdup(opts->addr);
    if (!srv->addr) {
        free(srv);
        return NULL;
    }
    srv->loop = loop;
    srv->opts = *opts;
    srv->opts.addr = srv->addr;
    srv->listen_fd = -1;
    srv->port = -1;
    return srv;
}

/*
 * libwebsockets 4.1 reads /dev/urandom at context creation and, when that fails, leaves the
 * context half made so that lws_context_destroy() crashes later (seen in a chroot without
 * /dev). Checking first turns that crash into a clear start-up error.
 */
static int urandom_readable(void)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    unsigned char b;
    ssize_t n = read(fd, &b, 1);
    int err = n == 1 ? 0 : n < 0 ? -errno : -EIO;
    close(fd);
    return err;
}

int k8s_obs_server_start(k8s_obs_server *srv)
{
    if (srv->state != ST_NEW)
        return -EALREADY;
    char host[INET6_ADDRSTRLEN + 1];
    int port;
    if (k8s_obs_parse_addr(srv->addr, host, sizeof(host), &port) != 0)
        return -EINVAL;
    const k8s_obs_server_opts *o = &srv->opts;
    if ((o->authorize && !o->authorize_cancel) || (!o->tls_cert_pem != !o->tls_key_pem) ||
        (o->tls_cert_pem && (!o->tls_cert_len || o->tls_cert_len > UINT32_MAX || !o->tls_key_len ||
                             o->tls_key_len > UINT32_MAX)))
        return -EINVAL;
    int rc = urandom_readable();
    if (rc != 0)
        return rc;
    int bound = -1;
    int fd = listen_on(host, port, &bound);
    if (fd < 0)
        return fd;

    if (!(srv->opts.flags & K8S_OBS_SERVER_KEEP_LWS_LOGS))
        lws_set_log_level(LLL_ERR, NULL); /* lws warns per malformed request: a log flood */

    void *loops[1] = {srv->loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.foreign_loops = loops; /* only read during lws_create_context */
    info.pcontext = &srv->ctx;
    info.user = srv;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols;
    info.vhost_name = "obs";
    /* The bounds documented in obs_server.h. */
    info.timeout_secs = K8S_OBS_TIMEOUT_S;
    info.timeout_secs_ah_idle = K8S_OBS_TIMEOUT_S;
    info.keepalive_timeout = K8S_OBS_TIMEOUT_S;
    info.max_http_header_data = K8S_OBS_MAX_HEADER_BYTES;
    /* One header buffer per connection: under the cap nobody queues behind a slowloris. */
    info.max_http_header_pool = K8S_OBS_MAX_CONNECTIONS;
    if (o->tls_cert_pem) {
        /*
         * HTTPS only: no LWS_SERVER_OPTION_ALLOW_NON_SSL_ON_SSL_PORT, so a cleartext request
         * fails the handshake instead of being served. HTTP/1.1 only, like the plain listener:
         * one request per connection is what the handlers above are built for.
         */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.server_ssl_cert_mem = o->tls_cert_pem;
        info.server_ssl_cert_mem_len = (unsigned)o->tls_cert_len;
        info.server_ssl_private_key_mem = o->tls_key_pem;
        info.server_ssl_private_key_mem_len = (unsigned)o->tls_key_len;
        info.alpn = "http/1.1";
    }

    srv->ctx = lws_create_context(&info);
    if (!srv->ctx) {
        close(fd);
        return -EIO;
    }
    srv->vhost = lws_create_vhost(srv->ctx, &info);
    rc = srv->vhost ? uv_poll_init(srv->loop, &srv->listen_poll, fd) : -EIO;
    if (rc != 0) {
        close(fd);
        /*
         * The context is on the loop already; its teardown completes asynchronously, so the
         * caller must close() as after a successful start.
         */
        srv->state = ST_STARTED;
        return rc;
    }
    srv->listen_fd = fd;
    srv->poll_open = 1;
    srv->listen_poll.data = srv;
    uv_poll_start(&srv->listen_poll, UV_READABLE, on_listen_readable);
    srv->port = bound;
    srv->state = ST_STARTED;
    return 0;
}

int k8s_obs_server_port(const k8s_obs_server *srv)
{
    return srv && srv->state == ST_STARTED ? srv->port : -1;
}

static void on_watch_closed(uv_handle_t *h)
{
    k8s_obs_server *srv = h->data;
    srv->state = ST_CLOSED;
    if (srv->close_cb)
        srv->close_cb(srv, srv->close_data);
}

static void count_closing(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        (*(int *)arg)++;
}

/*
 * Finishes the close. With a foreign loop, libwebsockets 4.1 tears down in two steps: the first
 * lws_context_destroy() closes its loop handles (connections first, then its own timer, idle
 * and event-pipe handles from their close callbacks), and a second call, once all of those
 * close callbacks have run, frees the context. Newer releases finish on their own and NULL the
 * pointer, which this also handles. "All have run" is read off the loop: no handle on it is
 * still closing. Another user's closing handle only delays us by a tick.
 */
static void on_watch_tick(uv_timer_t *t)
{
    k8s_obs_server *srv = t->data;
    if (srv->ctx && !srv->destroy_again_done) {
        int closing = 0;
        uv_walk(srv->loop, count_closing, &closing);
        if (closing)
            return;
        srv->destroy_again_done = 1;
        lws_context_destroy(srv->ctx);
    }
    if (srv->ctx || srv->poll_open)
        return;
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, on_watch_closed);
}

static void on_listen_closed(uv_handle_t *h)
{
    k8s_obs_server *srv = h->data;
    close(srv->listen_fd);
    srv->listen_fd = -1;
    srv->poll_open = 0;
}

void k8s_obs_server_close(k8s_obs_server *srv, k8s_obs_server_cb cb, void *data)
{
    if (srv->state == ST_CLOSING || srv->state == ST_CLOSED)
        return;
    srv->close_cb = cb;
    srv->close_data = data;
    srv->state = ST_CLOSING;
    if (srv->poll_open) {
        uv_poll_stop(&srv->listen_poll);
        uv_close((uv_handle_t *)&srv->listen_poll, on_listen_closed);
    }
    /* With a foreign loop this only starts the teardown; lws NULLs srv->ctx when it is done. */
    if (srv->ctx)
        lws_context_destroy(srv->ctx);
    /*
     * A short repeating timer observes completion; it also makes the callback asynchronous
     * when there was nothing to tear down.
     */
    uv_timer_init(srv->loop, &srv->watch);
    srv->watch.data = srv;
    uv_timer_start(&srv->watch, on_watch_tick, 0, 2);
}

void k8s_obs_server_free(k8s_obs_server *srv)
{
    if (!srv)
        return;
    free(srv->addr);
    free(srv);
}
