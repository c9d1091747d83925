/* libcurl multi_socket on a libuv loop; see http.h.
 *
 * Shape follows curl's docs/examples/multi-uv.c: one context (k8s_http) handed to libcurl as
 * socket and timer data, a per-socket context holding a uv_poll_t created on first use and
 * closed on CURL_POLL_REMOVE (freed in its close callback), a one-shot timer where 0 becomes
 * 1 ms so libcurl is never re-entered from its own timer callback, and curl_multi_info_read
 * drained after every action. On top of that, every operation a user may call from a callback
 * (start, cancel, close) only records intent and arms the "kick" timer; the kick runs on a
 * later loop turn, outside libcurl, and does the curl_multi_add/remove work.
 */
#include "k8s/http.h"
#include "k8s/sbuf.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_DEFAULT_MAX_BODY (64u * 1024u * 1024u)

typedef enum req_state {
    REQ_PENDING, /* queued, not yet in the multi handle */
    REQ_ACTIVE,  /* added to the multi handle */
} req_state;

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    k8s_http *h;
    struct sock_ctx *prev, *next;
} sock_ctx;

struct k8s_http_req {
    k8s_http *h;
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *connect_to; /* tls server_name, opts' connect_to: where it really goes */
    req_state state;
    bool cancelled;
    bool too_large;
    bool streamed;
    k8s__sbuf body; /* buffered body, bounded by max_body */
    size_t max_body;
    char *retry_after;
    char *content_type;
    k8s_http_data_cb on_data;
    k8s_http_done_cb on_done;
    void *data;
    char errbuf[CURL_ERROR_SIZE];
    struct k8s_http_req *prev, *next;
};

struct k8s_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;   /* libcurl's timeout */
    uv_timer_t kick;    /* deferred work, see the file comment */
    k8s_http_req *reqs; /* pending and active transfers */
    sock_ctx *socks;
    int open_handles;
    bool closing;
    bool closed_multi;
    void (*close_cb)(void *data);
    void *close_data;
    k8s_http_opts opts;
    char *user_agent;
    k8s_http_stats stats;
};

/* ---- small list helpers --------------------------------------------------------------- */

static void req_link(k8s_http *h, k8s_http_req *r)
{
    r->prev = NULL;
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;
}

static void req_unlink(k8s_http *h, k8s_http_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void maybe_free_http(k8s_http *h);

static void on_uv_handle_closed(uv_handle_t *handle)
{
    k8s_http *h = handle->data;
    h->open_handles--;
    maybe_free_http(h);
}

static void on_uv_poll_closed(uv_handle_t *handle)
{
    sock_ctx *s = (sock_ctx *)handle;
    k8s_http *h = s->h;
    free(s);
    h->open_handles--;
    maybe_free_http(h);
}

static void sock_close(sock_ctx *s)
{
    k8s_http *h = s->h;
    if (s->prev)
        s->prev->next = s->next;
    else
        h->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_uv_poll_closed);
}

/* ---- completion ------------------------------------------------------------------------ */

static void req_free(k8s_http_req *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    curl_slist_free_all(r->connect_to);
    size_t held = r->body.cap;
    free(r->body.buf);
    free(r->retry_after);
    free(r->content_type);
    free(r);
    k8s__give_back(held);
}

/* Delivers on_done once and frees r. r must already be out of the multi handle. */
/*
 * Whether curl failed in the TLS layer: an unknown CA, a wrong SAN or an expired certificate
 * on either side. Told apart from other transport failures because the fix is configuration
 * (the kubeconfig's CA or tls-server-name), not waiting.
 */
static bool is_tls_failure(CURLcode cc)
{
    switch (cc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
        return true;
    default:
        return false;
    }
}

