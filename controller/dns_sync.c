/*
 * Cluster DNS for the tailnet, the reconciler's part; see dns_sync.h. A round is a chain:
 *   DNSConfig: GET, then apply when missing or different (delete when no longer wanted and ours)
 *   coredns-custom: GET; when it exists, our key is applied (or withdrawn) with server-side apply
 *   else coredns: GET, edit the Corefile between our markers, PUT guarded by resourceVersion
 * and ends in one enum mc_dns_state.
 */
#include "controller/dns_sync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/conflict.h"
#include "controller/corefile.h"
#include "controller/desired.h"
#include "controller/subset.h"

#define DETAIL_LEN 320

struct mc_dns_sync {
    k8s_client *client;
    uv_timer_t timer;
    struct mc_dns_sync_opts o;
    char ns[64];
    /* What is wanted (zone NULL: remove), as the last mc_dns_sync_want said. */
    bool active;
    char *zone;
    cJSON *dns_config;
    char *want_text; /* zone + body, to see a change */
    /* The round in flight. */
    k8s_request *req;
    bool running, again;
    char ip[64]; /* the nameserver IP this round read ("" none) */
    bool forced; /* this round's coredns-custom apply was sent again with force */
    enum mc_dns_state state;
    char detail[DETAIL_LEN];
    /* Closing: cb once the timer is closed and no request is in flight. */
    bool closing, timer_closed;
    bool timer_inited; /* on first use: a daemon that never manages DNS has no handle */
    /* A managed zone was wanted in this process's life, or the startup look found our
     * DNSConfig from an earlier one: only then is there anything of ours to keep or remove.
     * Without it an install that never manages DNS would read kube-system forever. */
    bool ever_managed;
    bool looked; /* the startup look (one GET of the DNSConfig) is done */
    void (*close_cb)(void *data);
    void *close_data;
};

static void round_start(mc_dns_sync *s);
static void coredns_start(mc_dns_sync *s);

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void sync_free(mc_dns_sync *s)
{
    free(s->zone);
    free(s->want_text);
    cJSON_Delete(s->dns_config);
    free(s);
}

static void maybe_closed(mc_dns_sync *s)
{
    if (!s->closing || !s->timer_closed || s->req)
        return;
    void (*cb)(void *) = s->close_cb;
    void *data = s->close_data;
    sync_free(s);
    if (cb)
        cb(data);
}

static void on_timer_closed(uv_handle_t *h)
{
    mc_dns_sync *s = h->data;
    s->timer_closed = true;
    maybe_closed(s);
}

static void on_timer(uv_timer_t *t)
{
    mc_dns_sync *s = t->data;
    if (!s->running)
        round_start(s);
}

int mc_dns_sync_new(k8s_client *c, const struct mc_dns_sync_opts *o, mc_dns_sync **out)
{
    mc_dns_sync *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->client = c;
    s->o = *o;
    if (!s->o.interval_ms)
        s->o.interval_ms = 30000;
    if (!s->o.retry_ms)
        s->o.retry_ms = 2000;
    snprintf(s->ns, sizeof(s->ns), "%s", o->namespace_ ? o->namespace_ : MC_DNS_NAMESPACE);
    s->o.namespace_ = s->ns;
    *out = s;
    return 0;
}

void mc_dns_sync_free(mc_dns_sync *s)
{
    if (s && !s->timer_inited) /* with a handle open only mc_dns_sync_close may end it */
        sync_free(s);
}

