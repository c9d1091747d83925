/*
 * Blocking calls for command-line tools: a private loop per client, run until the one request
 * in flight is done. See sync_client.h.
 */
#include "k8s/sync_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <uv.h>

struct k8s_sync_client {
    uv_loop_t loop;
    k8s_client *client;
};

/* The outcome one call's done callback hands back to the blocked caller. */
struct sync_call {
    bool done;
    cJSON *body;
    k8s_error err;
};

int k8s_sync_client_new(k8s_config *cfg, const k8s_client_opts *opts, k8s_sync_client **out)
{
    *out = NULL;
    k8s_sync_client *c = calloc(1, sizeof(*c));
    if (!c) {
        k8s_config_free(cfg);
        return -ENOMEM;
    }
    int rc = uv_loop_init(&c->loop);
    if (rc != 0) {
        k8s_config_free(cfg);
        free(c);
        return rc;
    }
    k8s_client_opts defaults = {0};
    rc = k8s_client_new(&c->loop, cfg, opts ? opts : &defaults, &c->client);
    if (rc != 0) {
        uv_loop_close(&c->loop);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

const k8s_config *k8s_sync_client_config(const k8s_sync_client *c)
{
    return k8s_client_config(c->client);
}

/* Closing is asynchronous: run the loop until the transport's handles are gone. */
void k8s_sync_client_free(k8s_sync_client *c)
{
    if (!c)
        return;
    k8s_client_close(c->client, NULL, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    free(c);
}

static void sync_done(k8s_request *req, k8s_response *res, void *data)
{
    (void)req;
    struct sync_call *call = data;
    call->done = true;
    if (res->err.code == K8S_OK) {
        call->body = res->body; /* keep it past the callback */
        res->body = NULL;
    } else {
        k8s_error_move(&call->err, &res->err);
    }
}

int k8s_sync_call(k8s_sync_client *c, const k8s_request_opts *opts, cJSON **body, k8s_error *err)
{
    *body = NULL;
    struct sync_call call = {.done = false, .body = NULL};
    k8s_error_init(&call.err);
    k8s_request_opts o = *opts;
    o.on_data = NULL;
    o.on_done = sync_done;
    o.data = &call;
    int rc = k8s_request_start(c->client, &o, NULL);
    if (rc != 0)
        return rc;
    /* The done callback runs exactly once, so this loop ends; UV_RUN_ONCE keeps other handles
     * (the transport's timers) from holding it open after that. */
    while (!call.done)
        uv_run(&c->loop, UV_RUN_ONCE);
    if (call.err.code != K8S_OK) {
        k8s_error_move(err, &call.err);
        return -EIO;
    }
    *body = call.body;
    return 0;
}

int k8s_sync_get(k8s_sync_client *c, const k8s_resource_ref *ref, const char *label_selector,
                 cJSON **body, k8s_error *err)
{
    k8s_request_opts o = {0};
    o.verb = ref->name ? K8S_VERB_GET : K8S_VERB_LIST;
    o.ref = *ref;
    o.label_selector = label_selector;
    return k8s_sync_call(c, &o, body, err);
}
