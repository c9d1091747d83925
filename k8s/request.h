/* One Kubernetes API call: path and query building, auth, client-side rate limiting, retries
 * and typed errors on top of k8s/http.h.
 *
 * A k8s_client owns the config, the transport and the rate limiter. Each k8s_request_start()
 * runs one logical call that may take several attempts:
 *   - 429 and 503 wait Retry-After (or details.retryAfterSeconds) when given, else back off;
 *   - other retriable failures (500, 502, 504, connection errors, client timeouts) back off
 *     with capped, jittered exponential delays (k8s/backoff.h);
 *   - a 401 with a token file re-reads the token once and retries;
 *   - attempts are bounded (max_attempts);
 *   - a streaming request (on_data set) is only retried before a 2xx answer arrived.
 * The done callback always runs on a later loop turn, never inside k8s_request_start(), and
 * exactly once.
 *
 * Callback context: on_data runs inside the transport's receive path; on_done from a libuv
 * callback. From either one may start, cancel or close anything (work is deferred).
 */
#ifndef K8S_REQUEST_H
#define K8S_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "k8s/backoff.h"
#include "k8s/config.h"
#include "k8s/error.h"
#include "k8s/http.h"
#include "k8s/log.h"
#include "k8s/metrics.h"

typedef struct k8s_client k8s_client;
typedef struct k8s_request k8s_request;

/* ---- paths ------------------------------------------------------------------------------ */

/* Names a resource, a collection or a subresource. All strings borrowed. */
typedef struct k8s_resource_ref {
    const char *group;       /* NULL or "" for the core group (/api/v1) */
    const char *version;     /* "v1" */
    const char *resource;    /* plural, e.g. "configmaps" */
    const char *namespace;   /* NULL: cluster-scoped, or all namespaces for a collection */
    const char *name;        /* NULL: the collection */
    const char *subresource; /* "status", NULL */
} k8s_resource_ref;

/* Writes "/api/v1/namespaces/ns/configmaps/name/status"-style paths (components are
 * percent-encoded). Returns the length written (excluding NUL), -EINVAL when version or
 * resource is missing or a subresource is given without a name, -ENAMETOOLONG if len is too
 * small. */
int k8s_path_build(char *buf, size_t len, const k8s_resource_ref *ref);

/* ---- client ----------------------------------------------------------------------------- */

typedef struct k8s_client_opts {
    double qps;             /* client-side rate; 0: 5; < 0: unlimited */
    int burst;              /* 0: 10 */
    int max_attempts;       /* per call, including the first; 0: 10 */
    k8s_backoff_opts retry; /* retry backoff; zeroes: 200 ms doubling, cap 10 s, jitter 0.5 */
    long timeout_ms;        /* per attempt for non-streaming calls; 0: 30000 */
    k8s_http_opts http;     /* transport options */
    /* Non-streaming calls in flight at once; more wait in order (after their rate-limit
     * token). Bounds memory and connections when a caller queues thousands of calls; streams
     * (watches) are not counted. 0: 16. */
    int max_in_flight;
    /* Optional, borrowed, must outlive the client. With metrics (standard families registered)
     * every attempt is counted in rest_client_requests_total{code,method,host} and timed in
     * rest_client_request_duration_seconds{verb,host}; with log, failures are logged (below). */
    k8s_metrics *metrics;
    k8s_log *log;
} k8s_client_opts;

/*
 * Failures worth an operator's attention, each logged at warn with its cause, at most once per
 * K8S_FAILURE_LOG_INTERVAL_MS per class (the line after a quiet spell says how many were left
 * out), so that a storm of one kind cannot flood the log nor hide another kind. 404, 409, 410
 * and 422 are ordinary answers for a controller and are not failures here.
 */
