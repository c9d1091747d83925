/* Phase 2 of a pass: each MeshCluster's conditions from the caches and the pass's notes,
 * written only when they change; see reconciler.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/reconciler_internal.h"

/* Builds the MeshNetworksReady condition, shared by every MeshCluster. */
static void meshnet_condition(struct pass *p, struct mc_condition *c)
{
    mc_reconciler *r = p->r;
    c->type = MC_COND_MESH_NETWORKS;
    if (p->meshnet_note[0]) {
        c->status = "False";
        c->reason = "ApplyFailed";
        c->message = p->meshnet_note;
        return;
    }
    for (size_t i = 0; i < p->d.nobjects; i++) {
        const struct mc_desired_object *o = &p->d.objects[i];
        const char *kind = jstr(o->object, "kind");
        if (!kind || strcmp(kind, "ConfigMap") != 0)
            continue;
        const cJSON *have = mc__cached_desired(r, o);
        if (!have && (o->flags & MC_DESIRED_MUST_EXIST)) {
            c->status = "False";
            c->reason = "IstioConfigMapMissing";
            c->message = "the istio ConfigMap does not exist yet (the istiod installation "
                         "creates it); meshNetworks is written as soon as it appears";
            return;
        }
        if (!have || !subset(jpath(o->object, "data", NULL), jpath(have, "data", NULL))) {
            c->status = "False";
            c->reason = "Pending";
            c->message = "meshNetworks is being written";
            return;
        }
    }
    c->status = "True";
    c->reason = "Applied";
    c->message = "";
}

static bool proxy_ready(const cJSON *svc, const char **why)
{
    const cJSON *c = mc_status_find_condition(jpath(svc, "status", NULL), "TailscaleProxyReady");
    const char *st = jstr(c, "status");
    if (st && strcmp(st, "True") == 0)
        return true;
    *why = jstr(c, "message") ? jstr(c, "message") : "the Tailscale operator has not reported yet";
    return false;
}

