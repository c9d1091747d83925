/*
 * Per-cluster checks first, then cross-cluster conflicts decided by age so the result is
 * independent of input order.
 */
#include "controller/validate.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The longest suffix we append to a cluster name to make a Service name. */
#define LONGEST_SUFFIX "-istio-eastwestgateway-ts"

int mc_is_dns1123_label(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (!(islower(c) || isdigit(c) || c == '-'))
            return 0;
    }
    return s[0] != '-' && s[n - 1] != '-';
}

int mc_is_dns1035_label(const char *s)
{
    return mc_is_dns1123_label(s) && islower((unsigned char)s[0]);
}

int mc_is_dns1123_subdomain(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 253)
        return 0;
    char buf[256];
    memcpy(buf, s, n + 1);
    char *save = NULL;
    if (buf[0] == '.' || buf[n - 1] == '.' || strstr(buf, ".."))
        return 0;
    for (char *p = strtok_r(buf, ".", &save); p; p = strtok_r(NULL, ".", &save))
        if (!mc_is_dns1123_label(p))
            return 0;
    return 1;
}

int mc_is_label_value(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return 1;
    if (n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static void reject(struct mc_verdict *v, const char *reason, const char *field, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

static void reject(struct mc_verdict *v, const char *reason, const char *field, const char *fmt,
                   ...)
{
    if (!v->accepted)
        return; /* the first problem found is the one reported */
    v->accepted = 0;
    snprintf(v->why.reason, sizeof(v->why.reason), "%s", reason);
    snprintf(v->why.field, sizeof(v->why.field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why.message, sizeof(v->why.message), fmt, ap);
    va_end(ap);
}

static int valid_port(int p)
{
    return p >= 1 && p <= 65535;
}

static void check_one(const struct mc_meshcluster *c, struct mc_verdict *v)
{
    if (!mc_is_dns1035_label(c->name)) {
        reject(v, "InvalidName", "metadata.name",
               "\"%s\" is not a DNS-1035 label (lower-case letters, digits and '-', starting "
               "with a letter, at most 63 characters)",
               c->name);
        return;
    }
    if (strlen(c->name) + strlen(LONGEST_SUFFIX) > 63) {
        reject(v, "InvalidName", "metadata.name",
               "\"%s\" is too long: Service \"%s" LONGEST_SUFFIX "\" would exceed 63 characters "
               "(at most %zu characters)",
               c->name, c->name, 63 - strlen(LONGEST_SUFFIX));
        return;
    }
    if (!mc_is_label_value(c->network) || !c->network[0])
        reject(v, "InvalidNetwork", "spec.network",
               "\"%s\" is not a valid label value for topology.istio.io/network", c->network);
    if (c->mesh_id[0] && !mc_is_label_value(c->mesh_id))
        reject(v, "InvalidMeshID", "spec.meshID", "\"%s\" is not a valid mesh ID", c->mesh_id);
    if (!c->tailnet[0])
        reject(v, "MissingTailnet", "spec.tailscale.tailnet",
               "the tailnet's MagicDNS suffix (e.g. your-tailnet.ts.net) is required");
    else if (!mc_is_dns1123_subdomain(c->tailnet))
        reject(v, "InvalidTailnet", "spec.tailscale.tailnet", "\"%s\" is not a DNS name",
               c->tailnet);
    if (!mc_is_dns1123_label(c->api_proxy_hostname))
        reject(v, "InvalidHostname", "spec.tailscale.apiServerProxyHostname",
               "\"%s\" is not a DNS-1123 label", c->api_proxy_hostname);
    if (!mc_is_dns1123_label(c->gateway_hostname))
        reject(v, "InvalidHostname", "spec.tailscale.eastWestGatewayHostname",
               "\"%s\" is not a DNS-1123 label", c->gateway_hostname);
    for (size_t i = 0; i < c->ngateway_tags; i++) {
        const char *t = c->gateway_tags[i];
        if (strncmp(t, "tag:", 4) != 0 || !t[4] || strpbrk(t, " ,"))
            reject(v, "InvalidTag", "spec.tailscale.gatewayTags",
                   "\"%s\" is not a Tailscale tag (tag:<name>)", t);
    }
    if (!mc_is_dns1123_subdomain(c->proxy_class))
        reject(v, "InvalidProxyClass", "spec.tailscale.proxyClass",
               "\"%s\" is not a valid ProxyClass name", c->proxy_class);
    const struct {
        int port;
        const char *field;
    } ports[] = {{c->ports.status, "spec.gateway.ports.status"},
                 {c->ports.tls, "spec.gateway.ports.tls"},
                 {c->ports.istiod, "spec.gateway.ports.istiod"},
                 {c->ports.webhook, "spec.gateway.ports.webhook"}};
    for (size_t i = 0; i < 4; i++) {
        if (!valid_port(ports[i].port))
            reject(v, "InvalidPort", ports[i].field, "port %d is outside 1-65535", ports[i].port);
        for (size_t j = 0; j < i; j++)
            if (ports[i].port == ports[j].port)
                reject(v, "InvalidPort", ports[i].field, "port %d is also used by %s",
                       ports[i].port, ports[j].field);
    }
    if (c->auth == MC_AUTH_SECRET) {
        if (!mc_is_dns1123_subdomain(c->secret_name))
            reject(v, "InvalidSecretRef", "spec.remoteSecret.secretRef.name",
                   "auth \"secret\" needs the name of a Secret holding the token");
        if (!mc_is_dns1123_label(c->secret_namespace))
            reject(v, "InvalidSecretRef", "spec.remoteSecret.secretRef.namespace",
                   "\"%s\" is not a namespace name", c->secret_namespace);
    }
    if (c->remote_server[0] && strncmp(c->remote_server, "https://", 8) != 0)
        reject(v, "InvalidServer", "spec.remoteSecret.server", "\"%s\" must be an https:// URL",
               c->remote_server);
}

/* Negative when a is older than b (keeps a claim); ties broken by name. */
static int age_cmp(const struct mc_meshcluster *a, const struct mc_meshcluster *b)
{
    int at = a->creation_timestamp[0] != '\0', bt = b->creation_timestamp[0] != '\0';
    if (at != bt)
        return bt - at; /* a known creation time is older than an unknown one */
    int r = strcmp(a->creation_timestamp, b->creation_timestamp);
    return r ? r : strcmp(a->name, b->name);
}

/*
 * Walks clusters oldest first, so every claim is checked against older clusters whose
 * verdict is already final: the result does not depend on the input order.
 */
static void check_hostnames(const struct mc_meshcluster *c, const size_t *order, size_t n,
                            struct mc_verdict *v)
{
    const char *fields[2] = {"spec.tailscale.apiServerProxyHostname",
                             "spec.tailscale.eastWestGatewayHostname"};
    for (size_t oi = 0; oi < n; oi++) {
        size_t i = order[oi];
        const char *mine[2] = {c[i].api_proxy_hostname, c[i].gateway_hostname};
        if (!v[i].accepted)
            continue;
        if (strcmp(mine[0], mine[1]) == 0) {
            reject(&v[i], "DuplicateHostname", fields[1],
                   "\"%s\" is used for both the API server proxy and the gateway", mine[1]);
            continue;
        }
        for (size_t oj = 0; oj < oi && v[i].accepted; oj++) {
            size_t j = order[oj];
            if (!v[j].accepted || strcmp(c[i].tailnet, c[j].tailnet) != 0)
                continue;
            for (int k = 0; k < 2; k++) {
                if (strcmp(mine[k], c[j].api_proxy_hostname) == 0 ||
                    strcmp(mine[k], c[j].gateway_hostname) == 0) {
                    reject(&v[i], "DuplicateHostname", fields[k],
                           "tailnet hostname \"%s\" is already claimed by MeshCluster \"%s\"",
                           mine[k], c[j].name);
                    break;
                }
            }
        }
    }
}

/*
 * Istio sends cross-network traffic to a network's gateways on the port listed for each;
 * the clusters of one network must agree on it, or the entry they share is ambiguous.
 */
static void check_networks(const struct mc_meshcluster *c, const size_t *order, size_t n,
                           struct mc_verdict *v)
{
    for (size_t oi = 0; oi < n; oi++) {
        size_t i = order[oi];
        for (size_t oj = 0; oj < oi && v[i].accepted; oj++) {
            size_t j = order[oj];
            if (!v[j].accepted || strcmp(c[i].network, c[j].network) != 0)
                continue;
            if (c[i].ports.tls != c[j].ports.tls)
                reject(&v[i], "NetworkConflict", "spec.gateway.ports.tls",
                       "network \"%s\" is claimed by MeshCluster \"%s\" with gateway port %d, "
                       "not %d",
                       c[i].network, c[j].name, c[j].ports.tls, c[i].ports.tls);
        }
    }
}

static void check_mesh_ids(const struct mc_meshcluster *c, size_t n, ssize_t local,
                           struct mc_verdict *v)
{
    const char *want = NULL;
    if (local >= 0 && v[local].accepted && c[local].mesh_id[0]) {
        want = c[local].mesh_id;
    } else {
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
            if (!v[i].accepted || !c[i].mesh_id[0])
                continue;
            size_t count = 0;
            for (size_t j = 0; j < n; j++)
                count += v[j].accepted && strcmp(c[i].mesh_id, c[j].mesh_id) == 0;
            if (count > best || (count == best && want && strcmp(c[i].mesh_id, want) < 0)) {
                best = count;
                want = c[i].mesh_id;
            }
        }
    }
    if (!want)
        return;
    for (size_t i = 0; i < n; i++)
        if (v[i].accepted && c[i].mesh_id[0] && strcmp(c[i].mesh_id, want) != 0)
            reject(&v[i], "MeshIDConflict", "spec.meshID",
                   "meshID \"%s\" differs from the mesh's \"%s\"", c[i].mesh_id, want);
}

void mc_validate(const struct mc_meshcluster *clusters, size_t n, const char *local,
                 const int *skip, struct mc_verdict *verdicts)
{
    ssize_t local_idx = -1;
    for (size_t i = 0; i < n; i++) {
        if (skip && skip[i])
            continue;
        memset(&verdicts[i], 0, sizeof(verdicts[i]));
        verdicts[i].accepted = 1;
        if (local && strcmp(clusters[i].name, local) == 0)
            local_idx = (ssize_t)i;
    }
    for (size_t i = 0; i < n; i++) {
        if (skip && skip[i])
            continue;
        if (local_idx < 0)
            reject(&verdicts[i], "UnknownLocalCluster", "--cluster-name",
                   "no MeshCluster is named \"%s\", the daemon's --cluster-name",
                   local ? local : "");
        for (size_t j = 0; j < i && verdicts[i].accepted; j++)
            if (!(skip && skip[j]) && strcmp(clusters[i].name, clusters[j].name) == 0)
                reject(&verdicts[i], "DuplicateName", "metadata.name",
                       "MeshCluster \"%s\" is listed twice", clusters[i].name);
        check_one(&clusters[i], &verdicts[i]);
    }
    /* Oldest first; rejected (and skipped) clusters take no part, so their order is moot. */
    size_t *order = malloc((n ? n : 1) * sizeof(*order));
    if (!order) {
        for (size_t i = 0; i < n; i++)
            reject(&verdicts[i], "InternalError", "", "out of memory");
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (verdicts[i].accepted)
            order[m++] = i;
    for (size_t a = 1; a < m; a++) /* insertion sort: stable and n is small */
        for (size_t b = a; b > 0 && age_cmp(&clusters[order[b]], &clusters[order[b - 1]]) < 0;
             b--) {
            size_t t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    check_hostnames(clusters, order, m, verdicts);
    check_networks(clusters, order, m, verdicts);
    free(order);
    check_mesh_ids(clusters, n, local_idx, verdicts);
}