void mc_dns_sync_close(mc_dns_sync *s, void (*cb)(void *data), void *data)
{
    s->closing = true;
    s->close_cb = cb;
    s->close_data = data;
    if (s->req)
        k8s_request_cancel(s->req);
    if (!s->timer_inited) { /* so that cb still runs on a later loop turn */
        uv_timer_init(k8s_client_loop(s->client), &s->timer);
        s->timer.data = s;
    }
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

enum mc_dns_state mc_dns_sync_state(const mc_dns_sync *s, const char **detail)
{
    if (detail)
        *detail = s->detail;
    return s->state;
}

int mc_dns_sync_want(mc_dns_sync *s, bool active, const char *zone, const cJSON *dns_config)
{
    char *body = dns_config ? cJSON_PrintUnformatted(dns_config) : NULL;
    size_t n = (zone ? strlen(zone) : 0) + (body ? strlen(body) : 0) + 4;
    char *text = malloc(n);
    if (!text || (dns_config && !body)) {
        free(body);
        free(text);
        return -ENOMEM;
    }
    snprintf(text, n, "%s|%s", zone ? zone : "", body ? body : "");
    free(body);
    bool changed = !s->want_text || strcmp(text, s->want_text) != 0 || active != s->active;
    if (!changed) {
        free(text);
        return 0;
    }
    free(s->want_text);
    s->want_text = text;
    free(s->zone);
    cJSON_Delete(s->dns_config);
    s->zone = zone ? strdup(zone) : NULL;
    s->dns_config = dns_config ? cJSON_Duplicate(dns_config, 1) : NULL;
    s->active = active;
    if ((zone && !s->zone) || (dns_config && !s->dns_config))
        return -ENOMEM;
    s->ever_managed |= zone != NULL;
    if (!s->ever_managed && (s->looked || !active))
        return 0;
    if (!s->timer_inited) {
        uv_timer_init(k8s_client_loop(s->client), &s->timer);
        s->timer.data = s;
        s->timer_inited = true;
    }
    if (!active)
        uv_timer_stop(&s->timer);
    if (s->running)
        s->again = true;
    else if (active)
        round_start(s);
    return 0;
}

/* ---- outcome -------------------------------------------------------------------------------- */

/* Ends the round with state (detail may be NULL), telling the reconciler when it moved, and
 * schedules the next: soon while something is pending or failing, else after interval_ms. */
static void round_end(mc_dns_sync *s, enum mc_dns_state state, const char *detail)
{
    s->running = false;
    if (s->closing)
        return;
    char d[DETAIL_LEN]; /* detail may be s->detail itself (a round that changed nothing) */
    snprintf(d, sizeof(d), "%s", detail ? detail : "");
    bool moved = state != s->state || strcmp(d, s->detail) != 0;
    s->state = state;
    memcpy(s->detail, d, sizeof(d));
    if (moved && s->o.log) /* once per change: a retry every retry_ms must not flood */
        k8s_log_write(
            s->o.log,
            state == MC_DNS_CONFIGURED || state == MC_DNS_UNCHECKED ? K8S_LOG_INFO : K8S_LOG_WARN,
            "cluster DNS", "state", mc_dns_state_name(state), "detail", s->detail, (const char *)0);
    if (moved && s->o.on_change)
        s->o.on_change(s->o.data);
    if (s->again && s->active) {
        s->again = false;
        round_start(s);
        return;
    }
    bool settled = state == MC_DNS_CONFIGURED || (!s->zone && state == MC_DNS_UNCHECKED);
    if (s->active)
        uv_timer_start(&s->timer, on_timer, settled ? s->o.interval_ms : s->o.retry_ms, 0);
}

static void round_fail(mc_dns_sync *s, enum mc_dns_state state, const char *what,
                       const k8s_response *res)
{
    char d[DETAIL_LEN];
    snprintf(d, sizeof(d), "%s: HTTP %d %s", what, res->http_status,
             res->err.message && res->err.message[0] ? res->err.message
                                                     : k8s_err_name(res->err.code));
    /* Removing: nothing is reported (no MeshCluster has DNSReady), only retried. */
    round_end(s, s->zone ? state : MC_DNS_WRITE_FAILED, d);
}

/* Starts a request for step; on failure to start the round ends as failed. */
static void req_send(mc_dns_sync *s, k8s_request_opts *ro, k8s_request_done_cb cb)
{
    ro->on_done = cb;
    ro->data = s;
    ro->max_attempts = 2;
    if (k8s_request_start(s->client, ro, &s->req) != 0) {
        s->req = NULL;
        round_end(s, MC_DNS_WRITE_FAILED, "cannot start a request");
    }
}

/* The request just done; false when the round must stop here (closing, cancelled). */
static bool done(mc_dns_sync *s, const k8s_response *res)
{
    s->req = NULL;
    if (s->closing || res->err.code == K8S_ERR_CANCELLED) {
        s->running = false;
        maybe_closed(s);
        return false;
    }
    return true;
}

static k8s_resource_ref dnsconfig_ref(void)
{
    return (k8s_resource_ref){.group = "tailscale.com",
                              .version = "v1alpha1",
                              .resource = "dnsconfigs",
                              .name = MC_DNSCONFIG_NAME};
}

static k8s_resource_ref cm_ref(const mc_dns_sync *s, const char *name)
{
    return (k8s_resource_ref){
        .version = "v1", .resource = "configmaps", .namespace = s->ns, .name = name};
}

/* ---- step 1: the DNSConfig --------------------------------------------------------------------
 */

static void on_dnsconfig_written(k8s_request *req, k8s_response *res, void *data)
{
    (void)req;
    mc_dns_sync *s = data;
    if (!done(s, res))
        return;
    if (res->err.code != K8S_OK && res->err.code != K8S_ERR_NOT_FOUND) {
        round_fail(s, MC_DNS_DNSCONFIG_FAILED, s->zone ? "apply DNSConfig" : "delete DNSConfig",
                   res);
        return;
    }
    const char *ip = s->zone ? mc_dns_nameserver_ip(res->body) : NULL;
    snprintf(s->ip, sizeof(s->ip), "%s", ip ? ip : "");
    coredns_start(s);
}

static bool labelled_ours(const cJSON *obj)
{
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(labels, MC_LABEL_MANAGED_BY);
    return cJSON_IsString(by) && strcmp(by->valuestring, MC_FIELD_MANAGER) == 0;
}

/*
 * The startup look, made once by a controller that has not been asked to manage DNS: a
 * DNSConfig labelled ours means an earlier run managed DNS and its MeshCluster went while no
 * controller ran, so this round goes on and removes what is ours (true). Anything else (none,
 * not ours, cannot read) ends it quietly, for good (false).
 */
static bool startup_look(mc_dns_sync *s, const cJSON *dnsconfig)
{
    s->looked = true;
    if (dnsconfig && labelled_ours(dnsconfig)) {
        s->ever_managed = true;
        return true;
    }
    s->running = false;
    if (s->again && s->active && s->ever_managed) { /* a want came meanwhile */
        s->again = false;
        round_start(s);
    }
    return false;
}

/* The DNSConfig as read: applied when wanted and not as wanted, deleted when not wanted and
 * carrying our label (one a person made by hand stays: it was never ours). */
static void on_dnsconfig_read(k8s_request *req, k8s_response *res, void *data)
{
    (void)req;
    mc_dns_sync *s = data;
    if (!done(s, res))
        return;
    bool found = res->err.code == K8S_OK;
    if (!s->ever_managed && !startup_look(s, found ? res->body : NULL))
        return;
    if (!found && res->err.code != K8S_ERR_NOT_FOUND) {
        round_fail(s, MC_DNS_DNSCONFIG_FAILED, "read DNSConfig", res);
        return;
    }
    k8s_request_opts ro = {.ref = dnsconfig_ref()};
    if (s->zone && (!found || !mc_subset(s->dns_config, res->body))) {
        ro.verb = K8S_VERB_PATCH;
        ro.patch_type = K8S_PATCH_APPLY;
        ro.field_manager = MC_FIELD_MANAGER;
        ro.body = s->dns_config;
        req_send(s, &ro, on_dnsconfig_written);
        return;
    }
    if (!s->zone && found && labelled_ours(res->body)) {
        ro.verb = K8S_VERB_DELETE;
        req_send(s, &ro, on_dnsconfig_written);
        return;
    }
    const char *ip = s->zone && found ? mc_dns_nameserver_ip(res->body) : NULL;
    snprintf(s->ip, sizeof(s->ip), "%s", ip ? ip : "");
    coredns_start(s);
}

static void round_start(mc_dns_sync *s)
{
    if (s->closing || !s->active)
        return;
    s->running = true;
    s->forced = false;
    s->ip[0] = '\0';
    k8s_request_opts ro = {.verb = K8S_VERB_GET, .ref = dnsconfig_ref()};
    req_send(s, &ro, on_dnsconfig_read);
}

/* ---- step 2: coredns-custom, when the distribution imports it ------------------------------- */

static void custom_apply(mc_dns_sync *s, const cJSON *have);

static void on_cm_written(k8s_request *req, k8s_response *res, void *data)
{
    (void)req;
    mc_dns_sync *s = data;
    if (!done(s, res))
        return;
    if (res->err.code == K8S_ERR_CONFLICT && !mc_conflicts_any(&res->err)) {
        /* The Corefile moved under our edit (optimistic concurrency): read it again now. */
        s->again = true;
        round_end(s, s->state, s->detail);
        return;
    }
    /* Our key changed by a person through kubectl is drift, taken back as phase 1 takes back
     * kubectl edits of our objects; another controller's value is a conflict, never forced. */
    if (res->err.code == K8S_ERR_CONFLICT && !s->forced &&
        mc_conflicts_only_with_kubectl(&res->err)) {
        s->forced = true;
        custom_apply(s, NULL);
        return;
    }
    if (res->err.code == K8S_ERR_CONFLICT) {
        round_fail(s, MC_DNS_COREFILE_CONFLICT, "coredns-custom key " MC_DNS_CUSTOM_KEY, res);
        return;
    }
    if (res->err.code != K8S_OK) {
        round_fail(s, MC_DNS_WRITE_FAILED, "write CoreDNS ConfigMap", res);
        return;
    }
    round_end(s, s->zone ? MC_DNS_CONFIGURED : MC_DNS_UNCHECKED, s->zone ? s->zone : NULL);
}

/* Our key of coredns-custom, applied alone: server-side apply makes us its only owner and
 * leaves every other key (the distribution's, the user's) to theirs; applying without it
 * withdraws it. have: the ConfigMap as read, NULL to send without comparing (the forced retry). */
static void custom_apply(mc_dns_sync *s, const cJSON *have)
{
    char block[512];
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(have, "data");
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(data, MC_DNS_CUSTOM_KEY);
    int n = s->zone ? mc_dns_server_block(s->zone, s->ip, block, sizeof(block)) : 0;
    if (n < 0 || (size_t)n >= sizeof(block)) {
        round_end(s, MC_DNS_NAMESERVER_PENDING, "the nameserver is not an IP address");
        return;
    }
    if (have && (s->zone ? cJSON_IsString(cur) && strcmp(cur->valuestring, block) == 0 : !cur)) {
        round_end(s, s->zone ? MC_DNS_CONFIGURED : MC_DNS_UNCHECKED, s->zone);
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "apiVersion", "v1");
    cJSON_AddStringToObject(body, "kind", "ConfigMap");
    cJSON *meta = cJSON_AddObjectToObject(body, "metadata");
    cJSON_AddStringToObject(meta, "name", MC_DNS_CUSTOM_CM);
    cJSON_AddStringToObject(meta, "namespace", s->ns);
    if (s->zone)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "data"), MC_DNS_CUSTOM_KEY, block);
    k8s_request_opts ro = {.verb = K8S_VERB_PATCH,
                           .ref = cm_ref(s, MC_DNS_CUSTOM_CM),
                           .patch_type = K8S_PATCH_APPLY,
                           .field_manager = MC_FIELD_MANAGER,
                           .force = s->forced,
                           .body = body};
    req_send(s, &ro, on_cm_written);
    cJSON_Delete(body);
}