typedef enum k8s_failure_class {
    K8S_FAILURE_TLS,          /* TLS handshake: unknown CA, wrong SAN, bad client certificate */
    K8S_FAILURE_TRANSPORT,    /* no answer: DNS, connect, reset, oversized response */
    K8S_FAILURE_TIMEOUT,      /* the client's own timeout */
    K8S_FAILURE_AUTH,         /* 401 Unauthorized, 403 Forbidden */
    K8S_FAILURE_THROTTLED,    /* 429 Too Many Requests */
    K8S_FAILURE_SERVER,       /* 5xx */
    K8S_FAILURE_WATCH_STREAM, /* a malformed or oversized watch stream (k8s/watch.c) */
    K8S_FAILURE_NCLASSES
} k8s_failure_class;

#define K8S_FAILURE_LOG_INTERVAL_MS 10000u

/* "tls", "transport", ...: the class's name in logs and in /readyz. */
const char *k8s_failure_class_name(k8s_failure_class cls);

/* Creates a client on loop. Takes ownership of cfg in every case (freed on failure too).
 * Returns 0, -EINVAL (no server), -ENOMEM or -EIO. */
int k8s_client_new(uv_loop_t *loop, k8s_config *cfg, const k8s_client_opts *opts, k8s_client **out);

/* Cancels every request (done callbacks run with K8S_ERR_CANCELLED), closes the transport and
 * frees the client; cb (may be NULL) runs when everything is closed. */
void k8s_client_close(k8s_client *c, void (*cb)(void *data), void *data);

/* Borrowed; valid until k8s_client_close(). The token fields are managed by the client. */
const k8s_config *k8s_client_config(const k8s_client *c);

/*
 * Records a failure of class cls: logged (rate-limited, see k8s_failure_class) with the verb
 * ("GET"), the target (a URL path or a resource), the HTTP status (0: none) and the cause
 * (curl's text, the Status message, the parser's error), and kept as the client's last failure.
 */
void k8s_client_report_failure(k8s_client *c, k8s_failure_class cls, const char *verb,
                               const char *target, int http_status, const char *cause);

/*
 * Writes the last failure, with its age, as one line into buf ("403 Forbidden ... 3s ago").
 * Returns 1 when there was one, else 0 (buf then holds ""). For /readyz's body.
 */
int k8s_client_last_failure(const k8s_client *c, char *buf, size_t size);

/* The opts' metrics registry and logger (NULL when not given), for the watchers on c. */
k8s_metrics *k8s_client_metrics(const k8s_client *c);
uv_loop_t *k8s_client_loop(const k8s_client *c);
void k8s_client_http_stats(const k8s_client *c, k8s_http_stats *out);

/* ---- requests --------------------------------------------------------------------------- */

typedef enum k8s_verb {
    K8S_VERB_GET,    /* GET one object (or a subresource) */
    K8S_VERB_LIST,   /* GET a collection, with selectors, limit/continue */
    K8S_VERB_WATCH,  /* GET a collection with watch=true; use on_data */
    K8S_VERB_CREATE, /* POST to the collection */
    K8S_VERB_UPDATE, /* PUT the object (or its status with subresource "status") */
    K8S_VERB_PATCH,  /* PATCH with patch_type */
    K8S_VERB_DELETE  /* DELETE with DeleteOptions */
} k8s_verb;

typedef enum k8s_patch_type {
    K8S_PATCH_MERGE,    /* application/merge-patch+json */
    K8S_PATCH_JSON,     /* application/json-patch+json (body is an array) */
    K8S_PATCH_APPLY,    /* application/apply-patch+yaml (server-side apply, JSON body);
                         * needs field_manager */
    K8S_PATCH_STRATEGIC /* application/strategic-merge-patch+json (built-ins only) */
} k8s_patch_type;

/* What a finished call produced; passed to on_done and valid only during it. */
typedef struct k8s_response {
    k8s_error err;     /* err.code == K8S_OK on success; otherwise the last attempt's error */
    int http_status;   /* last attempt's HTTP status, 0 if none */
    cJSON *body;       /* parsed 2xx JSON body (object, list or Status), NULL when streamed or
                        * empty. Owned by the response: to keep it, store the pointer and set
                        * res->body = NULL before returning. */
    int attempts;      /* attempts made */
    long http_version; /* 11, 20, ... of the last attempt */
} k8s_response;

