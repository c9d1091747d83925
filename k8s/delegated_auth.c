/*
 * TokenReview + SubjectAccessReview authorization (see delegated_auth.h). One decision is a
 * small state machine on the loop: token review, then access review, then the verdict, with
 * cancellation possible at any point (the HTTP client went away).
 */
#include "k8s/delegated_auth.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <uv.h>

#define DEFAULT_TIMEOUT_MS    4000
#define DEFAULT_MAX_IN_FLIGHT 8
#define DEFAULT_CACHE_SIZE    256
#define DEFAULT_CACHE_TTL_MS  10000
/* A review's answer echoes its spec plus a status: a few KB. More is not a review. */
#define MAX_REVIEW_BODY (256 * 1024)

/* Any caller can cause a 503 (a flood of new tokens, a failing API server): its log is bounded. */
#define LOG_INTERVAL_MS 10000u

/* Bounds on the user a TokenReview names; real ones are far below (a handful of groups). */
#define MAX_NAME_LEN     1024
#define MAX_GROUPS       256
#define MAX_EXTRA_KEYS   64
#define MAX_EXTRA_VALUES 64

#define KEY_LEN 32 /* SHA-256 */

typedef struct cache_entry {
    unsigned char key[KEY_LEN];
    int status;       /* 200, 401, 403; 0: an empty slot */
    uint64_t expires; /* uv_now() milliseconds */
} cache_entry;

typedef struct decision decision;

struct k8s_delegated_auth {
    k8s_client *client;
    uv_loop_t *loop;
    char *verb;
    long timeout_ms;
    int max_in_flight;
    long cache_ttl_ms;
    k8s_log *log;
    cache_entry *cache;
    int cache_size;
    decision *pending; /* a doubly linked list */
    int in_flight;
    k8s_delegated_auth_stats stats;
    /* Warn lines: at most one per LOG_INTERVAL_MS, the next one counting those left out. */
    uint64_t warned_at;
    bool warned;
    unsigned long unlogged;
};

/*
 * One pending decision. It lives until its current API request has finished, even after it
 * was cancelled (done == NULL) or its authorizer freed (auth == NULL): the request's callback
 * needs it to know that nobody waits any more.
 */
struct decision {
    decision *prev, *next;
    k8s_delegated_auth *auth;
    k8s_request *req;
    k8s_obs_auth_done_fn done;
    void *done_req;
    unsigned char key[KEY_LEN];
    char *path;
};

/* ---- parsers ------------------------------------------------------------------------------ */

static const cJSON *status_of(const cJSON *body)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(body, "status");
    return cJSON_IsObject(st) ? st : NULL;
}

static int short_string(const cJSON *v)
{
    return cJSON_IsString(v) && v->valuestring && strlen(v->valuestring) <= MAX_NAME_LEN;
}

/* A copy of a list of at most max short strings, or NULL (not a list, too long, not strings). */
static cJSON *string_list(const cJSON *v, int max)
{
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > max)
        return NULL;
    cJSON *out = cJSON_CreateArray();
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (!out || !short_string(it) ||
            !cJSON_AddItemToArray(out, cJSON_CreateString(it->valuestring))) {
            cJSON_Delete(out);
            return NULL;
        }
    }
    return out;
}

static void set_error(k8s_token_review_result *out, const char *msg)
{
    snprintf(out->error, sizeof(out->error), "%s", msg);
}