/* ---- step 3: the Corefile of coredns ----------------------------------------------------------
 */

static enum mc_dns_state corefile_state(enum mc_corefile_outcome o)
{
    switch (o) {
    case MC_COREFILE_CONFLICT:
        return MC_DNS_COREFILE_CONFLICT;
    case MC_COREFILE_MALFORMED:
        return MC_DNS_COREFILE_MALFORMED;
    case MC_COREFILE_BAD_INPUT:
        return MC_DNS_NAMESERVER_PENDING;
    default:
        return MC_DNS_WRITE_FAILED;
    }
}

/*
 * The Corefile is one string value owned by the distribution (kubeadm's addon, an addon
 * manager): server-side apply of the key would take the whole value from its manager, and a
 * merge patch could silently overwrite an edit made between our read and our write. So the
 * edited text goes back with an Update carrying the resourceVersion we read: a concurrent change
 * fails with 409 and the round reads and edits again, never losing someone else's edit.
 */
static void corefile_edit(mc_dns_sync *s, cJSON *cm)
{
    cJSON *data = cJSON_GetObjectItemCaseSensitive(cm, "data");
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(data, MC_DNS_COREFILE_KEY);
    if (!cJSON_IsString(cf)) {
        round_end(s, s->zone ? MC_DNS_COREFILE_MALFORMED : MC_DNS_UNCHECKED,
                  "kube-system/coredns has no Corefile key");
        return;
    }
    struct mc_corefile_want w = {.zone = s->zone, .nameserver = s->ip};
    char *out = NULL, why[256] = "";
    enum mc_corefile_outcome o =
        mc_corefile_edit(cf->valuestring, strlen(cf->valuestring), &w, &out, why, sizeof(why));
    if (o == MC_COREFILE_UNCHANGED) {
        round_end(s, s->zone ? MC_DNS_CONFIGURED : MC_DNS_UNCHECKED, s->zone);
        return;
    }
    if (o != MC_COREFILE_CHANGED) {
        round_end(s, s->zone ? corefile_state(o) : MC_DNS_UNCHECKED, why);
        return;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(data, MC_DNS_COREFILE_KEY, cJSON_CreateString(out));
    free(out);
    /* Sent back, managedFields would replace the server's record as is: left out, the server
     * records this write under our manager beside the distribution's. */
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(cm, "metadata"),
                                            "managedFields");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cm, "metadata"), "resourceVersion");
    k8s_request_opts ro = {.verb = K8S_VERB_UPDATE,
                           .ref = cm_ref(s, MC_DNS_COREDNS_CM),
                           .field_manager = MC_FIELD_MANAGER,
                           .body = cm,
                           .resource_version = cJSON_IsString(rv) ? rv->valuestring : NULL};
    req_send(s, &ro, on_cm_written);
}