/* Phase 2: one MeshCluster's status. */
static void reconcile_status(struct pass *p, size_t ci, const struct mc_condition *meshnet)
{
    mc_reconciler *r = p->r;
    const struct mc_cluster_result *cr = &p->d.clusters[ci];
    const struct note *n = &p->notes[ci];
    const cJSON *mc = mc__meshcluster(r, cr->name);
    if (!mc || terminating(mc))
        return;
    bool local = strcmp(cr->name, r->cluster_name) == 0;
    struct mc_condition conds[6];
    size_t nc = 0;
    char accepted_msg[400], egress_msg[NOTE_LEN], ready_msg[NOTE_LEN], gw_addr[256] = "";
    struct mc_condition *c = &conds[nc++];
    c->type = MC_COND_ACCEPTED;
    if (cr->accepted) {
        c->status = "True";
        c->reason = "Accepted";
        c->message = "";
    } else {
        snprintf(accepted_msg, sizeof(accepted_msg), "%s: %s", cr->why.field, cr->why.message);
        c->status = "False";
        c->reason = cr->why.reason[0] ? cr->why.reason : "Invalid";
        c->message = accepted_msg;
    }

    if (cr->accepted) {
        const cJSON *e1 = NULL, *e2 = NULL, *sec = NULL, *gw = NULL;
        char name[300];
        if (!local) {
            snprintf(name, sizeof(name), "%s-k8s-operator", cr->name);
            e1 = mc__cached(r, INF_SVC_TS, r->ts_ns, name);
            snprintf(name, sizeof(name), "%s-istio-eastwestgateway-ts", cr->name);
            e2 = mc__cached(r, INF_SVC_ISTIO, r->istio_ns, name);
            snprintf(name, sizeof(name), "istio-remote-secret-%s", cr->name);
            sec = mc__cached(r, INF_SECRET, r->istio_ns, name);
            snprintf(name, sizeof(name), "%s-istio-eastwestgateway", cr->name);
            gw = mc__cached(r, INF_SVC_ISTIO, r->istio_ns, name);
        } else {
            gw = mc__cached(r, INF_SVC_ISTIO, r->istio_ns, "istio-eastwestgateway");
        }

        c = &conds[nc++];
        c->type = MC_COND_EGRESS_READY;
        const char *why = NULL;
        if (local) {
            c->status = "True", c->reason = "NotApplicable";
            c->message = "egress proxies are made for remote clusters only";
        } else if (n->egress[0]) {
            c->status = "False", c->reason = "ApplyFailed", c->message = n->egress;
        } else if (!e1 || !e2) {
            c->status = "False", c->reason = "EgressServiceMissing";
            c->message = "the egress Services are being created";
        } else if (!proxy_ready(e1, &why) || !proxy_ready(e2, &why)) {
            snprintf(egress_msg, sizeof(egress_msg), "TailscaleProxyReady is not True: %s", why);
            c->status = "False", c->reason = "ProxyNotReady", c->message = egress_msg;
        } else {
            c->status = "True", c->reason = "ProxyReady", c->message = "";
        }

        c = &conds[nc++];
        c->type = MC_COND_REMOTE_SECRET;
        if (local) {
            c->status = "True", c->reason = "NotApplicable";
            c->message = "remote secrets are made for remote clusters only";
        } else if (n->secret[0]) {
            c->status = "False", c->reason = "ApplyFailed", c->message = n->secret;
        } else if (cr->remote_secret_pending) {
            c->status = "False", c->reason = "TokenPending";
            c->message = "the Secret holding this cluster's token is not available";
        } else if (!sec) {
            c->status = "False", c->reason = "SecretMissing";
            c->message = "the remote secret is being created";
        } else {
            c->status = "True", c->reason = "SecretApplied", c->message = "";
        }

        c = &conds[nc++];
        c->type = MC_COND_GATEWAY_READY;
        if (n->gateway[0]) {
            c->status = "False";
            c->reason = strncmp(n->gateway, "LoadBalancerClassImmutable", 26) == 0
                            ? "LoadBalancerClassImmutable"
                            : "ApplyFailed";
            c->message = n->gateway;
        } else if (!gw) {
            c->status = "False", c->reason = "GatewayServiceMissing";
            c->message = "the gateway Service is being created";
        } else if (local) {
            const cJSON *ing = jpath(jpath(gw, "status", "loadBalancer"), "ingress", NULL);
            const cJSON *first = cJSON_GetArrayItem(ing, 0);
            const char *addr =
                jstr(first, "hostname") ? jstr(first, "hostname") : jstr(first, "ip");
            if (addr) {
                snprintf(gw_addr, sizeof(gw_addr), "%s", addr);
                c->status = "True", c->reason = "AddressAssigned", c->message = "";
            } else {
                c->status = "False", c->reason = "AddressPending";
                c->message = "waiting for the Tailscale load balancer to publish an address";
            }
        } else {
            snprintf(gw_addr, sizeof(gw_addr), "%s.%s.svc.%s",
                     jstr(jpath(gw, "metadata", NULL), "name"), r->istio_ns, r->cluster_domain);
            c->status = "True", c->reason = "AliasReady", c->message = "";
        }
        conds[nc++] = *meshnet;
    }
    mc_status_ready(conds, nc, &conds[nc], ready_msg, sizeof(ready_msg));
    if (!cr->accepted) {
        conds[nc].reason = "NotAccepted";
    }
    nc++;

    const cJSON *gen = jpath(mc, "metadata", "generation");
    struct mc_status_input in = {
        .observed_generation = cJSON_IsNumber(gen) ? (long long)gen->valuedouble : 0,
        .role = local ? "local" : "remote",
        .gateway_address = gw_addr,
        .conditions = conds,
        .nconditions = nc,
    };
    char now[32];
    mc_status_now(now, sizeof(now));
    const cJSON *existing = jpath(mc, "status", NULL);
    cJSON *st = mc_status_build(existing, &in, now);
    if (!st) {
        p->errors++;
        return;
    }
    if (mc_status_equal(existing, st)) {
        cJSON_Delete(st);
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "apiVersion", MC_API_VERSION);
    cJSON_AddStringToObject(body, "kind", MC_KIND);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "metadata"), "name", cr->name);
    cJSON_AddItemToObject(body, "status", st);
    struct op *op = mc__op_new(p, body, MC_KIND, -1);
    if (!op) {
        p->errors++;
        cJSON_Delete(body);
        return;
    }
    snprintf(op->cluster, sizeof(op->cluster), "%s", cr->name);
    p->pending++;
    mc__op_apply(op, body, true, "status");
    cJSON_Delete(body);
}

void mc__pass_status(struct pass *p)
{
    struct mc_condition meshnet;
    meshnet_condition(p, &meshnet);
    for (size_t i = 0; i < p->d.nclusters; i++)
        reconcile_status(p, i, &meshnet);
}