static void req_finish(k8s_http_req *r, CURLcode cc)
{
    k8s_http *h = r->h;
    req_unlink(h, r);
    k8s_http_result res = {0};
    long status = 0, version = 0, connects = 0;
    if (r->state == REQ_ACTIVE) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &version);
        curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
    }
    res.status = (int)status;
    res.http_version = version == CURL_HTTP_VERSION_2_0   ? 20
                       : version == CURL_HTTP_VERSION_1_1 ? 11
                       : version == CURL_HTTP_VERSION_1_0 ? 10
                                                          : 0;
    res.new_connections = connects;
    res.err_text = "";
    if (r->cancelled && (cc != CURLE_OK || r->state == REQ_PENDING)) {
        res.err = K8S_ERR_CANCELLED;
        res.err_text = "cancelled";
    } else if (r->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
        res.err = K8S_ERR_TRANSPORT;
        snprintf(r->errbuf, sizeof(r->errbuf), "response body too large (over %zu bytes)",
                 r->max_body);
        res.err_text = r->errbuf;
    } else if (cc == CURLE_OK) {
        res.err = K8S_OK;
    } else {
        res.err = cc == CURLE_OPERATION_TIMEDOUT ? K8S_ERR_TIMEOUT
                  : cc == CURLE_OUT_OF_MEMORY    ? K8S_ERR_NOMEM
                                                 : K8S_ERR_TRANSPORT;
        res.err_text = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
        res.tls_failed = is_tls_failure(cc);
        res.resolve_failed = cc == CURLE_COULDNT_RESOLVE_HOST;
        res.connect_failed = cc == CURLE_COULDNT_CONNECT;
    }
    res.body = r->body.buf ? r->body.buf : "";
    res.body_len = r->body.len;
    res.streamed = r->streamed;
    res.retry_after = r->retry_after;
    res.content_type = r->content_type;

    h->stats.finished++;
    h->stats.active--;
    h->stats.connections += (unsigned long)connects;
    r->on_done(r, &res, r->data);
    req_free(r);
}

/* Reaps every finished transfer. Called after each curl_multi_socket_action, never from a
 * libcurl callback. */
static void drain(k8s_http *h)
{
    CURLMsg *msg;
    int left;
    while (h->multi && (msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode cc = msg->data.result;
        k8s_http_req *r = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(h->multi, easy);
        req_finish(r, cc);
    }
}

/* ---- libuv → libcurl ------------------------------------------------------------------- */

static void on_uv_poll(uv_poll_t *poll, int status, int events)
{
    sock_ctx *s = (sock_ctx *)poll;
    k8s_http *h = s->h;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    drain(h);
}

static void on_uv_timeout(uv_timer_t *t)
{
    k8s_http *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain(h);
}

/* ---- libcurl → libuv ------------------------------------------------------------------- */

static int cb_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    k8s_http *h = userp;
    sock_ctx *s = socketp;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(h->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->h = h;
        s->poll.data = h;
        s->next = h->socks;
        if (h->socks)
            h->socks->prev = s;
        h->socks = s;
        h->open_handles++;
        curl_multi_assign(h->multi, fd, s);
    }
    int events = 0;
    if (action == CURL_POLL_IN || action == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_uv_poll);
    return 0;
}

static int cb_timer(CURLM *multi, long timeout_ms, void *userp)
{
    k8s_http *h = userp;
    if (timeout_ms < 0) {
        uv_timer_stop(&h->timer);
    } else {
        /* 0 means "now", but acting now would re-enter libcurl from its own callback. */
        uv_timer_start(&h->timer, on_uv_timeout, timeout_ms ? (uint64_t)timeout_ms : 1, 0);
    }
    return 0;
}

static size_t cb_write(char *ptr, size_t size, size_t nmemb, void *userp)
{
    k8s_http_req *r = userp;
    size_t n = size * nmemb;
    if (r->cancelled)
        return 0; /* aborts the transfer; reaped as cancelled */
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (r->on_data && status >= 200 && status < 300) {
        r->streamed = true;
        r->on_data(r, (int)status, ptr, n, r->data);
        return r->cancelled ? 0 : n;
    }
    if (r->body.len + n + 1 > r->max_body) {
        r->too_large = true;
        return 0;
    }
    k8s__sb_put(&r->body, ptr, n);
    return r->body.failed ? 0 : n;
}

