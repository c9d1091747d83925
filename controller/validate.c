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

#include <curl/curl.h>

#include "controller/locality.h"
#include "k8s/base64.h"
#include "pki/pki.h"

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

/* Whether every character of s is alphanumeric or one of [-_.]. */
static int only_key_chars(const char *s)
{
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

int mc_is_label_value(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return 1;
    return n <= 63 && isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[n - 1]) &&
           only_key_chars(s);
}

static void reject(struct mc_verdict *v, const char *reason, const char *field, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

/*
 * Records a problem. The first one sets the reason and field; every later one is appended to
 * the message as "; <field>: <sentence>", so a user fixes all of them in one edit instead of
 * meeting them one apply at a time. A message that would overflow ends in "; ...".
 */
static void reject(struct mc_verdict *v, const char *reason, const char *field, const char *fmt,
                   ...)
{
    char sentence[sizeof(v->why.message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sentence, sizeof(sentence), fmt, ap);
    va_end(ap);
    if (v->accepted) {
        v->accepted = 0;
        snprintf(v->why.reason, sizeof(v->why.reason), "%s", reason);
        snprintf(v->why.field, sizeof(v->why.field), "%s", field);
        snprintf(v->why.message, sizeof(v->why.message), "%s", sentence);
        return;
    }
    size_t used = strlen(v->why.message), room = sizeof(v->why.message) - used;
    static const char more[] = "; ...";
    if (used >= sizeof(more) - 1 && strcmp(v->why.message + used - (sizeof(more) - 1), more) == 0)
        return; /* already full */
    int n = snprintf(v->why.message + used, room, "; %s: %s", field, sentence);
    if (n < 0 || (size_t)n >= room) {
        size_t at = sizeof(v->why.message) - sizeof(more);
        memcpy(v->why.message + (used < at ? used : at), more, sizeof(more));
    }
}

static int valid_port(int p)
{
    return p >= 1 && p <= 65535;
}

/* A Tailscale ACL tag as the Tailscale operator accepts it: "tag:" and a lower-case name. */
int mc_is_tailscale_tag(const char *s)
{
    size_t n = strlen(s);
    if (n <= 4 || n > MC_MAX_TAG_LEN || strncmp(s, "tag:", 4) != 0)
        return 0;
    for (size_t i = 4; i < n; i++) {
        int c = (unsigned char)s[i];
        if (!(islower(c) || isdigit(c) || c == '-'))
            return 0;
    }
    return 1;
}

/* A key of a Secret's data: [-._a-zA-Z0-9]+, at most 253 characters (IsConfigMapKey). */
int mc_is_secret_key(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 253 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && only_key_chars(s);
}

/* 32 bytes in hex, each pair optionally followed by a colon (the CRD's pattern). */
static int is_fingerprint(const char *s)
{
    int pairs = 0;
    while (*s) {
        if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
            return 0;
        s += 2;
        pairs++;
        if (*s == ':')
            s++;
    }
    return pairs == 32;
}

static int is_ipv4(const char *h)
{
    int parts = 0;
    while (*h) {
        int digits = 0, val = 0;
        while (isdigit((unsigned char)*h) && digits < 4) {
            val = val * 10 + (*h++ - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || val > 255 || ++parts > 4)
            return 0;
        if (*h == '.' && h[1])
            h++;
        else if (*h)
            return 0;
    }
    return parts == 4;
}

/* A bracketed IPv6 literal as curl returns it: hex digits, colons, dots (an IPv4 tail). */
static int is_ipv6_literal(const char *h)
{
    size_t n = strlen(h);
    if (n < 4 || h[0] != '[' || h[n - 1] != ']' || !strchr(h, ':'))
        return 0;
    for (size_t i = 1; i + 1 < n; i++)
        if (!(isxdigit((unsigned char)h[i]) || h[i] == ':' || h[i] == '.'))
            return 0;
    return 1;
}

/* A URL path safe to hand on: RFC 3986 pchar and '/', no query or fragment. */
static int is_url_path(const char *p)
{
    for (; *p; p++) {
        int c = (unsigned char)*p;
        if (!(isalnum(c) || strchr("-._~!$&'()*+,;=:@%/", c)))
            return 0;
    }
    return 1;
}

const char *mc_check_https_url(const char *s)
{
    size_t n = strlen(s);
    if (n > MC_MAX_URL_LEN)
        return "is longer than " MC_STR(MC_MAX_URL_LEN) " characters";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return "holds whitespace, a control character or a non-ASCII byte";
    if (strncmp(s, "https://", 8) != 0)
        return "must be an https:// URL";
    /* libcurl's parser decides what a client would connect to; we then check each part. */
    CURLU *u = curl_url();
    if (!u)
        return "could not be checked (out of memory)";
    const char *why = NULL;
    char *part = NULL;
    if (curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK)
        why = "is not a URL";
    else if (curl_url_get(u, CURLUPART_USER, &part, 0) != CURLUE_NO_USER ||
             curl_url_get(u, CURLUPART_OPTIONS, &part, 0) != CURLUE_NO_OPTIONS)
        why = "must not carry user information (credentials come from the token)";
    else if (curl_url_get(u, CURLUPART_QUERY, &part, 0) != CURLUE_NO_QUERY ||
             curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) != CURLUE_NO_FRAGMENT)
        why = "must not carry a query or a fragment";
    curl_free(part);
    part = NULL;
    if (!why && curl_url_get(u, CURLUPART_HOST, &part, 0) == CURLUE_OK) {
        char host[256];
        size_t hn = strlen(part);
        for (size_t i = 0; i < hn && i < sizeof(host); i++)
            host[i] = (char)tolower((unsigned char)part[i]);
        host[hn < sizeof(host) ? hn : sizeof(host) - 1] = '\0';
        if (hn >= sizeof(host) ||
            !(is_ipv4(host) || is_ipv6_literal(host) || mc_is_dns1123_subdomain(host)))
            why = "does not name a valid host";
    } else if (!why) {
        why = "does not name a host";
    }
    curl_free(part);
    part = NULL;
    if (!why) {
        CURLUcode rc = curl_url_get(u, CURLUPART_PORT, &part, 0);
        long port = rc == CURLUE_OK ? strtol(part, NULL, 10) : 0;
        if (rc != CURLUE_NO_PORT && (rc != CURLUE_OK || port < 1 || port > 65535))
            why = "has an invalid port";
        curl_free(part);
        part = NULL;
    }
    if (!why && curl_url_get(u, CURLUPART_PATH, &part, 0) == CURLUE_OK && !is_url_path(part))
        why = "has a path with characters a URL must escape";
    curl_free(part);
    /* curl accepts what RFC 3986 does not (e.g. "https:x"); what it read must be what was
     * written, up to the path. */
    const char *rest = s + 8;
    if (!why && (!*rest || *rest == '/'))
        why = "does not name a host";
    curl_url_cleanup(u);
    return why;
}

const char *mc_check_bearer_token(const char *buf, size_t len, size_t *start, size_t *n)
{
    size_t a = 0, b = len;
    while (a < b && isspace((unsigned char)buf[a]))
        a++;
    while (b > a && isspace((unsigned char)buf[b - 1]))
        b--;
    if (a == b)
        return "is empty";
    if (b - a > MC_MAX_TOKEN_LEN)
        return "is longer than " MC_STR(MC_MAX_TOKEN_LEN) " bytes: not a bearer token";
    for (size_t i = a; i < b; i++)
        if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f)
            return "holds bytes a bearer token cannot (whitespace, control or non-ASCII): not "
                   "a bearer token";
    *start = a;
    *n = b - a;
    return NULL;
}

/* Predicates for check_str; empty values that mean "unset" pass where the field allows it. */
static int is_network(const char *s)
{
    return s[0] && mc_is_label_value(s);
}

static int is_optional_subdomain(const char *s)
{
    return !s[0] || mc_is_dns1123_subdomain(s);
}

static int is_optional_fingerprint(const char *s)
{
    return !s[0] || is_fingerprint(s);
}

/*
 * A bad value as quoted back in a message: at most MC_QUOTE_MAX bytes, control characters
 * shown as '?', so a refused value cannot forge lines in `kubectl describe`, Events or logs.
 */
static const char *quoted(char buf[MC_QUOTE_MAX + 1], const char *s)
{
    size_t i = 0;
    for (; s[i] && i < MC_QUOTE_MAX; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}

/*
 * One string field: refused as FieldTooLong past max (its value left out: it may be
 * megabytes), else as reason when ok() says no, quoting at most MC_QUOTE_MAX characters.
 */
static void check_str(struct mc_verdict *v, const char *field, const char *s, size_t max,
                      int (*ok)(const char *), const char *reason, const char *what)
{
    char q[MC_QUOTE_MAX + 1];
    size_t n = strlen(s);
    if (n > max)
        reject(v, "FieldTooLong", field, "%zu characters, at most %zu allowed", n, max);
    else if (!ok(s))
        reject(v, reason, field, "\"%s\" %s", quoted(q, s), what);
}

static void check_names(const struct mc_meshcluster *c, struct mc_verdict *v)
{
    check_str(v, "spec.network", c->network, 63, is_network, "InvalidNetwork",
              "is not a valid label value for topology.istio.io/network");
    check_str(v, "spec.meshID", c->mesh_id, 63, mc_is_label_value, "InvalidMeshID",
              "is not a valid mesh ID (a label value)");
    check_str(v, "spec.locality.region", c->region, 63, mc_is_label_value, "InvalidLocality",
              "is not a valid label value for topology.kubernetes.io/region");
    check_str(v, "spec.locality.zone", c->zone, 63, mc_is_label_value, "InvalidLocality",
              "is not a valid label value for topology.kubernetes.io/zone");
}

static int is_region(const char *s)
{
    return s[0] && mc_is_label_value(s);
}

/*
 * spec.locality.failover on its own: a bounded list of distinct region names, none of them
 * the cluster's own region, on a cluster that has one. Whether each names a region of the
 * set is not a reason to refuse (controller/locality.h says why); the pure function skips
 * those and doctor names them.
 */
static void check_failover(const struct mc_meshcluster *c, struct mc_verdict *v)
{
    if (c->nfailover && !c->region[0])
        reject(v, "InvalidFailover", "spec.locality.failover",
               "a failover preference needs spec.locality.region: it orders where that region's "
               "traffic goes");
    if (c->nfailover > MC_MAX_FAILOVER)
        reject(v, "InvalidFailover", "spec.locality.failover", "%zu regions, at most %d allowed",
               c->nfailover, MC_MAX_FAILOVER);
    for (size_t i = 0; i < c->nfailover && i < MC_MAX_FAILOVER; i++) {
        char field[64], q[MC_QUOTE_MAX + 1];
        snprintf(field, sizeof(field), "spec.locality.failover[%zu]", i);
        check_str(v, field, c->failover[i], 63, is_region, "InvalidFailover",
                  "is not a region name (a non-empty label value)");
        if (c->region[0] && strcmp(c->failover[i], c->region) == 0)
            reject(v, "InvalidFailover", field,
                   "\"%s\" is this cluster's own region: a region cannot fail over to itself",
                   quoted(q, c->failover[i]));
        for (size_t k = 0; k < i; k++)
            if (strcmp(c->failover[k], c->failover[i]) == 0) {
                reject(v, "InvalidFailover", field, "\"%s\" is listed twice",
                       quoted(q, c->failover[i]));
                break;
            }
    }
}

static void check_tailscale(const struct mc_meshcluster *c, struct mc_verdict *v)
{
    if (!c->tailnet[0])
        reject(v, "MissingTailnet", "spec.tailscale.tailnet",
               "the tailnet's MagicDNS suffix (e.g. your-tailnet.ts.net) is required");
    else
        check_str(v, "spec.tailscale.tailnet", c->tailnet, 253, mc_is_dns1123_subdomain,
                  "InvalidTailnet", "is not a DNS name");
    check_str(v, "spec.tailscale.apiServerProxyHostname", c->api_proxy_hostname, 63,
              mc_is_dns1123_label, "InvalidHostname", "is not a DNS-1123 label");
    check_str(v, "spec.tailscale.eastWestGatewayHostname", c->gateway_hostname, 63,
              mc_is_dns1123_label, "InvalidHostname", "is not a DNS-1123 label");
    if (c->ngateway_tags > MC_MAX_TAGS)
        reject(v, "TooManyTags", "spec.tailscale.gatewayTags", "%zu tags, at most %d allowed",
               c->ngateway_tags, MC_MAX_TAGS);
    for (size_t i = 0; i < c->ngateway_tags && i < MC_MAX_TAGS; i++) {
        char field[64];
        snprintf(field, sizeof(field), "spec.tailscale.gatewayTags[%zu]", i);
        check_str(v, field, c->gateway_tags[i], MC_MAX_TAG_LEN, mc_is_tailscale_tag, "InvalidTag",
                  "is not a Tailscale tag (tag:[a-z0-9-]+)");
    }
    check_str(v, "spec.tailscale.proxyClass", c->proxy_class, 253, mc_is_dns1123_subdomain,
              "InvalidProxyClass", "is not a valid ProxyClass name");
}

static void check_ports(const struct mc_meshcluster *c, struct mc_verdict *v)
{
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
}

static void check_remote_secret(const struct mc_meshcluster *c, struct mc_verdict *v)
{
    /* secretRef is checked whatever auth says: a ref kept for later must be sound too. */
    check_str(v, "spec.remoteSecret.secretRef.name", c->secret_name, 253, is_optional_subdomain,
              "InvalidSecretRef", "is not a Secret name");
    if (c->auth == MC_AUTH_SECRET && !c->secret_name[0])
        reject(v, "InvalidSecretRef", "spec.remoteSecret.secretRef.name",
               "spec.remoteSecret.auth \"secret\" needs the name of a Secret holding the token");
    check_str(v, "spec.remoteSecret.secretRef.namespace", c->secret_namespace, 63,
              mc_is_dns1123_label, "InvalidSecretRef", "is not a namespace name");
    check_str(v, "spec.remoteSecret.secretRef.key", c->secret_key, 253, mc_is_secret_key,
              "InvalidSecretRef", "is not a Secret data key ([-._a-zA-Z0-9]+)");
    char q[MC_QUOTE_MAX + 1];
    const char *why = c->remote_server[0] ? mc_check_https_url(c->remote_server) : NULL;
    if (why)
        reject(v, "InvalidServer", "spec.remoteSecret.server", "\"%s\" %s",
               quoted(q, c->remote_server), why);
    if (c->ca_bundle[0] && (why = mc_check_ca_bundle(c->ca_bundle)) != NULL)
        reject(v, "InvalidCABundle", "spec.remoteSecret.caBundle", "%s", why);
    check_str(v, "spec.trust.rootCAFingerprint", c->root_ca_fingerprint, 95,
              is_optional_fingerprint, "InvalidFingerprint",
              "is not a SHA-256 fingerprint (64 hex digits, colons allowed)");
}

/* Every per-cluster problem, not only the first (a name problem stops here: the other
 * fields' defaults derive from the name). */
static void check_one(const struct mc_meshcluster *c, struct mc_verdict *v)
{
    char q[MC_QUOTE_MAX + 1];
    if (!mc_is_dns1035_label(c->name)) {
        reject(v, "InvalidName", "metadata.name",
               "\"%s\" is not a DNS-1035 label (lower-case letters, digits and '-', "
               "starting with a letter, at most 63 characters)",
               quoted(q, c->name));
        return;
    }
    if (strlen(c->name) + strlen(LONGEST_SUFFIX) > 63) {
        reject(v, "InvalidName", "metadata.name",
               "\"%s\" is too long: Service \"%s" LONGEST_SUFFIX "\" would exceed 63 characters "
               "(at most %zu characters)",
               c->name, c->name, 63 - strlen(LONGEST_SUFFIX));
        return;
    }
    check_names(c, v);
    check_failover(c, v);
    check_tailscale(c, v);
    check_ports(c, v);
    check_remote_secret(c, v);
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

void mc_validate_secret_ref(const struct mc_meshcluster *c, const struct mc_secret_policy *policy,
                            struct mc_verdict *v)
{
    if (c->auth != MC_AUTH_SECRET)
        return;
    char q[MC_QUOTE_MAX + 1];
    const char *allowed = policy && policy->token_namespace ? policy->token_namespace : "";
    const char *istio = policy && policy->istio_namespace ? policy->istio_namespace : "";
    if (strcmp(c->secret_name, "cacerts") == 0)
        reject(v, "SecretRefNotAllowed", "spec.remoteSecret.secretRef.name",
               "a Secret named cacerts holds a CA's private key and is never read as a token");
    if (!allowed[0])
        reject(v, "SecretRefNotAllowed", "spec.remoteSecret.secretRef.namespace",
               "auth \"secret\" is disabled: the controller runs with an empty "
               "--token-namespace");
    else if (strcmp(c->secret_namespace, istio) == 0 || strcmp(c->secret_namespace, allowed) != 0)
        reject(v, "SecretRefNotAllowed", "spec.remoteSecret.secretRef.namespace",
               "\"%s\" is not allowed: token Secrets are read only from namespace \"%s\" "
               "(the controller's --token-namespace), labelled " MC_LABEL_REMOTE_TOKEN "=true",
               quoted(q, c->secret_namespace), allowed);
}

void mc_validate(const struct mc_meshcluster *clusters, size_t n, const char *local,
                 const struct mc_secret_policy *policy, const int *skip,
                 struct mc_verdict *verdicts)
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
        /* Before the cross-cluster checks: a refused ref must not win a hostname claim. */
        if (verdicts[i].accepted || strcmp(verdicts[i].why.reason, "InvalidName") != 0)
            mc_validate_secret_ref(&clusters[i], policy, &verdicts[i]);
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

const char *mc_check_ca_bundle(const char *b64)
{
    if (strlen(b64) > MC_MAX_CA_BUNDLE_LEN)
        return "is longer than " MC_STR(MC_MAX_CA_BUNDLE_LEN) " characters";
    unsigned char *pem = NULL;
    size_t len = 0;
    if (k8s_base64_decode(b64, MC_MAX_CA_BUNDLE_LEN, &pem, &len) != 0)
        return "is not base64 (the PEM certificates, base64-encoded as in a kubeconfig's "
               "certificate-authority-data)";
    STACK_OF(X509) *certs = NULL;
    char err[128];
    int rc = pki_pem_parse_certs((struct pki_bytes){pem, len}, &certs, err, sizeof(err));
    free(pem);
    if (rc != 0)
        return "holds no PEM certificate";
    sk_X509_pop_free(certs, X509_free);
    return NULL;
}