/* Copies status.user's fields into out->user, checking each; returns 0 or -EBADMSG. */
static int copy_user(const cJSON *u, k8s_token_review_result *out)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(u, "username");
    if (!short_string(name) || !name->valuestring[0]) {
        set_error(out, "authenticated without a username");
        return -EBADMSG;
    }
    cJSON *user = cJSON_CreateObject();
    if (!user || !cJSON_AddStringToObject(user, "user", name->valuestring))
        goto nomem;
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(u, "uid");
    if (uid && !cJSON_IsNull(uid)) {
        if (!short_string(uid)) {
            set_error(out, "user.uid is not a short string");
            goto bad;
        }
        if (!cJSON_AddStringToObject(user, "uid", uid->valuestring))
            goto nomem;
    }
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(u, "groups");
    if (groups && !cJSON_IsNull(groups)) {
        cJSON *g = string_list(groups, MAX_GROUPS);
        if (!g) {
            set_error(out, "user.groups is not a bounded list of strings");
            goto bad;
        }
        cJSON_AddItemToObject(user, "groups", g);
    }
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(u, "extra");
    if (extra && !cJSON_IsNull(extra)) {
        if (!cJSON_IsObject(extra) || cJSON_GetArraySize(extra) > MAX_EXTRA_KEYS) {
            set_error(out, "user.extra is not a bounded object");
            goto bad;
        }
        cJSON *e = cJSON_AddObjectToObject(user, "extra");
        if (!e)
            goto nomem;
        const cJSON *it;
        cJSON_ArrayForEach(it, extra)
        {
            cJSON *vals = it->string && strlen(it->string) <= MAX_NAME_LEN
                              ? string_list(it, MAX_EXTRA_VALUES)
                              : NULL;
            if (!vals) {
                set_error(out, "user.extra holds something other than lists of strings");
                goto bad;
            }
            cJSON_AddItemToObject(e, it->string, vals);
        }
    }
    out->user = user;
    return 0;
nomem:
    set_error(out, "out of memory");
    cJSON_Delete(user);
    return -ENOMEM;
bad:
    cJSON_Delete(user);
    return -EBADMSG;
}

int k8s_token_review_parse(const cJSON *body, k8s_token_review_result *out)
{
    memset(out, 0, sizeof(*out));
    const cJSON *st = status_of(body);
    if (!st) {
        set_error(out, "no status in the TokenReview answer");
        return -EBADMSG;
    }
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(st, "error");
    if (cJSON_IsString(err) && err->valuestring)
        set_error(out, err->valuestring);
    const cJSON *authn = cJSON_GetObjectItemCaseSensitive(st, "authenticated");
    if (authn && !cJSON_IsBool(authn)) {
        set_error(out, "status.authenticated is not a boolean");
        return -EBADMSG;
    }
    if (!cJSON_IsTrue(authn))
        return 0; /* absent means false, as in the Go type */
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(st, "user");
    if (!cJSON_IsObject(u)) {
        set_error(out, "authenticated without a user");
        return -EBADMSG;
    }
    int rc = copy_user(u, out);
    if (rc == 0)
        out->authenticated = true;
    return rc;
}

int k8s_access_review_parse(const cJSON *body, bool *allowed, char *reason, size_t size)
{
    *allowed = false;
    if (reason && size)
        reason[0] = '\0';
    const cJSON *st = status_of(body);
    if (!st)
        return -EBADMSG;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(st, "allowed");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(st, "denied");
    if (!cJSON_IsBool(a) || (d && !cJSON_IsBool(d)))
        return -EBADMSG;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(st, "reason");
    if (!cJSON_IsString(r) || !r->valuestring || !r->valuestring[0])
        r = cJSON_GetObjectItemCaseSensitive(st, "evaluationError");
    if (reason && size && cJSON_IsString(r) && r->valuestring)
        snprintf(reason, size, "%s", r->valuestring);
    /* Denied wins: the API server never sets both, but a confused answer must not allow. */
    *allowed = cJSON_IsTrue(a) && !cJSON_IsTrue(d);
    return 0;
}

/* ---- cache -------------------------------------------------------------------------------- */