static void on_coredns_read(k8s_request *req, k8s_response *res, void *data)
{
    (void)req;
    mc_dns_sync *s = data;
    if (!done(s, res))
        return;
    if (res->err.code == K8S_ERR_NOT_FOUND) {
        round_end(s, s->zone ? MC_DNS_COREDNS_MISSING : MC_DNS_UNCHECKED, NULL);
        return;
    }
    if (res->err.code != K8S_OK) {
        round_fail(s, MC_DNS_WRITE_FAILED, "read kube-system/coredns", res);
        return;
    }
    corefile_edit(s, res->body);
}

static void on_custom_read(k8s_request *req, k8s_response *res, void *data)
{
    (void)req;
    mc_dns_sync *s = data;
    if (!done(s, res))
        return;
    if (res->err.code == K8S_OK) {
        custom_apply(s, res->body);
        return;
    }
    if (res->err.code != K8S_ERR_NOT_FOUND) {
        round_fail(s, MC_DNS_WRITE_FAILED, "read kube-system/coredns-custom", res);
        return;
    }
    k8s_request_opts ro = {.verb = K8S_VERB_GET, .ref = cm_ref(s, MC_DNS_COREDNS_CM)};
    req_send(s, &ro, on_coredns_read);
}

/* After the DNSConfig: without a nameserver IP there is nothing to forward to yet, and a block
 * written before stays (the IP comes back with the operator). */
static void coredns_start(mc_dns_sync *s)
{
    if (s->zone && !s->ip[0]) {
        round_end(s, MC_DNS_NAMESERVER_PENDING, NULL);
        return;
    }
    k8s_request_opts ro = {.verb = K8S_VERB_GET, .ref = cm_ref(s, MC_DNS_CUSTOM_CM)};
    req_send(s, &ro, on_custom_read);
}