/* Keeps the headers request.c needs; a new status line (1xx, retries inside libcurl) resets. */
static size_t cb_header(char *line, size_t size, size_t nmemb, void *userp)
{
    k8s_http_req *r = userp;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        free(r->retry_after);
        free(r->content_type);
        r->retry_after = r->content_type = NULL;
        /* An earlier response's body is dropped, its memory kept; sbuf text ends in a NUL. */
        r->body.len = 0;
        if (r->body.buf)
            r->body.buf[0] = '\0';
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return n;
    size_t nlen = (size_t)(colon - line);
    char **dst = NULL;
    if (nlen == 11 && strncasecmp(line, "Retry-After", 11) == 0)
        dst = &r->retry_after;
    else if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0)
        dst = &r->content_type;
    if (!dst)
        return n;
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    free(*dst);
    *dst = strndup(v, (size_t)(end - v));
    return n;
}

/* ---- deferred work --------------------------------------------------------------------- */

static void shutdown_multi(k8s_http *h)
{
    /* Transfers are all gone; cleanup may still report sockets of cached connections. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    h->closed_multi = true;
    while (h->socks)
        sock_close(h->socks);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_uv_handle_closed);
    uv_close((uv_handle_t *)&h->kick, on_uv_handle_closed);
}

static void on_uv_kick(uv_timer_t *t)
{
    k8s_http *h = t->data;
    /* Walk a snapshot: callbacks may start new transfers (pushed at the head) or cancel any. */
    k8s_http_req *r = h->reqs, *next;
    for (; r; r = next) {
        next = r->next;
        if (h->closing)
            r->cancelled = true;
        if (r->state == REQ_PENDING) {
            if (r->cancelled) {
                req_finish(r, CURLE_OK);
                next = h->reqs; /* the callback may have changed the list; rescan */
                continue;
            }
            if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
                r->state = REQ_ACTIVE; /* not in the multi, but getinfo is still valid */
                snprintf(r->errbuf, sizeof(r->errbuf), "curl_multi_add_handle failed");
                req_finish(r, CURLE_FAILED_INIT);
                next = h->reqs;
                continue;
            }
            r->state = REQ_ACTIVE;
        } else if (r->cancelled) {
            curl_multi_remove_handle(h->multi, r->easy);
            req_finish(r, CURLE_ABORTED_BY_CALLBACK);
            next = h->reqs;
        }
    }
    if (h->closing && !h->reqs && !h->closed_multi)
        shutdown_multi(h);
}

static void arm_kick(k8s_http *h)
{
    if (!h->closed_multi)
        uv_timer_start(&h->kick, on_uv_kick, 0, 0);
}

static void maybe_free_http(k8s_http *h)
{
    if (!h->closed_multi || h->open_handles > 0)
        return;
    void (*cb)(void *) = h->close_cb;
    void *data = h->close_data;
    free(h->user_agent);
    free(h);
    curl_global_cleanup();
    if (cb)
        cb(data);
}

/* ---- public API ------------------------------------------------------------------------ */

int k8s_http_new(uv_loop_t *loop, const k8s_http_opts *opts, k8s_http **out)
{
    if (!loop || !out)
        return -EINVAL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -EIO;
    k8s_http *h = calloc(1, sizeof(*h));
    if (!h) {
        curl_global_cleanup();
        return -ENOMEM;
    }
    if (opts)
        h->opts = *opts;
    if (h->opts.connect_timeout_ms <= 0)
        h->opts.connect_timeout_ms = 10000;
    if (h->opts.keepalive_idle_s <= 0)
        h->opts.keepalive_idle_s = 30;
    h->user_agent = strdup(h->opts.user_agent ? h->opts.user_agent : K8S_DEFAULT_USER_AGENT);
    h->opts.user_agent = NULL;
    h->multi = curl_multi_init();
    if (!h->user_agent || !h->multi) {
        if (h->multi)
            curl_multi_cleanup(h->multi);
        free(h->user_agent);
        free(h);
        curl_global_cleanup();
        return -ENOMEM;
    }
    h->loop = loop;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, cb_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, cb_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* The API server allows 100 streams per connection. */
    curl_multi_setopt(h->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 100L);
    uv_timer_init(loop, &h->timer);
    uv_timer_init(loop, &h->kick);
    h->timer.data = h;
    h->kick.data = h;
    h->open_handles = 2;
    *out = h;
    return 0;
}

/*
 * OpenSSL keeps a 16 KiB read and write buffer per connection for its whole life; a controller
 * holds a dozen watches open that are idle almost always. Let idle connections give them back.
 */
