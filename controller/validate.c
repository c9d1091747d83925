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

static int age_ptr_cmp(const void *a, const void *b)
{
    return age_cmp(*(const struct mc_meshcluster *const *)a,
                   *(const struct mc_meshcluster *const *)b);
}

/*
 * A string several clusters may claim (a name, a network, a tailnet hostname within its
 * tailnet). Equal claims are grouped by sorting, so cross-cluster checks cost O(n log n):
 * comparing every pair would be quadratic in the mesh size, about a million string
 * comparisons per reconcile for 1,000 clusters.
 */
struct claim {
    const char *scope; /* "" or the tailnet */
    const char *key;
    size_t idx; /* the claim's position before sorting */
};

static int claim_cmp(const void *a, const void *b)
{
    const struct claim *x = a, *y = b;
    int r = strcmp(x->scope, y->scope);
    if (!r)
        r = strcmp(x->key, y->key);
    return r ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Sorts claims (reordering them) and writes to group[claims[i].idx] a number shared by
 * exactly the equal claims, in ascending (scope, key) order. Returns the number of groups. */
static size_t group_claims(struct claim *claims, size_t n, size_t *group)
{
    qsort(claims, n, sizeof(*claims), claim_cmp);
    size_t g = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (strcmp(claims[i].scope, claims[i - 1].scope) != 0 ||
                      strcmp(claims[i].key, claims[i - 1].key) != 0))
            g++;
        group[claims[i].idx] = g;
    }
    return n ? g + 1 : 0;
}

#define NONE ((size_t)-1)

/* Room for n claims, their groups and one winner per group; freed with claims_free. */
struct claims {
    struct claim *c;
    size_t *group;
    size_t *winner;
};

static int claims_alloc(struct claims *cl, size_t n)
{
    cl->c = malloc((n ? n : 1) * sizeof(*cl->c));
    cl->group = malloc((n ? n : 1) * sizeof(*cl->group));
    cl->winner = malloc((n ? n : 1) * sizeof(*cl->winner));
    for (size_t i = 0; cl->winner && i < n; i++)
        cl->winner[i] = NONE;
    return cl->c && cl->group && cl->winner ? 0 : -1;
}

static void claims_free(struct claims *cl)
{
    free(cl->c);
    free(cl->group);
    free(cl->winner);
}

static void reject_all(const size_t *order, size_t n, struct mc_verdict *v)
{
    for (size_t oi = 0; oi < n; oi++)
        reject(&v[order[oi]], "InternalError", "", "out of memory");
}

/*
 * Walks clusters oldest first, so every claim is checked against older clusters whose
 * verdict is already final: the result does not depend on the input order. The oldest
 * accepted claimant of a hostname keeps it.
 */
static void check_hostnames(const struct mc_meshcluster *c, const size_t *order, size_t n,
                            struct mc_verdict *v)
{
    const char *fields[2] = {"spec.tailscale.apiServerProxyHostname",
                             "spec.tailscale.eastWestGatewayHostname"};
    struct claims cl;
    if (claims_alloc(&cl, 2 * n) != 0) {
        claims_free(&cl);
        reject_all(order, n, v);
        return;
    }
    for (size_t oi = 0; oi < n; oi++) {
        const struct mc_meshcluster *m = &c[order[oi]];
        cl.c[2 * oi] = (struct claim){m->tailnet, m->api_proxy_hostname, 2 * oi};
        cl.c[2 * oi + 1] = (struct claim){m->tailnet, m->gateway_hostname, 2 * oi + 1};
    }
    group_claims(cl.c, 2 * n, cl.group);
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
        size_t oldest = NONE;
        int k_oldest = 0;
        for (int k = 0; k < 2; k++) {
            size_t w = cl.winner[cl.group[2 * oi + (size_t)k]];
            if (w != NONE && (oldest == NONE || w < oldest)) {
                oldest = w;
                k_oldest = k;
            }
        }
        if (oldest != NONE) {
            reject(&v[i], "DuplicateHostname", fields[k_oldest],
                   "tailnet hostname \"%s\" is already claimed by MeshCluster \"%s\"",
                   mine[k_oldest], c[order[oldest]].name);
            continue;
        }
        cl.winner[cl.group[2 * oi]] = oi;
        cl.winner[cl.group[2 * oi + 1]] = oi;
    }
    claims_free(&cl);
}

/*
 * Istio sends cross-network traffic to a network's gateways on the port listed for each;
 * the clusters of one network must agree on it, or the entry they share is ambiguous.
 */
