/*
 * Helpers for the k8s_watch integration tests, which run under tests/support/with-apiserver:
 * a client for $KUBECONFIG, blocking calls to the fault-injection endpoint, synchronous API
 * calls that keep the loop (and so every informer on it) running, and bounded waits.
 */
#ifndef K8S_WATCH_ITEST_H
#define K8S_WATCH_ITEST_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "k8s/request.h"

/* A client on loop for $KUBECONFIG with client-side rate limiting off; fails the test if not. */
k8s_client *itest_client(uv_loop_t *loop);

/* Closes the client, runs the loop until everything is closed, and closes the loop. */
void itest_close(uv_loop_t *loop, k8s_client *c);

/* POST $MC_APISERVER_CONTROL/<path> with a JSON body (may be NULL); fails the test unless 200. */
void itest_control(const char *path, const char *json);

/* GET $MC_APISERVER_CONTROL/requests, parsed. Caller frees. */
cJSON *itest_requests(void);

/*
 * Counts logged GETs whose path contains path_part and whose query contains query_part (may be
 * NULL): lists (without watch) or watches.
 */
int itest_count_requests(const char *path_part, const char *query_part, bool watches);

/* The same for any method ("POST"); watches < 0 counts watches and the rest alike. */
int itest_count_method(const char *method, const char *path_part, const char *query_part,
                       int watches);

/* Runs one call to completion on loop. Returns its k8s_err; *body (may be NULL) gets the parsed
 * body, owned by the caller. */
int itest_call(uv_loop_t *loop, k8s_client *c, k8s_request_opts *o, cJSON **body);

/* Runs loop until pred(ctx) is true or timeout_ms passed; returns pred's last value. */
bool itest_wait(uv_loop_t *loop, bool (*pred)(void *ctx), void *ctx, uint64_t timeout_ms);

/* Runs loop for ms milliseconds. */
void itest_sleep(uv_loop_t *loop, uint64_t ms);

#endif