static int make_key(const char *token, const char *path, unsigned char key[KEY_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(md, token, strlen(token) + 1) && /* the NUL separates the two */
             EVP_DigestUpdate(md, path, strlen(path)) && EVP_DigestFinal_ex(md, key, &n) &&
             n == KEY_LEN;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -ENOMEM;
}

static int cache_get(k8s_delegated_auth *a, const unsigned char key[KEY_LEN])
{
    uint64_t now = uv_now(a->loop);
    for (int i = 0; i < a->cache_size; i++) {
        cache_entry *e = &a->cache[i];
        if (e->status && e->expires > now && memcmp(e->key, key, KEY_LEN) == 0)
            return e->status;
    }
    return 0;
}

/* Stores a verdict over the same key, an expired slot, or else the one closest to expiry. */
static void cache_put(k8s_delegated_auth *a, const unsigned char key[KEY_LEN], int status)
{
    uint64_t now = uv_now(a->loop);
    cache_entry *slot = NULL;
    for (int i = 0; i < a->cache_size; i++) {
        cache_entry *e = &a->cache[i];
        if (memcmp(e->key, key, KEY_LEN) == 0 || !e->status || e->expires <= now) {
            slot = e;
            break;
        }
        if (!slot || e->expires < slot->expires)
            slot = e;
    }
    if (!slot)
        return;
    memcpy(slot->key, key, KEY_LEN);
    slot->status = status;
    slot->expires = now + (uint64_t)a->cache_ttl_ms;
}

/* ---- decisions ---------------------------------------------------------------------------- */

static void unlink_decision(decision *d)
{
    k8s_delegated_auth *a = d->auth;
    if (!a)
        return;
    if (d->prev)
        d->prev->next = d->next;
    else
        a->pending = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
    a->in_flight--;
    d->auth = NULL;
}

static void free_decision(decision *d)
{
    unlink_decision(d);
    free(d->path);
    free(d);
}

/* Answers the waiting request (if any still waits), caches a verdict, frees the decision. */
static void finish(decision *d, int status, bool cacheable)
{
    if (d->auth && cacheable)
        cache_put(d->auth, d->key, status);
    k8s_obs_auth_done_fn done = d->done;
    void *req = d->done_req;
    free_decision(d);
    if (done)
        done(req, status);
}

/*
 * Writes a warn line unless one was written in the last LOG_INTERVAL_MS (then counts it): a
 * scraper or an attacker decides how often these happen, not the operator.
 */
static void warn_limited(k8s_delegated_auth *a, const char *msg, const char *review, int http,
                         const char *why)
{
    uint64_t now = uv_now(a->loop);
    if (a->warned && now - a->warned_at < LOG_INTERVAL_MS) {
        a->unlogged++;
        return;
    }
    char code[16], left_out[24];
    snprintf(code, sizeof(code), "%d", http);
    snprintf(left_out, sizeof(left_out), "%lu", a->unlogged);
    a->warned = true;
    a->warned_at = now;
    a->unlogged = 0;
    k8s_log_warn(a->log, msg, "review", review, "httpStatus", code, "error", why, "suppressed",
                 left_out);
}

/* A review that did not produce an answer: 503, with the cause in the log, never cached. */
static void review_failed(decision *d, const char *kind, const k8s_response *res, const char *why)
{
    if (d->auth) {
        const char *cause = why                       ? why
                            : res && res->err.message ? res->err.message
                                                      : k8s_err_name(res ? res->err.code : K8S_OK);
        warn_limited(d->auth, "metrics authorization failed; answering 503", kind,
                     res ? res->http_status : 0, cause);
    }
    finish(d, 503, false);
}

/* True when nobody waits for d any more: the request's callback then only frees it. */
static bool abandoned(decision *d)
{
    if (d->done && d->auth)
        return false;
    free_decision(d);
    return true;
}

/*
 * The common start of both reviews' callbacks: the request is over; returns the decision when
 * someone still waits for it and the review produced an answer, else NULL (freed or failed).
 */
static decision *answered(void *data, const k8s_response *res, const char *kind)
{
    decision *d = data;
    d->req = NULL;
    if (abandoned(d))
        return NULL;
    if (res->err.code != K8S_OK) {
        review_failed(d, kind, res, NULL);
        return NULL;
    }
    return d;
}

/*
 * POSTs a review (group/v1, resource) for d. One attempt: a retry would outlast the scrape
 * waiting for it, and the scraper comes back on its next interval anyway.
 */
static int start_review(k8s_delegated_auth *a, decision *d, const char *group, const char *resource,
                        const cJSON *body, k8s_request_done_cb on_done)
{
    k8s_request_opts ro = {
        .verb = K8S_VERB_CREATE,
        .ref = {.group = group, .version = "v1", .resource = resource},
        .body = body,
        .timeout_ms = a->timeout_ms,
        .max_attempts = 1,
        .exempt = true,
        .max_body = MAX_REVIEW_BODY,
        .on_done = on_done,
        .data = d,
    };
    return k8s_request_start(a->client, &ro, &d->req);
}

static void on_access_review(k8s_request *req, k8s_response *res, void *data)
{
    (void)req;
    decision *d = answered(data, res, "SubjectAccessReview");
    if (!d)
        return;
    bool allowed = false;
    char reason[256];
    if (k8s_access_review_parse(res->body, &allowed, reason, sizeof(reason)) != 0) {
        review_failed(d, "SubjectAccessReview", res, "the answer has no usable status");
        return;
    }
    if (!allowed)
        k8s_log_debug(d->auth->log, "metrics request forbidden", "path", d->path, "reason", reason);
    finish(d, allowed ? 200 : 403, true);
}

/* {"apiVersion":..., "kind":"SubjectAccessReview", "spec": user + nonResourceAttributes}. */
static cJSON *access_review_body(const k8s_delegated_auth *a, cJSON *user, const char *path)
{
    cJSON *body = cJSON_CreateObject();
    if (!body || !cJSON_AddStringToObject(body, "apiVersion", "authorization.k8s.io/v1") ||
        !cJSON_AddStringToObject(body, "kind", "SubjectAccessReview")) {
        cJSON_Delete(body);
        cJSON_Delete(user);
        return NULL;
    }
    cJSON_AddItemToObject(body, "spec", user); /* the spec is the user, plus: */
    cJSON *nra = cJSON_AddObjectToObject(user, "nonResourceAttributes");
    if (!nra || !cJSON_AddStringToObject(nra, "path", path) ||
        !cJSON_AddStringToObject(nra, "verb", a->verb)) {
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

static void on_token_review(k8s_request *req, k8s_response *res, void *data)
{
    (void)req;
    decision *d = answered(data, res, "TokenReview");
    if (!d)
        return;
    k8s_token_review_result tr;
    if (k8s_token_review_parse(res->body, &tr) != 0) {
        review_failed(d, "TokenReview", res, tr.error);
        return;
    }
    if (!tr.authenticated) {
        k8s_log_debug(d->auth->log, "metrics request with an invalid token", "path", d->path,
                      "error", tr.error);
        finish(d, 401, true);
        return;
    }
    k8s_delegated_auth *a = d->auth;
    cJSON *body = access_review_body(a, tr.user, d->path);
    int rc = body ? start_review(a, d, "authorization.k8s.io", "subjectaccessreviews", body,
                                 on_access_review)
                  : -ENOMEM;
    cJSON_Delete(body);
    if (rc != 0) {
        review_failed(d, "SubjectAccessReview", NULL, strerror(-rc));
        return;
    }
    a->stats.access_reviews++;
}

/* Tokens are base64url or JWT text; anything else cannot be one and is not sent anywhere. */
static bool plausible_token(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > K8S_DELEGATED_AUTH_MAX_TOKEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return false;
    return true;
}

int k8s_delegated_auth_authorize(void *data, const char *token, const char *path,
                                 k8s_obs_auth_done_fn done, void *req, void **handle)
{
    k8s_delegated_auth *a = data;
    if (!a || !path || !done || !handle)
        return 500;
    *handle = NULL;
    if (!token || !plausible_token(token))
        return 401;
    unsigned char key[KEY_LEN];
    if (make_key(token, path, key) != 0)
        return 500;
    int cached = cache_get(a, key);
    if (cached) {
        a->stats.cache_hits++;
        return cached;
    }
    if (a->in_flight >= a->max_in_flight) {
        a->stats.rejected_busy++;
        warn_limited(a, "metrics authorization busy; answering 503", "none", 0,
                     "too many reviews in flight");
        return 503;
    }
    decision *d = calloc(1, sizeof(*d));
    cJSON *body = cJSON_CreateObject();
    cJSON *spec = body ? cJSON_AddObjectToObject(body, "spec") : NULL;
    if (!d || !(d->path = strdup(path)) || !spec ||
        !cJSON_AddStringToObject(body, "apiVersion", "authentication.k8s.io/v1") ||
        !cJSON_AddStringToObject(body, "kind", "TokenReview") ||
        !cJSON_AddStringToObject(spec, "token", token)) {
        cJSON_Delete(body);
        if (d)
            free(d->path);
        free(d);
        return 500;
    }
    memcpy(d->key, key, KEY_LEN);
    d->done = done;
    d->done_req = req;
    int rc = start_review(a, d, "authentication.k8s.io", "tokenreviews", body, on_token_review);
    /* The request copied the body: the token now lives only there and in the caller. */
    cJSON_Delete(body);
    if (rc != 0) {
        free(d->path);
        free(d);
        warn_limited(a, "metrics authorization failed; answering 503", "TokenReview", 0,
                     strerror(-rc));
        return 503;
    }
    a->stats.token_reviews++;
    d->auth = a;
    d->next = a->pending;
    if (a->pending)
        a->pending->prev = d;
    a->pending = d;
    a->in_flight++;
    *handle = d;
    return 0;
}

void k8s_delegated_auth_cancel(void *data, void *handle)
{
    (void)data;
    decision *d = handle;
    if (!d)
        return;
    /* Its request's callback frees it; cancelling makes that come soon. */
    d->done = NULL;
    if (d->req)
        k8s_request_cancel(d->req);
}

int k8s_delegated_auth_new(k8s_client *client, const k8s_delegated_auth_opts *opts,
                           k8s_delegated_auth **out)
{
    if (!client || !out)
        return -EINVAL;
    *out = NULL;
    k8s_delegated_auth_opts o = opts ? *opts : (k8s_delegated_auth_opts){0};
    k8s_delegated_auth *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->client = client;
    a->loop = k8s_client_loop(client);
    a->verb = strdup(o.verb ? o.verb : "get");
    a->timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : DEFAULT_TIMEOUT_MS;
    a->max_in_flight = o.max_in_flight > 0 ? o.max_in_flight : DEFAULT_MAX_IN_FLIGHT;
    a->cache_size = o.cache_size > 0 ? o.cache_size : DEFAULT_CACHE_SIZE;
    a->cache_ttl_ms = o.cache_ttl_ms > 0 ? o.cache_ttl_ms : DEFAULT_CACHE_TTL_MS;
    a->log = o.log;
    a->cache = calloc((size_t)a->cache_size, sizeof(*a->cache));
    if (!a->verb || !a->cache) {
        k8s_delegated_auth_free(a);
        return -ENOMEM;
    }
    *out = a;
    return 0;
}

void k8s_delegated_auth_free(k8s_delegated_auth *a)
{
    if (!a)
        return;
    /* Orphan the pending decisions: their requests' callbacks free them later. */
    while (a->pending) {
        decision *d = a->pending;
        unlink_decision(d);
        d->done = NULL;
        if (d->req)
            k8s_request_cancel(d->req);
    }
    free(a->cache);
    free(a->verb);
    free(a);
}

void k8s_delegated_auth_get_stats(const k8s_delegated_auth *a, k8s_delegated_auth_stats *out)
{
    if (a && out)
        *out = a->stats;
}