static void check_networks(const struct mc_meshcluster *c, const size_t *order, size_t n,
                           struct mc_verdict *v)
{
    struct claims cl;
    if (claims_alloc(&cl, n) != 0) {
        claims_free(&cl);
        reject_all(order, n, v);
        return;
    }
    for (size_t oi = 0; oi < n; oi++)
        cl.c[oi] = (struct claim){"", c[order[oi]].network, oi};
    group_claims(cl.c, n, cl.group);
    /* The oldest accepted member sets the port; every accepted one after it agrees with it. */
    for (size_t oi = 0; oi < n; oi++) {
        size_t i = order[oi];
        if (!v[i].accepted)
            continue;
        size_t *w = &cl.winner[cl.group[oi]];
        if (*w == NONE) {
            *w = oi;
            continue;
        }
        const struct mc_meshcluster *first = &c[order[*w]];
        if (first->ports.tls != c[i].ports.tls)
            reject(&v[i], "NetworkConflict", "spec.gateway.ports.tls",
                   "network \"%s\" is claimed by MeshCluster \"%s\" with gateway port %d, "
                   "not %d",
                   c[i].network, first->name, first->ports.tls, c[i].ports.tls);
    }
    claims_free(&cl);
}

static void check_mesh_ids(const struct mc_meshcluster *c, size_t n, ssize_t local,
                           struct mc_verdict *v)
{
    const char *want = NULL;
    if (local >= 0 && v[local].accepted && c[local].mesh_id[0]) {
        want = c[local].mesh_id;
    } else {
        /* The most common meshID, the smallest on a tie (groups come in key order). */
        struct claims cl;
        size_t m = 0;
        if (claims_alloc(&cl, n) != 0) {
            claims_free(&cl);
            for (size_t i = 0; i < n; i++)
                reject(&v[i], "InternalError", "", "out of memory");
            return;
        }
        for (size_t i = 0; i < n; i++)
            if (v[i].accepted && c[i].mesh_id[0]) {
                cl.c[m] = (struct claim){"", c[i].mesh_id, m};
                m++;
            }
        size_t ngroups = group_claims(cl.c, m, cl.group);
        size_t *count = cl.winner; /* reused: one counter per group */
        for (size_t g = 0; g < ngroups; g++)
            count[g] = 0;
        for (size_t x = 0; x < m; x++)
            count[cl.group[x]]++;
        size_t best = 0;
        for (size_t x = 0; x < m; x++) { /* cl.c is sorted: groups ascend */
            size_t g = cl.group[cl.c[x].idx];
            if (count[g] > best) {
                best = count[g];
                want = cl.c[x].key;
            }
        }
        claims_free(&cl);
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
    struct claims names;
    const struct mc_meshcluster **by_age = malloc((n ? n : 1) * sizeof(*by_age));
    size_t *order = malloc((n ? n : 1) * sizeof(*order));
    if (claims_alloc(&names, n) != 0 || !by_age || !order) {
        claims_free(&names);
        free(by_age);
        free(order);
        for (size_t i = 0; i < n; i++)
            reject(&verdicts[i], "InternalError", "", "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        names.c[i] = (struct claim){"", skip && skip[i] ? "" : clusters[i].name, i};
    group_claims(names.c, n, names.group);
    for (size_t i = 0; i < n; i++) {
        if (skip && skip[i])
            continue;
        if (local_idx < 0)
            reject(&verdicts[i], "UnknownLocalCluster", "--cluster-name",
                   "no MeshCluster is named \"%s\", the daemon's --cluster-name",
                   local ? local : "");
        size_t *first = &names.winner[names.group[i]];
        if (*first == NONE)
            *first = i;
        else
            reject(&verdicts[i], "DuplicateName", "metadata.name",
                   "MeshCluster \"%s\" is listed twice", clusters[i].name);
        check_one(&clusters[i], &verdicts[i]);
    }
    claims_free(&names);
    /* Oldest first; rejected (and skipped) clusters take no part, so their order is moot.
     * Accepted names are unique, so age_cmp is a total order and qsort is deterministic. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (verdicts[i].accepted)
            by_age[m++] = &clusters[i];
    qsort(by_age, m, sizeof(*by_age), age_ptr_cmp);
    for (size_t x = 0; x < m; x++)
        order[x] = (size_t)(by_age[x] - clusters);
    free(by_age);
    check_hostnames(clusters, order, m, verdicts);
    check_networks(clusters, order, m, verdicts);
    free(order);
    check_mesh_ids(clusters, n, local_idx, verdicts);
}
