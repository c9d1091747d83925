/* Typed Kubernetes API errors.
 *
 * Every failed call ends as a k8s_error: an HTTP error body is decoded from its Status object
 * (reason first, HTTP code as fallback), a non-JSON body (priority-and-fairness 429s are plain
 * text) keeps its text as the message, and transport failures (connect, TLS, timeouts) are
 * converted here at the module edge with curl's detail text kept. Callers switch on
 * k8s_error.code and never parse messages.
 *
 * Pure: no I/O, no loop. A k8s_error owns all of its strings; release with k8s_error_clear().
 */
#ifndef K8S_ERROR_H
#define K8S_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef enum k8s_err {
    K8S_OK = 0,
    K8S_ERR_BAD_REQUEST,         /* 400 BadRequest */
    K8S_ERR_UNAUTHORIZED,        /* 401 Unauthorized */
    K8S_ERR_FORBIDDEN,           /* 403 Forbidden */
    K8S_ERR_NOT_FOUND,           /* 404 NotFound */
    K8S_ERR_METHOD_NOT_ALLOWED,  /* 405 MethodNotAllowed */
    K8S_ERR_NOT_ACCEPTABLE,      /* 406 NotAcceptable */
    K8S_ERR_ALREADY_EXISTS,      /* 409 AlreadyExists */
    K8S_ERR_CONFLICT,            /* 409 Conflict (stale resourceVersion, apply conflict) */
    K8S_ERR_EXPIRED,             /* 410 Expired or Gone: too old resourceVersion / continue */
    K8S_ERR_REQUEST_TOO_LARGE,   /* 413 RequestEntityTooLarge */
    K8S_ERR_UNSUPPORTED,         /* 415 UnsupportedMediaType */
    K8S_ERR_INVALID,             /* 422 Invalid; see causes */
    K8S_ERR_TOO_MANY_REQUESTS,   /* 429 TooManyRequests (Status or plain text) */
    K8S_ERR_INTERNAL,            /* 500 InternalError and other unexplained 5xx */
    K8S_ERR_SERVICE_UNAVAILABLE, /* 503 ServiceUnavailable */
    K8S_ERR_SERVER_TIMEOUT,      /* 500 ServerTimeout: the server could not finish in time */
    K8S_ERR_TIMEOUT,             /* 504 Timeout (e.g. ResourceVersionTooLarge), or the client-side
                                  * per-request timeout when http_status == 0 */
    K8S_ERR_TRANSPORT,           /* no HTTP answer: DNS, connect, TLS, reset connection */
    K8S_ERR_CANCELLED,           /* k8s_request_cancel() or client shutdown */
    K8S_ERR_CONFIG,              /* bad or refused configuration (e.g. insecure-skip-tls-verify) */
    K8S_ERR_NOMEM,               /* allocation failure */
    K8S_ERR_DECODE,              /* a 2xx answer whose body is not the JSON we expected */
    K8S_ERR_UNKNOWN              /* any other HTTP error code */
} k8s_err;

/* One entry of Status.details.causes (Invalid, apply Conflict). Strings may be NULL. */
typedef struct k8s_status_cause {
    char *reason; /* e.g. "FieldValueRequired", "FieldManagerConflict" */
    char *message;
    char *field; /* e.g. "spec.replicas", ".spec.x" */
    /* FieldManagerConflict: the field manager that owns field, as named in the message
     * (`conflict with "helm" using v1`); NULL for other causes or when it names none. */
    char *manager;
} k8s_status_cause;

typedef struct k8s_error {
    k8s_err code;
    int http_status;    /* 0 when there was no HTTP answer */
    char *reason;       /* Status.reason as sent, NULL if none */
    char *message;      /* Status.message, plain-text body, or transport detail; never NULL
                         * after a k8s_error_* setter unless allocation failed */
    char *details_name; /* Status.details.name/.group/.kind, NULL if absent */
    char *details_group;
    char *details_kind;
    k8s_status_cause *causes; /* ncauses entries, owned */
    size_t ncauses;
    int retry_after_s; /* details.retryAfterSeconds or the Retry-After header; -1 if none */
} k8s_error;

/* A zeroed error with retry_after_s = -1. */
#define K8S_ERROR_INIT                                                                             \
    {                                                                                              \
        K8S_OK, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, -1                                       \
    }

void k8s_error_init(k8s_error *e);

/* Frees everything e owns and re-initialises it. Idempotent. */
void k8s_error_clear(k8s_error *e);

/* Moves src into dst (dst is cleared first); src is left initialised. */
void k8s_error_move(k8s_error *dst, k8s_error *src);

/* Decodes an HTTP error answer. body may be NULL/empty, a Status object, other JSON, or plain
 * text (kept, trimmed, at most 1 KiB, as the message). retry_after_header is the raw Retry-After
 * header value or NULL (delta-seconds; HTTP dates are treated as 1 s). e is cleared first.
 * Returns 0, or -ENOMEM (e->code is then K8S_ERR_NOMEM). Safe on arbitrary bytes. */
int k8s_error_from_response(k8s_error *e, int http_status, const char *body, size_t len,
                            const char *retry_after_header);

/* Decodes a parsed Status object (as carried by a watch ERROR event; status may be NULL or not a
 * Status). The HTTP code is taken from Status.code. e is cleared first. Returns 0 or -ENOMEM. */
int k8s_error_from_status_json(k8s_error *e, const cJSON *status);

/* Sets a non-HTTP error (transport, cancel, config...) with a copied message. e is cleared
 * first. Returns 0 or -ENOMEM. */
int k8s_error_set(k8s_error *e, k8s_err code, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Status.reason → k8s_err (K8S_ERR_UNKNOWN when unknown or NULL). */
k8s_err k8s_err_from_reason(const char *reason);

/* HTTP status → k8s_err when there is no usable reason (2xx → K8S_OK). */
k8s_err k8s_err_from_http(int http_status);

/* Stable identifier such as "NotFound", "Transport"; never NULL. */
const char *k8s_err_name(k8s_err code);

/* True for failures worth retrying unchanged: 429, InternalError/ServerTimeout (500), 502, 503,
 * 504, transport errors and client-side timeouts. Never other 4xx, cancel, config or decode. */
bool k8s_err_retriable(const k8s_error *e);

/* Server-side apply conflicts (409 Conflict) come as FieldManagerConflict causes, each with
 * the field and the other manager typed (k8s_status_cause.manager): a server that sends only
 * the summary message ("Apply failed with 2 conflicts: conflicts with \"helm\": - .x ...")
 * gets its causes built from it when decoded, so callers never read the text. */
#define K8S_CAUSE_FIELD_MANAGER_CONFLICT "FieldManagerConflict"

/* True when e has a cause with this reason (e.g. "ResourceVersionTooLarge"). */
bool k8s_error_has_cause(const k8s_error *e, const char *reason);

#endif
