/*
 * A blocking front for one-shot command-line tools: each call runs k8s_request_start() on a
 * private libuv loop until its done callback fires, then returns the body. Built only on the
 * public k8s/request API, so retries, auth, token re-reads and typed errors are the daemon's.
 * Not for daemons (it blocks the caller's thread); one k8s_sync_client per thread.
 */
#ifndef K8S_SYNC_CLIENT_H
#define K8S_SYNC_CLIENT_H

#include <cjson/cJSON.h>

#include "k8s/config.h"
#include "k8s/error.h"
#include "k8s/request.h"

typedef struct k8s_sync_client k8s_sync_client;

/* Takes ownership of cfg in every case. opts may be NULL (client defaults). Returns 0,
 * -ENOMEM, or k8s_client_new's error. */
int k8s_sync_client_new(k8s_config *cfg, const k8s_client_opts *opts, k8s_sync_client **out);

/* The configuration in use (borrowed; valid until k8s_sync_client_free): its context names the
 * cluster for messages even when the server cannot be reached. */
const k8s_config *k8s_sync_client_config(const k8s_sync_client *c);

/* Closes the client and runs its loop until everything is released. NULL is a no-op. */
void k8s_sync_client_free(k8s_sync_client *c);

/*
 * Runs one request (opts->on_done, on_data and data are ignored) to completion. On success
 * returns 0 and *body (may be NULL when the answer was empty) is owned by the caller. On
 * failure returns -EIO with *err filled (caller clears it; err->code K8S_ERR_NOT_FOUND for a
 * 404), or -ENOMEM / -EINVAL when the request could not start.
 */
int k8s_sync_call(k8s_sync_client *c, const k8s_request_opts *opts, cJSON **body, k8s_error *err);

/* A GET of one object (ref->name set) or a LIST (ref->name NULL) with an optional label
 * selector; the same returns as k8s_sync_call. */
int k8s_sync_get(k8s_sync_client *c, const k8s_resource_ref *ref, const char *label_selector,
                 cJSON **body, k8s_error *err);

#endif
