/*
 * Helpers for the k8s/ transport integration tests (run under tests/support/with-apiserver):
 * a config from $KUBECONFIG, a client, one call run to completion on the loop with its outcome
 * copied out, bounded loop runs, and blocking calls to the server's fault-injection endpoint.
 */
#ifndef K8S_TRANSPORT_ITEST_H
#define K8S_TRANSPORT_ITEST_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "k8s/request.h"

typedef struct it_result {
    bool done;
    bool inside_start; /* on_done ran inside k8s_request_start (must never happen) */
    k8s_err code;
    int http_status;
    int attempts;
    long http_version;
    char *message;
    char *reason;
    char *details_name;
    cJSON *body; /* taken from the response */
} it_result;

k8s_config *it_config(void);
k8s_client *it_client(uv_loop_t *loop, k8s_config *cfg, const k8s_client_opts *opts);
/* Closes c, runs the loop until closed, asserts the loop has no handle left. */
void it_close(uv_loop_t *loop, k8s_client *c);

/* Starts o (on_done/data are set here) and runs the loop until done (fails after 60 s). */
void it_call(uv_loop_t *loop, k8s_client *c, k8s_request_opts o, it_result *r);
void it_result_clear(it_result *r);

/* The on_done used by it_call, for callers that start requests themselves (data = it_result). */
void it_on_done(k8s_request *req, k8s_response *res, void *data);

/* Runs loop until *flag or timeout_ms; returns *flag. */
bool it_run_until(uv_loop_t *loop, const bool *flag, uint64_t timeout_ms);

/* POST $MC_APISERVER_CONTROL<path> with JSON; fails the test unless it answers 2xx. */
void it_control(const char *path, const char *json);

/* Parses JSON text (test fixtures); fails the test on error. Caller frees. */
cJSON *it_json(const char *text);

/* obj at a dotted path ("metadata.resourceVersion") as a string, or NULL. */
const char *it_str(const cJSON *obj, const char *dotted);

#endif