static CURLcode cb_ssl_ctx(CURL *easy, void *ssl_ctx, void *data)
{
    (void)easy, (void)data;
    SSL_CTX_set_mode((SSL_CTX *)ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
    return CURLE_OK;
}

/*
 * TLS for another name than the URL's host (kubeconfig's tls-server-name). libcurl has no
 * option for it, so the URL is given the name, CURLOPT_CONNECT_TO sends the connection to the
 * real host and port, and the Host header keeps the URL's authority as client-go sends it.
 * Sets CURLOPT_URL; 0, -EINVAL (a URL or name libcurl refuses) or -ENOMEM.
 */
static int set_url_for_name(k8s_http_req *r, const char *url, const char *name)
{
    CURLU *u = curl_url();
    if (!u)
        return -ENOMEM;
    char *host = NULL, *port = NULL, *given_port = NULL, *renamed = NULL;
    int rc = -EINVAL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_HOST, name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &renamed, 0) != CURLUE_OK)
        goto out;
    (void)curl_url_get(u, CURLUPART_PORT, &given_port, 0); /* absent: the scheme's default */
    char line[600];
    rc = -ENOMEM;
    if (snprintf(line, sizeof(line), "%s:%s:%s:%s", name, port, host, port) >= (int)sizeof(line))
        goto out;
    if (!(r->connect_to = curl_slist_append(NULL, line)))
        goto out;
    snprintf(line, sizeof(line), "Host: %s%s%s", host, given_port ? ":" : "",
             given_port ? given_port : "");
    struct curl_slist *l = curl_slist_append(r->headers, line);
    if (!l)
        goto out;
    r->headers = l;
    rc = curl_easy_setopt(r->easy, CURLOPT_URL, renamed) == CURLE_OK &&
                 curl_easy_setopt(r->easy, CURLOPT_CONNECT_TO, r->connect_to) == CURLE_OK
             ? 0
             : -EINVAL;
out:
    curl_free(host);
    curl_free(port);
    curl_free(given_port);
    curl_free(renamed);
    curl_url_cleanup(u);
    return rc;
}

