/*
 * Delegated authentication and authorization of an HTTP endpoint by the API server, as
 * controller-runtime's filters.WithAuthenticationAndAuthorization and kube-rbac-proxy do it:
 *
 *   1. the request's bearer token goes to a TokenReview (authentication.k8s.io/v1): no token,
 *      or a token the API server does not authenticate, is 401;
 *   2. the user it names (username, uid, groups, extra) goes to a SubjectAccessReview
 *      (authorization.k8s.io/v1) with nonResourceAttributes {path, verb}: not allowed is 403;
 *   3. allowed is 200. A review that fails (transport, timeout, a 4xx/5xx answer such as a
 *      403 because our own ServiceAccount may not create reviews) is 503, logged at warn
 *      with the cause; it is never cached.
 *
 * Verdicts (200, 401, 403) are cached for cache_ttl_ms, keyed by a SHA-256 of the token and
 * the path (the token itself is neither kept nor logged), in a bounded table that drops the
 * oldest entry when full. At most max_in_flight decisions wait for the API server at once;
 * more are answered 503 at once rather than queued, so a flood of made-up tokens costs the API
 * server a bounded number of reviews and the daemon a bounded amount of memory.
 *
 * The reviews go through the caller's k8s_client (its credentials: the ServiceAccount needs
 * create on tokenreviews and subjectaccessreviews) as exempt requests: a scrape must not wait
 * behind a reconcile backlog in the client's rate limiter, and the in-flight bound above is
 * what limits them instead.
 *
 * k8s_delegated_auth_authorize() and _cancel() have the shape of k8s_obs_authorize_fn and
 * k8s_obs_auth_cancel_fn: pass the object as authorize_data to k8s/obs_server.h. Everything
 * runs on the client's loop thread.
 */
#ifndef K8S_DELEGATED_AUTH_H
#define K8S_DELEGATED_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "k8s/log.h"
#include "k8s/obs_server.h"
#include "k8s/request.h"

typedef struct k8s_delegated_auth k8s_delegated_auth;

typedef struct k8s_delegated_auth_opts {
    const char *verb;  /* the SubjectAccessReview's verb; NULL: "get" */
    long timeout_ms;   /* per review; 0: 4000 (two reviews stay inside K8S_OBS_AUTH_TIMEOUT_S) */
    int max_in_flight; /* decisions waiting for the API server; 0: 8 */
    int cache_size;    /* cached verdicts; 0: 256 */
    long cache_ttl_ms; /* 0: 10000 */
    k8s_log *log;      /* borrowed, may be NULL */
} k8s_delegated_auth_opts;

/* Tokens longer than this are refused (401) without a review: real ones are a few KB. */
#define K8S_DELEGATED_AUTH_MAX_TOKEN 4096

/* Creates the authorizer on client (borrowed; must outlive it). Returns 0, -EINVAL, -ENOMEM. */
int k8s_delegated_auth_new(k8s_client *client, const k8s_delegated_auth_opts *opts,
                           k8s_delegated_auth **out);

/*
 * Frees the authorizer. Pending decisions are cancelled (their done is never called); their
 * API requests finish on their own later and free what is left. NULL is a no-op.
 */
void k8s_delegated_auth_free(k8s_delegated_auth *a);

/* k8s_obs_authorize_fn over a k8s_delegated_auth (data). */
int k8s_delegated_auth_authorize(void *data, const char *token, const char *path,
                                 k8s_obs_auth_done_fn done, void *req, void **handle);

/* k8s_obs_auth_cancel_fn: withdraws a pending decision; done will not be called. */
void k8s_delegated_auth_cancel(void *data, void *handle);

/* Reviews made (both kinds), decisions served from the cache: for tests and benchmarks. */
typedef struct k8s_delegated_auth_stats {
    unsigned long token_reviews;
    unsigned long access_reviews;
    unsigned long cache_hits;
    unsigned long rejected_busy;
} k8s_delegated_auth_stats;

void k8s_delegated_auth_get_stats(const k8s_delegated_auth *a, k8s_delegated_auth_stats *out);

/* ---- the review answers' parsers (untrusted bytes from the network: fuzzed) ---------------- */

/* What a TokenReview's status says. */
typedef struct k8s_token_review_result {
    bool authenticated;
    /*
     * When authenticated: the user as a SubjectAccessReview spec wants it, a new object
     * {"user": s, "uid": s, "groups": [s...], "extra": {k: [s...]}} with only the fields the
     * review gave, each checked for type and size. Owned by the caller (cJSON_Delete).
     */
    cJSON *user;
    char error[256]; /* status.error or why the answer was refused, "" when none */
} k8s_token_review_result;

/*
 * Reads a TokenReview answer. Returns 0 (out filled; authenticated false is an ordinary
 * answer) or -EBADMSG when body is not a TokenReview status this code can trust (authenticated
 * but no username, wrong types, oversized lists), with the reason in out->error.
 */
int k8s_token_review_parse(const cJSON *body, k8s_token_review_result *out);

/*
 * Reads a SubjectAccessReview answer: *allowed is true only for status.allowed == true and
 * status.denied != true. reason (may be NULL) gets status.reason or evaluationError.
 * Returns 0 or -EBADMSG (not a SubjectAccessReview status).
 */
int k8s_access_review_parse(const cJSON *body, bool *allowed, char *reason, size_t size);

#endif