/* req is freed after on_done returns. */
typedef void (*k8s_request_done_cb)(k8s_request *req, k8s_response *res, void *data);
/* 2xx body bytes of a streaming call in arbitrary chunks; buf borrowed for the call. */
typedef void (*k8s_request_data_cb)(k8s_request *req, const char *buf, size_t len, void *data);

/* All pointers are borrowed during k8s_request_start() only (everything is copied). Unused
 * fields stay zero. */
typedef struct k8s_request_opts {
    k8s_verb verb;
    k8s_resource_ref ref;
    const cJSON *body; /* CREATE/UPDATE/PATCH body, or DeleteOptions for DELETE */
    /* UPDATE: precondition, written into a copy of body's metadata.resourceVersion.
     * GET/LIST/WATCH: the resourceVersion query parameter. */
    const char *resource_version;
    /* PATCH */
    k8s_patch_type patch_type;
    const char *field_manager; /* fieldManager query parameter (required for APPLY) */
    bool force;                /* APPLY: take over conflicting fields */
    /* LIST / WATCH */
    const char *label_selector;
    const char *field_selector;
    const char *resource_version_match; /* "NotOlderThan", "Exact" */
    const char *continue_token;
    long limit;                 /* 0: no limit */
    bool allow_watch_bookmarks; /* WATCH */
    long timeout_seconds;       /* WATCH/LIST: server-side timeoutSeconds, 0: unset */
    bool send_initial_events;   /* WATCH */
    /* DELETE (ignored when body is given) */
    const char *propagation_policy; /* "Background", "Foreground", "Orphan" */
    const char *precondition_uid;
    const char *precondition_resource_version;
    long grace_period_seconds; /* < 0 or 0 with has_grace_period false: unset */
    bool has_grace_period;
    /* any verb */
    const char *dry_run;         /* "All" or NULL */
    long timeout_ms;             /* per attempt; 0: client default (none for streams) */
    int max_attempts;            /* 0: client default; 1: no retries */
    k8s_request_data_cb on_data; /* set for WATCH or to stream any large GET */
    k8s_request_done_cb on_done; /* required */
    void *data;
    long idle_timeout_s; /* see k8s_http_req_opts.idle_timeout_s; 0: off */
    /* Neither rate-limited nor queued behind max_in_flight: for leader election, whose
     * renewals must not wait behind a reconcile's backlog (client-go gives it its own client
     * for the same reason). */
    bool exempt;
    /* Rate-limited by a second token bucket of the client (the same qps and burst), not the
     * one every other call shares: for Events, which controller-runtime sends through a client
     * of their own, so that a burst of them never delays the writes they report. */
    bool events_budget;
    /* Cap on a buffered answer's body (see k8s_http_req_opts.max_body); 0: the transport's
     * default. For calls whose answers are small and come from a path an attacker can drive. */
    size_t max_body;
} k8s_request_opts;

/* Starts a call. *out (may be NULL) is valid until on_done returns. Returns 0 — every failure
 * after that, including invalid options detected later, is reported through on_done on a later
 * loop turn — or -EINVAL (c, opts or on_done missing) / -ENOMEM / -ESHUTDOWN (client closing),
 * in which case on_done is never called. */
int k8s_request_start(k8s_client *c, const k8s_request_opts *opts, k8s_request **out);

/* Stops the call: on_done runs on a later loop turn with K8S_ERR_CANCELLED. Idempotent; safe
 * from any callback until on_done has returned. */
void k8s_request_cancel(k8s_request *req);

void *k8s_request_data(const k8s_request *req);

/* The full URL k8s_request_start() would use for opts against server ("https://h:p"), for
 * tests and logs. *out is malloc'd and owned by the caller. Returns 0, -EINVAL, -ENOMEM. */
int k8s_request_url(const char *server, const k8s_request_opts *opts, char **out);

#endif
