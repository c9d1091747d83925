/*
 * The tailnet side of a MeshCluster set: Tailscale operator values and the policy fragment.
 * See tailnet.h for what each grant is for.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller/tailnet.h"

void mc_tailnet_options_default(struct mc_tailnet_options *o)
{
    o->reader_group = MC_READER_GROUP_DEFAULT;
    o->operator_tag = MC_TAG_OPERATOR_DEFAULT;
    o->proxy_tag = MC_TAG_PROXY_DEFAULT;
}

/* Adds s to a JSON array of strings unless present: tags and ports repeat across a set. */
static int add_unique(cJSON *arr, const char *s)
{
    for (const cJSON *it = arr->child; it; it = it->next)
        if (strcmp(it->valuestring, s) == 0)
            return 0;
    cJSON *v = cJSON_CreateString(s);
    if (!v)
        return -1;
    cJSON_AddItemToArray(arr, v);
    return 0;
}

static int cmp_strings(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->valuestring, y->valuestring);
}

/* Sorts an array of strings in place, so the output does not depend on the set's order. */
static int sort_strings(cJSON *arr)
{
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n < 2)
        return 0;
    cJSON **items = malloc(n * sizeof(*items));
    if (!items)
        return -1;
    size_t i = 0;
    while (arr->child)
        items[i++] = cJSON_DetachItemViaPointer(arr, arr->child);
    qsort(items, n, sizeof(*items), cmp_strings);
    for (i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, items[i]);
    free(items);
    return 0;
}