static int setup_easy(k8s_http *h, k8s_http_req *r, const k8s_http_req_opts *o)
{
    CURL *e = r->easy;
    int bad = 0;
#define SET(opt, val) bad |= curl_easy_setopt(e, opt, val) != CURLE_OK
    if (o->tls && o->tls->server_name && o->tls->server_name[0]) {
        int rc = set_url_for_name(r, o->url, o->tls->server_name);
        if (rc != 0)
            return rc;
    } else {
        SET(CURLOPT_URL, o->url);
    }
    for (size_t i = 0; i < o->nconnect_to; i++) {
        /* After a tls server_name's own line: libcurl uses the first line that matches. */
        struct curl_slist *l = curl_slist_append(r->connect_to, o->connect_to[i]);
        if (!l)
            return -ENOMEM;
        r->connect_to = l;
    }
    if (o->nconnect_to)
        SET(CURLOPT_CONNECT_TO, r->connect_to);
    SET(CURLOPT_PRIVATE, (void *)r);
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_WRITEFUNCTION, cb_write);
    SET(CURLOPT_WRITEDATA, (void *)r);
    SET(CURLOPT_HEADERFUNCTION, cb_header);
    SET(CURLOPT_HEADERDATA, (void *)r);
    SET(CURLOPT_USERAGENT, h->user_agent);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_HTTP_VERSION,
        h->opts.http1_only ? (long)CURL_HTTP_VERSION_1_1 : (long)CURL_HTTP_VERSION_2TLS);
    /* Wait for an existing connection to say whether it multiplexes instead of opening a new
     * one per concurrent transfer: this is what keeps every watch on one h2 connection. */
    SET(CURLOPT_PIPEWAIT, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_KEEPIDLE, h->opts.keepalive_idle_s);
    SET(CURLOPT_TCP_KEEPINTVL, h->opts.keepalive_idle_s);
    SET(CURLOPT_CONNECTTIMEOUT_MS, h->opts.connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 0L);
    /* A Content-Length over the cap is refused before any of the body is read, instead of
     * buffering max_body bytes first (streamed 2xx bodies have no cap here). */
    if (!o->on_data)
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
    if (o->idle_timeout_s > 0) {
        SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
        SET(CURLOPT_LOW_SPEED_TIME, o->idle_timeout_s);
    }
    /* An API server never redirects; following one would take the bearer token to whatever
     * host it names. A 3xx is an answer for the caller (these are libcurl's defaults, kept
     * explicit because tests/hostile depends on them). */
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_UNRESTRICTED_AUTH, 0L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    /* Only with an OpenSSL build of libcurl; elsewhere this saving is simply not made. */
    (void)curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, cb_ssl_ctx);
    SET(CURLOPT_PROTOCOLS_STR, "https,http");
    /* libcurl copies every HTTPS/1.1 request into an upload buffer of 64 KiB by default, kept
     * for the handle's life (a watch's is its whole life); our bodies are a few KiB and a
     * larger one is simply sent in pieces. 16 KiB is the smallest libcurl accepts. */
    SET(CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
    if (o->tls) {
        if (o->tls->ca_pem) {
            struct curl_blob b = {(void *)o->tls->ca_pem, o->tls->ca_len, CURL_BLOB_COPY};
            SET(CURLOPT_CAINFO_BLOB, &b);
        }
        if (o->tls->cert_pem) {
            struct curl_blob b = {(void *)o->tls->cert_pem, o->tls->cert_len, CURL_BLOB_COPY};
            SET(CURLOPT_SSLCERT_BLOB, &b);
            SET(CURLOPT_SSLCERTTYPE, "PEM");
        }
        if (o->tls->key_pem) {
            struct curl_blob b = {(void *)o->tls->key_pem, o->tls->key_len, CURL_BLOB_COPY};
            SET(CURLOPT_SSLKEY_BLOB, &b);
            SET(CURLOPT_SSLKEYTYPE, "PEM");
        }
    }
    const char *m = o->method ? o->method : "GET";
    if (strcmp(m, "GET") == 0 && !o->body) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(m, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, m);
        if (o->body || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(o->body ? o->body_len : 0));
            SET(CURLOPT_COPYPOSTFIELDS, o->body ? o->body : "");
        }
    }
    for (size_t i = 0; i < o->nheaders; i++) {
        struct curl_slist *l = curl_slist_append(r->headers, o->headers[i]);
        if (!l)
            return -ENOMEM;
        r->headers = l;
    }
    /* No "Expect: 100-continue" round trip on HTTP/1.1 uploads. */
    struct curl_slist *l = curl_slist_append(r->headers, "Expect:");
    if (!l)
        return -ENOMEM;
    r->headers = l;
    SET(CURLOPT_HTTPHEADER, r->headers);
#undef SET
    return bad ? -EINVAL : 0;
}

int k8s_http_start(k8s_http *h, const k8s_http_req_opts *o, k8s_http_req **out)
{
    if (out)
        *out = NULL;
    if (!h || !o || !o->url || !o->on_done)
        return -EINVAL;
    if (h->closing)
        return -ESHUTDOWN;
    k8s_http_req *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->h = h;
    r->on_data = o->on_data;
    r->on_done = o->on_done;
    r->data = o->data;
    r->max_body = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;
    r->easy = curl_easy_init();
    if (!r->easy) {
        req_free(r);
        return -ENOMEM;
    }
    int rc = setup_easy(h, r, o);
    if (rc < 0) {
        req_free(r);
        return rc;
    }
    r->state = REQ_PENDING;
    req_link(h, r);
    h->stats.started++;
    h->stats.active++;
    arm_kick(h);
    if (out)
        *out = r;
    return 0;
}

void k8s_http_req_cancel(k8s_http_req *r)
{
    if (!r || r->cancelled)
        return;
    r->cancelled = true;
    arm_kick(r->h);
}

void *k8s_http_req_data(const k8s_http_req *r)
{
    return r->data;
}

void k8s_http_get_stats(const k8s_http *h, k8s_http_stats *out)
{
    *out = h->stats;
}

void k8s_http_close(k8s_http *h, void (*cb)(void *data), void *data)
{
    if (!h || h->closing)
        return;
    h->closing = true;
    h->close_cb = cb;
    h->close_data = data;
    arm_kick(h);
}