cJSON *mc_tailnet_operator_values(const struct mc_meshcluster *c,
                                  const struct mc_tailnet_options *o)
{
    cJSON *v = cJSON_CreateObject();
    cJSON *op = cJSON_AddObjectToObject(v, "operatorConfig");
    cJSON *proxy = cJSON_AddObjectToObject(v, "proxyConfig");
    cJSON *api = cJSON_AddObjectToObject(v, "apiServerProxyConfig");
    cJSON *op_tags = cJSON_AddArrayToObject(op, "defaultTags");
    if (!op_tags || !proxy || !api || add_unique(op_tags, o->operator_tag) < 0 ||
        !cJSON_AddStringToObject(op, "hostname", c->api_proxy_hostname) ||
        /* The chart takes proxy tags as one comma-separated string, operator tags as a list. */
        !cJSON_AddStringToObject(proxy, "defaultTags", o->proxy_tag) ||
        !cJSON_AddStringToObject(api, "mode", c->auth == MC_AUTH_TAILSCALE ? "true" : "noauth")) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

/* The "tcp:<port>" list of every gateway port the set uses, sorted. */
static cJSON *gateway_ports(const struct mc_meshcluster *set, size_t n)
{
    cJSON *ports = cJSON_CreateArray();
    for (size_t i = 0; ports && i < n; i++) {
        const int p[] = {set[i].ports.tls, set[i].ports.istiod, set[i].ports.webhook,
                         set[i].ports.status};
        for (size_t k = 0; k < sizeof(p) / sizeof(p[0]); k++) {
            char buf[16];
            snprintf(buf, sizeof(buf), "tcp:%d", p[k]);
            if (add_unique(ports, buf) < 0) {
                cJSON_Delete(ports);
                return NULL;
            }
        }
    }
    if (ports && sort_strings(ports) < 0) {
        cJSON_Delete(ports);
        return NULL;
    }
    return ports;
}

static cJSON *gateway_tags(const struct mc_meshcluster *set, size_t n)
{
    cJSON *tags = cJSON_CreateArray();
    for (size_t i = 0; tags && i < n; i++)
        for (size_t k = 0; k < set[i].ngateway_tags; k++)
            if (add_unique(tags, set[i].gateway_tags[k]) < 0) {
                cJSON_Delete(tags);
                return NULL;
            }
    if (tags && sort_strings(tags) < 0) {
        cJSON_Delete(tags);
        return NULL;
    }
    return tags;
}

/* Makes owner one of tag's owners in a tagOwners object, creating tag's entry if needed. */
static int own(cJSON *owners, const char *tag, const char *owner)
{
    cJSON *by = cJSON_GetObjectItemCaseSensitive(owners, tag);
    if (!by)
        by = cJSON_AddArrayToObject(owners, tag);
    return by ? add_unique(by, owner) : -1;
}

/* tagOwners: admins own the operator's tag; the operator owns every tag it puts on the
 * devices it creates (its proxies and the gateways' LoadBalancer devices), or it cannot. */
static cJSON *tag_owners(const cJSON *gw_tags, const struct mc_tailnet_options *o)
{
    cJSON *owners = cJSON_CreateObject();
    int rc = owners ? own(owners, o->operator_tag, "autogroup:admin") : -1;
    if (rc == 0 && strcmp(o->proxy_tag, o->operator_tag) != 0)
        rc = own(owners, o->proxy_tag, o->operator_tag);
    for (const cJSON *t = gw_tags->child; rc == 0 && t; t = t->next)
        if (strcmp(t->valuestring, o->operator_tag) != 0)
            rc = own(owners, t->valuestring, o->operator_tag);
    if (rc < 0) {
        cJSON_Delete(owners);
        return NULL;
    }
    return owners;
}

/* A grant from the egress proxies to dst (borrowed, copied). */
static cJSON *egress_grant(const struct mc_tailnet_options *o, const cJSON *dst)
{
    cJSON *g = cJSON_CreateObject();
    cJSON *src = cJSON_AddArrayToObject(g, "src");
    cJSON *to = cJSON_Duplicate(dst, 1);
    if (!src || !to || add_unique(src, o->proxy_tag) < 0) {
        cJSON_Delete(to);
        cJSON_Delete(g);
        return NULL;
    }
    cJSON_AddItemToObject(g, "dst", to);
    return g;
}

/* Egress proxies -> API-server proxies as the reader group (Tailscale's app capability for
 * the Kubernetes API-server proxy in auth mode). */
static cJSON *api_grant(const struct mc_tailnet_options *o)
{
    cJSON *dst = cJSON_CreateArray();
    cJSON *g = dst && add_unique(dst, o->operator_tag) == 0 ? egress_grant(o, dst) : NULL;
    cJSON_Delete(dst);
    cJSON *caps = g ? cJSON_AddArrayToObject(cJSON_AddObjectToObject(g, "app"),
                                             "tailscale.com/cap/kubernetes")
                    : NULL;
    cJSON *cap = cJSON_CreateObject();
    cJSON *groups = cJSON_AddArrayToObject(cJSON_AddObjectToObject(cap, "impersonate"), "groups");
    if (!caps || !groups || add_unique(groups, o->reader_group) < 0) {
        cJSON_Delete(cap);
        cJSON_Delete(g);
        return NULL;
    }
    cJSON_AddItemToArray(caps, cap);
    return g;
}

cJSON *mc_tailnet_policy(const struct mc_meshcluster *set, size_t n,
                         const struct mc_tailnet_options *o)
{
    cJSON *tags = gateway_tags(set, n), *ports = gateway_ports(set, n);
    cJSON *policy = cJSON_CreateObject();
    cJSON *owners = tags ? tag_owners(tags, o) : NULL;
    cJSON *api = api_grant(o);
    cJSON *gw = tags ? egress_grant(o, tags) : NULL;
    cJSON *grants = cJSON_CreateArray();
    if (!ports || !policy || !owners || !api || !gw || !grants) {
        cJSON_Delete(grants);
        cJSON_Delete(tags);
        cJSON_Delete(ports);
        cJSON_Delete(policy);
        cJSON_Delete(owners);
        cJSON_Delete(api);
        cJSON_Delete(gw);
        return NULL;
    }
    cJSON_Delete(tags);
    cJSON_AddItemToObject(gw, "ip", ports);
    cJSON_AddItemToObject(policy, "tagOwners", owners);
    cJSON_AddItemToArray(grants, api);
    cJSON_AddItemToArray(grants, gw);
    cJSON_AddItemToObject(policy, "grants", grants);
    return policy;
}

/* 100.64.0.0/10 (Tailscale's IPv4 range, CGNAT space) or fd7a:115c:a1e0::/48. */
static bool is_tailscale_ip(const char *ip)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, ip, a) == 1)
        return a[0] == 100 && (a[1] & 0xc0) == 64;
    static const unsigned char ula[6] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};
    return inet_pton(AF_INET6, ip, a) == 1 && memcmp(a, ula, sizeof(ula)) == 0;
}

/* host ends in "." tailnet, ignoring case and a trailing dot on either. */
static bool in_tailnet(const char *host, const char *tailnet)
{
    size_t h = strlen(host), t = strlen(tailnet);
    if (h && host[h - 1] == '.')
        h--;
    if (t && tailnet[t - 1] == '.')
        t--;
    return t > 0 && h > t + 1 && host[h - t - 1] == '.' &&
           strncasecmp(host + h - t, tailnet, t) == 0;
}

bool mc_tailnet_address_matches(const char *hostname, const char *ip, const char *tailnet,
                                char *msg, size_t msglen)
{
    if (hostname && hostname[0] && !in_tailnet(hostname, tailnet)) {
        snprintf(msg, msglen,
                 "the gateway's load balancer is %s, not in tailnet %s (spec.tailscale.tailnet): "
                 "peers resolve and dial names in %s",
                 hostname, tailnet, tailnet);
        return false;
    }
    if (ip && ip[0] && !is_tailscale_ip(ip)) {
        snprintf(msg, msglen,
                 "the gateway's load balancer address %s is not a Tailscale address "
                 "(100.64.0.0/10 or fd7a:115c:a1e0::/48): is loadBalancerClass tailscale served?",
                 ip);
        return false;
    }
    return true;
}
