/*
 * The pure desired-state function. Every object is built field by field in a fixed order
 * from clusters sorted by name, so equal inputs give byte-identical output.
 */
#include "controller/desired.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/locality.h"
#include "k8s/base64.h"
#include "k8s/frozen.h"
#include "k8s/store.h"
#include "k8s/yaml.h"

void mc_desired_options_default(struct mc_desired_options *opts)
{
    opts->istio_namespace = "istio-system";
    opts->tailscale_namespace = "tailscale";
    opts->mesh_networks_mode = MC_MESHNET_BOTH;
    opts->cluster_domain = "cluster.local";
    opts->helm_values_name = "meshcluster-istiod-values";
    opts->token_namespace = NULL; /* follows tailscale_namespace */
}

/* ------------------------------------------------------------------ small builders */

struct ctx {
    const struct mc_desired_options *o;
    struct mc_desired *out;
    size_t capobjects;
    int compact; /* mc_desired_compute_compact */
    int remote;  /* compact: the remote being built, an index in out->source; else -1 */
    int part;    /* the objects pushed for that remote (or for the rebuild) so far */
    int capture; /* >= 0: rebuilding one body (mc_desired_body): keep that part, drop the rest */
    cJSON *captured;
    int oom;
};

/* What a compact state rebuilds its remotes' bodies from. */
struct mc_desired_source {
    struct mc_desired_options opts; /* strings borrowed from the caller's options */
    char *proxy_class;
    struct mc_meshcluster *remotes; /* accepted remotes, owned */
    size_t nremotes;
    struct mc_remote_token *tokens; /* copies of the caller's, owned */
    size_t ntokens;
};

static char *fmt(struct ctx *c, const char *f, ...) __attribute__((format(printf, 2, 3)));

static char *fmt(struct ctx *c, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) {
        c->oom = 1;
        return NULL;
    }
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

/* cJSON's add helpers tolerate a NULL parent, so a failed allocation just flags oom. */
static cJSON *add_obj(struct ctx *c, cJSON *parent, const char *key)
{
    cJSON *o = cJSON_AddObjectToObject(parent, key);
    if (!o)
        c->oom = 1;
    return o;
}

static void add_str(struct ctx *c, cJSON *parent, const char *key, const char *val)
{
    if (!cJSON_AddStringToObject(parent, key, val ? val : ""))
        c->oom = 1;
}

static void add_num(struct ctx *c, cJSON *parent, const char *key, double val)
{
    if (!cJSON_AddNumberToObject(parent, key, val))
        c->oom = 1;
}

static cJSON *add_arr(struct ctx *c, cJSON *parent, const char *key)
{
    cJSON *a = cJSON_AddArrayToObject(parent, key);
    if (!a)
        c->oom = 1;
    return a;
}

static cJSON *push_obj(struct ctx *c, cJSON *arr)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        c->oom = 1;
        return NULL;
    }
    return o;
}

/* A new object with apiVersion, kind and metadata; labels marking it ours when owned. */
static cJSON *new_object(struct ctx *c, const char *api, const char *kind, const char *ns,
                         const char *name, const char *cluster, int owned, cJSON **meta)
{
    *meta = NULL; /* callers pass it on to cJSON's add helpers, which take a NULL parent */
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        c->oom = 1;
        return NULL;
    }
    add_str(c, o, "apiVersion", api);
    add_str(c, o, "kind", kind);
    *meta = add_obj(c, o, "metadata");
    add_str(c, *meta, "name", name);
    if (ns)
        add_str(c, *meta, "namespace", ns);
    if (owned) {
        cJSON *labels = add_obj(c, *meta, "labels");
        add_str(c, labels, MC_LABEL_MANAGED_BY, MC_FIELD_MANAGER);
        add_str(c, labels, MC_LABEL_CLUSTER, cluster);
    }
    return o;
}

static cJSON *labels_of(struct ctx *c, cJSON *meta)
{
    cJSON *l = cJSON_GetObjectItemCaseSensitive(meta, "labels");
    return l ? l : add_obj(c, meta, "labels");
}

static void push(struct ctx *c, cJSON *obj, enum mc_desired_role role, const char *cluster,
                 unsigned flags, const char *create_only)
{
    if (!obj)
        return;
    if (c->oom) {
        cJSON_Delete(obj);
        return;
    }
    if (c->capture >= 0) {
        if (c->part++ == c->capture && !c->captured)
            c->captured = obj;
        else
            cJSON_Delete(obj);
        return;
    }
    struct mc_desired *d = c->out;
    if (d->nobjects == c->capobjects) {
        size_t cap = c->capobjects ? c->capobjects * 2 : 16;
        struct mc_desired_object *p = realloc(d->objects, cap * sizeof(*p));
        if (!p) {
            cJSON_Delete(obj);
            c->oom = 1;
            return;
        }
        d->objects = p;
        c->capobjects = cap;
    }
    struct mc_desired_object *o = &d->objects[d->nobjects];
    memset(o, 0, sizeof(*o));
    o->remote = -1;
    char key[400];
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    if (k8s_object_key(obj, key, sizeof(key)) < 0 || !cJSON_IsString(kind) ||
        strlen(kind->valuestring) >= sizeof(o->kind) || !(o->key = strdup(key))) {
        cJSON_Delete(obj);
        c->oom = 1;
        return;
    }
    memcpy(o->kind, kind->valuestring, strlen(kind->valuestring) + 1);
    o->digest = k8s_json_hash(obj);
    /* Compacted as soon as built, so the loose form of the whole mesh never exists at once. */
    if (c->compact && c->remote >= 0) {
        o->remote = c->remote;
        o->part = c->part++;
        cJSON_Delete(obj);
    } else if (c->compact) {
        o->text = cJSON_PrintUnformatted(obj);
        cJSON_Delete(obj);
    } else {
        o->object = k8s_json_freeze_owned(obj);
    }
    o->cluster = strdup(cluster);
    if (!(o->object || o->text || o->remote >= 0) || !o->cluster) {
        k8s_json_frozen_free((cJSON *)o->object);
        free(o->text);
        free(o->key);
        free(o->cluster);
        c->oom = 1;
        return;
    }
    o->flags = flags;
    o->create_only[0] = create_only;
    o->role = role;
    d->nobjects++;
}

static void add_port(struct ctx *c, cJSON *ports, const char *name, int port, int target)
{
    cJSON *p = push_obj(c, ports);
    add_str(c, p, "name", name);
    add_num(c, p, "port", port);
    if (target > 0)
        add_num(c, p, "targetPort", target);
    add_str(c, p, "protocol", "TCP");
}

/* ------------------------------------------------------------------ the objects */

/* Step 7: the local east-west gateway as a Tailscale LoadBalancer. */
static void gateway_service(struct ctx *c, const struct mc_meshcluster *l)
{
    cJSON *meta;
    cJSON *o = new_object(c, "v1", "Service", c->o->istio_namespace, "istio-eastwestgateway",
                          l->name, 1, &meta);
    cJSON *labels = labels_of(c, meta);
    add_str(c, labels, "app", "istio-eastwestgateway");
    add_str(c, labels, "istio", "eastwestgateway");
    add_str(c, labels, MC_LABEL_NETWORK, l->network);
    cJSON *ann = add_obj(c, meta, "annotations");
    add_str(c, ann, "tailscale.com/hostname", l->gateway_hostname);
    size_t len = 1;
    for (size_t i = 0; i < l->ngateway_tags; i++)
        len += strlen(l->gateway_tags[i]) + 1;
    char *tags = calloc(1, len);
    if (!tags) {
        c->oom = 1;
    } else {
        for (size_t i = 0; i < l->ngateway_tags; i++) {
            if (i)
                strcat(tags, ",");
            strcat(tags, l->gateway_tags[i]);
        }
        add_str(c, ann, "tailscale.com/tags", tags);
        free(tags);
    }
    cJSON *spec = add_obj(c, o, "spec");
    add_str(c, spec, "type", "LoadBalancer");
    add_str(c, spec, "loadBalancerClass", "tailscale");
    cJSON *ports = add_arr(c, spec, "ports");
    /*
     * Each LB port targets the port the gateway pod listens on, whatever the LB port is:
     * Envoy serves readiness on 15021 always; for a Gateway server istiod binds the targetPort
     * of the Service port whose number the server names (our tls Gateway names ports.tls) and
     * binds the number itself when no Service port has it (Istio's expose-istiod Gateway names
     * 15012 and 15017). The istio/gateway chart's networkGatewayPorts use the same four.
     */
    add_port(c, ports, "status-port", l->ports.status, MC_POD_PORT_STATUS);
    add_port(c, ports, "tls", l->ports.tls, MC_POD_PORT_TLS);
    add_port(c, ports, "tls-istiod", l->ports.istiod, MC_POD_PORT_ISTIOD);
    add_port(c, ports, "tls-webhook", l->ports.webhook, MC_POD_PORT_WEBHOOK);
    cJSON *sel = add_obj(c, spec, "selector");
    add_str(c, sel, "app", "istio-eastwestgateway");
    add_str(c, sel, "istio", "eastwestgateway");
    push(c, o, MC_ROLE_GATEWAY_SERVICE, l->name, 0, NULL);
}

/*
 * Step 7: the Gateway that opens the tls port in AUTO_PASSTHROUGH. networking.istio.io
 * v1beta1 as in the guide: every Istio release since 1.6 serves it (v1 only since 1.22).
 */
static void cross_network_gateway(struct ctx *c, const struct mc_meshcluster *l)
{
    cJSON *meta;
    cJSON *o = new_object(c, "networking.istio.io/v1beta1", "Gateway", c->o->istio_namespace,
                          "cross-network-gateway", l->name, 1, &meta);
    cJSON *spec = add_obj(c, o, "spec");
    add_str(c, add_obj(c, spec, "selector"), "istio", "eastwestgateway");
    cJSON *srv = push_obj(c, add_arr(c, spec, "servers"));
    cJSON *port = add_obj(c, srv, "port");
    add_num(c, port, "number", l->ports.tls);
    add_str(c, port, "name", "tls");
    add_str(c, port, "protocol", "TLS");
    add_str(c, add_obj(c, srv, "tls"), "mode", "AUTO_PASSTHROUGH");
    cJSON *hosts = add_arr(c, srv, "hosts");
    if (!cJSON_AddItemToArray(hosts, cJSON_CreateString("*.local")))
        c->oom = 1;
    push(c, o, MC_ROLE_CROSS_NETWORK_GATEWAY, l->name, 0, NULL);
}

/* The network label on the istio namespace (from the multicloud module): that label only. */
static void namespace_label(struct ctx *c, const struct mc_meshcluster *l)
{
    cJSON *meta;
    cJSON *o = new_object(c, "v1", "Namespace", NULL, c->o->istio_namespace, l->name, 0, &meta);
    add_str(c, add_obj(c, meta, "labels"), MC_LABEL_NETWORK, l->network);
    push(c, o, MC_ROLE_NAMESPACE_LABEL, l->name, MC_DESIRED_LABELS | MC_DESIRED_MUST_EXIST, NULL);
}

/* An ExternalName egress Service for the Tailscale operator (Steps 4 and 8). */
static cJSON *egress_service(struct ctx *c, const char *ns, const char *name, const char *fqdn,
                             const char *proxy_class, const char *port_name, int port,
                             const char *cluster)
{
    cJSON *meta;
    cJSON *o = new_object(c, "v1", "Service", ns, name, cluster, 1, &meta);
    cJSON *ann = add_obj(c, meta, "annotations");
    add_str(c, ann, "tailscale.com/tailnet-fqdn", fqdn);
    if (proxy_class)
        add_str(c, ann, "tailscale.com/proxy-class", proxy_class);
    cJSON *spec = add_obj(c, o, "spec");
    add_str(c, spec, "externalName", "placeholder");
    add_str(c, spec, "type", "ExternalName");
    add_port(c, add_arr(c, spec, "ports"), port_name, port, 0);
    return o;
}

/* Appends {<key>: inner, name: name} to the list at parent[list] (name first when
 * name_first, as kubeconfigs write users); returns inner. */
static cJSON *named_entry(struct ctx *c, cJSON *parent, const char *list, const char *key,
                          const char *name, int name_first)
{
    cJSON *e = push_obj(c, add_arr(c, parent, list));
    if (name_first)
        add_str(c, e, "name", name);
    cJSON *inner = add_obj(c, e, key);
    if (!name_first)
        add_str(c, e, "name", name);
    return inner;
}

/*
 * The kubeconfig istiod reads R with, built as a tree and emitted by the YAML serializer:
 * every value (server URL, names, token) is a scalar the emitter quotes as needed, so no
 * input can add a key (issue 18.2: a server holding "\n    insecure-skip-tls-verify: true"
 * once did). Keys in the order `istioctl create-remote-secret` writes them.
 */
static char *kubeconfig(struct ctx *c, const struct mc_meshcluster *r, const char *user,
                        const char *token)
{
    char *server = mc_meshcluster_api_server_url(r);
    cJSON *kc = cJSON_CreateObject();
    if (!server || !kc) {
        free(server);
        cJSON_Delete(kc);
        c->oom = 1;
        return NULL;
    }
    add_str(c, kc, "apiVersion", "v1");
    cJSON *cl = named_entry(c, kc, "clusters", "cluster", r->name, 0);
    add_str(c, cl, "server", server);
    if (r->ca_bundle && r->ca_bundle[0]) {
        /* Validated base64; re-encoded in one line, as client-go decodes it strictly. */
        unsigned char *pem = NULL;
        size_t len = 0;
        char *one_line = k8s_base64_decode(r->ca_bundle, 0, &pem, &len) == 0
                             ? k8s_base64_encode(pem, len)
                             : NULL;
        if (one_line)
            add_str(c, cl, "certificate-authority-data", one_line);
        else
            c->oom = 1;
        free(pem);
        free(one_line);
    }
    cJSON *ctx = named_entry(c, kc, "contexts", "context", r->name, 0);
    add_str(c, ctx, "cluster", r->name);
    add_str(c, ctx, "user", user);
    add_str(c, kc, "current-context", r->name);
    add_str(c, kc, "kind", "Config");
    add_str(c, named_entry(c, kc, "users", "user", user, 1), "token", token);
    free(server);
    char *text = c->oom ? NULL : k8s_yaml_emit(kc);
    cJSON_Delete(kc);
    if (!text)
        c->oom = 1;
    return text;
}

/* Step 6: the remote secret istiod discovers R with. Returns 1 if a token was missing. */
static int remote_secret(struct ctx *c, const struct mc_meshcluster *r,
                         const struct mc_remote_token *tokens, size_t ntokens)
{
    const char *token = "unused", *user = "tailscale-auth";
    if (r->auth == MC_AUTH_SECRET) {
        token = NULL;
        user = "meshcluster-token";
        for (size_t i = 0; i < ntokens; i++)
            if (tokens[i].cluster && strcmp(tokens[i].cluster, r->name) == 0)
                token = tokens[i].token;
        if (!token || !token[0])
            return 1;
    }
    char *name = fmt(c, "istio-remote-secret-%s", r->name);
    char *kc = kubeconfig(c, r, user, token);
    char *b64 = kc ? k8s_base64_encode(kc, strlen(kc)) : NULL;
    if (name && kc && b64) {
        cJSON *meta;
        cJSON *o = new_object(c, "v1", "Secret", c->o->istio_namespace, name, r->name, 1, &meta);
        add_str(c, labels_of(c, meta), "istio/multiCluster", "true");
        add_str(c, add_obj(c, meta, "annotations"), "networking.istio.io/cluster", r->name);
        add_str(c, o, "type", "Opaque");
        /* data, not stringData: the API server stores only data, so a re-apply is a no-op. */
        add_str(c, add_obj(c, o, "data"), r->name, b64);
        push(c, o, MC_ROLE_REMOTE_SECRET, r->name, 0, NULL);
    } else {
        c->oom = 1;
    }
    free(name);
    free(kc);
    free(b64);
    return 0;
}

static void remote_objects(struct ctx *c, const struct mc_meshcluster *r, const char *proxy_class)
{
    const struct mc_desired_options *o = c->o;
    char *api = fmt(c, "%s-k8s-operator", r->name);
    char *api_fqdn = fmt(c, "%s.%s", r->api_proxy_hostname, r->tailnet);
    char *ts = fmt(c, "%s-istio-eastwestgateway-ts", r->name);
    char *gw_fqdn = fmt(c, "%s.%s", r->gateway_hostname, r->tailnet);
    char *alias = fmt(c, "%s-istio-eastwestgateway", r->name);
    char *target = fmt(c, "%s-istio-eastwestgateway-ts.%s.svc.%s", r->name, o->istio_namespace,
                       o->cluster_domain);
    if (!c->oom) {
        push(c,
             egress_service(c, o->tailscale_namespace, api, api_fqdn, NULL, "https", 443, r->name),
             MC_ROLE_EGRESS_API, r->name, MC_DESIRED_CREATE_ONLY, "spec.externalName");
        push(c,
             egress_service(c, o->istio_namespace, ts, gw_fqdn, proxy_class, "tls", r->ports.tls,
                            r->name),
             MC_ROLE_EGRESS_GATEWAY, r->name, MC_DESIRED_CREATE_ONLY, "spec.externalName");
        cJSON *meta;
        cJSON *a = new_object(c, "v1", "Service", o->istio_namespace, alias, r->name, 1, &meta);
        cJSON *spec = add_obj(c, a, "spec");
        add_str(c, spec, "type", "ExternalName");
        add_str(c, spec, "externalName", target);
        add_port(c, add_arr(c, spec, "ports"), "tls", r->ports.tls, 0);
        push(c, a, MC_ROLE_GATEWAY_ALIAS, r->name, 0, NULL);
    }
    free(api);
    free(api_fqdn);
    free(ts);
    free(gw_fqdn);
    free(alias);
    free(target);
}

/* Everything made for remote r, in a fixed order (mc_desired_body relies on it). Returns 1 if
 * r's remote secret waits for a token. */
static int build_remote(struct ctx *c, const struct mc_meshcluster *r, const char *proxy_class,
                        const struct mc_remote_token *tokens, size_t ntokens)
{
    remote_objects(c, r, proxy_class);
    return remote_secret(c, r, tokens, ntokens);
}

/* ------------------------------------------------------------------ meshNetworks */

/*
 * Step 9: one entry per network, holding every accepted cluster on it: endpoints
 * fromRegistry (sorted) and gateways (the local gateway Service for L, the local alias of
 * each remote's gateway otherwise; sorted by address). Keys sorted, as Helm's toYaml does.
 */
static int cmp_network(const void *a, const void *b)
{
    const struct mc_meshcluster *x = *(const struct mc_meshcluster *const *)a;
    const struct mc_meshcluster *y = *(const struct mc_meshcluster *const *)b;
    int r = strcmp(x->network, y->network);
    return r ? r : strcmp(x->name, y->name);
}

static cJSON *mesh_networks(struct ctx *c, const struct mc_meshcluster *const *acc, size_t n,
                            const char *local)
{
    cJSON *nets = cJSON_CreateObject();
    /* Sorted by network, then name: each network is one run, its registries in order, and
     * grouping costs O(n log n) however many networks there are. */
    const struct mc_meshcluster **by_net = malloc((n ? n : 1) * sizeof(*by_net));
    char **addr = calloc(n ? n : 1, sizeof(*addr));
    int *port = calloc(n ? n : 1, sizeof(*port));
    if (!nets || !by_net || !addr || !port) {
        c->oom = 1;
        free(by_net);
        free(addr);
        free(port);
        return nets;
    }
    if (n)
        memcpy(by_net, acc, n * sizeof(*by_net));
    qsort(by_net, n, sizeof(*by_net), cmp_network);
    for (size_t start = 0, end; start < n; start = end) {
        end = start + 1;
        while (end < n && strcmp(by_net[end]->network, by_net[start]->network) == 0)
            end++;
        cJSON *net = add_obj(c, nets, by_net[start]->network);
        cJSON *eps = add_arr(c, net, "endpoints");
        cJSON *gws = add_arr(c, net, "gateways");
        size_t na = 0;
        for (size_t i = start; i < end; i++) {
            add_str(c, push_obj(c, eps), "fromRegistry", by_net[i]->name);
            if (strcmp(by_net[i]->name, local) == 0)
                addr[na] = fmt(c, "istio-eastwestgateway.%s.svc.%s", c->o->istio_namespace,
                               c->o->cluster_domain);
            else
                addr[na] = fmt(c, "%s-istio-eastwestgateway.%s.svc.%s", by_net[i]->name,
                               c->o->istio_namespace, c->o->cluster_domain);
            port[na] = by_net[i]->ports.tls;
            if (addr[na])
                na++;
        }
        /* Sort addresses, carrying the ports along (a network has few gateways). */
        for (size_t a = 1; a < na; a++)
            for (size_t b = a; b > 0 && strcmp(addr[b], addr[b - 1]) < 0; b--) {
                char *t = addr[b];
                addr[b] = addr[b - 1];
                addr[b - 1] = t;
                int p = port[b];
                port[b] = port[b - 1];
                port[b - 1] = p;
            }
        for (size_t a = 0; a < na; a++) {
            cJSON *g = push_obj(c, gws);
            add_str(c, g, "address", addr[a]);
            add_num(c, g, "port", port[a]);
            free(addr[a]);
        }
    }
    free(by_net);
    free(addr);
    free(port);
    return nets;
}

/* Emits a value as YAML without the trailing newline (Helm renders the key with |-). */
static char *yaml_text(struct ctx *c, const cJSON *v)
{
    char *s = k8s_yaml_emit(v);
    if (!s) {
        c->oom = 1;
        return NULL;
    }
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
    return s;
}

/* meshConfig.localityLbSetting into the Helm values, when the set has one. Helm merges maps
 * from several values sources, so the user's own meshConfig keys stay theirs. */
static void locality_values(struct ctx *c, cJSON *values)
{
    if (!c->out->locality_lb)
        return;
    cJSON *mesh = add_obj(c, values, "meshConfig");
    if (!mesh || !cJSON_AddItemReferenceToObject(mesh, "localityLbSetting", c->out->locality_lb))
        c->oom = 1;
}

static void mesh_networks_objects(struct ctx *c, const char *local)
{
    const struct mc_desired_options *o = c->o;
    cJSON *meta;
    if (o->mesh_networks_mode & MC_MESHNET_CONFIGMAP) {
        cJSON *wrap = cJSON_CreateObject();
        if (!wrap || !cJSON_AddItemReferenceToObject(wrap, "networks", c->out->mesh_networks))
            c->oom = 1;
        char *text = yaml_text(c, wrap);
        cJSON_Delete(wrap);
        cJSON *cm = new_object(c, "v1", "ConfigMap", o->istio_namespace, MC_ISTIO_CONFIGMAP, local,
                               0, &meta);
        add_str(c, add_obj(c, cm, "data"), MC_MESH_NETWORKS_KEY, text);
        free(text);
        push(c, cm, MC_ROLE_MESH_NETWORKS, local, MC_DESIRED_KEY | MC_DESIRED_MUST_EXIST, NULL);
    }
    if (o->mesh_networks_mode & MC_MESHNET_HELM_VALUES) {
        cJSON *values = cJSON_CreateObject();
        cJSON *global = add_obj(c, values, "global");
        if (!cJSON_AddItemReferenceToObject(global, "meshNetworks", c->out->mesh_networks))
            c->oom = 1;
        locality_values(c, values);
        char *text = k8s_yaml_emit(values);
        if (!text)
            c->oom = 1;
        cJSON_Delete(values);
        cJSON *cm = new_object(c, "v1", "ConfigMap", o->istio_namespace, o->helm_values_name, local,
                               1, &meta);
        add_str(c, add_obj(c, cm, "data"), MC_HELM_VALUES_KEY, text);
        free(text);
        push(c, cm, MC_ROLE_HELM_VALUES, local, 0, NULL);
    }
}

/* ------------------------------------------------------------------ entry point */

struct entry {
    struct mc_meshcluster mc;
    int malformed;
    struct mc_verdict verdict;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int r = strcmp(x->mc.name, y->mc.name);
    if (r == 0)
        r = strcmp(x->mc.creation_timestamp, y->mc.creation_timestamp);
    if (r == 0)
        r = strcmp(x->mc.uid, y->mc.uid);
    return r;
}

static void source_free(struct mc_desired_source *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nremotes; i++)
        mc_meshcluster_clear(&s->remotes[i]);
    for (size_t i = 0; i < s->ntokens; i++) {
        free((char *)s->tokens[i].cluster);
        free((char *)s->tokens[i].token);
    }
    free(s->remotes);
    free(s->tokens);
    free(s->proxy_class);
    free(s);
}

/* A compact state's source: the options, proxy class and tokens copied, room for n remotes. */
static struct mc_desired_source *source_new(const struct mc_desired_options *opts,
                                            const char *proxy_class,
                                            const struct mc_remote_token *tokens, size_t ntokens,
                                            size_t n)
{
    struct mc_desired_source *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->opts = *opts;
    s->proxy_class = strdup(proxy_class);
    s->remotes = calloc(n ? n : 1, sizeof(*s->remotes));
    s->tokens = calloc(ntokens ? ntokens : 1, sizeof(*s->tokens));
    int oom = !s->proxy_class || !s->remotes || !s->tokens;
    for (size_t i = 0; !oom && i < ntokens; i++, s->ntokens++) {
        s->tokens[i].cluster = tokens[i].cluster ? strdup(tokens[i].cluster) : NULL;
        s->tokens[i].token = tokens[i].token ? strdup(tokens[i].token) : NULL;
        oom = (tokens[i].cluster && !s->tokens[i].cluster) ||
              (tokens[i].token && !s->tokens[i].token);
    }
    if (oom) {
        source_free(s);
        return NULL;
    }
    return s;
}

size_t mc_desired_cluster_index(const struct mc_desired *d, const char *name)
{
    size_t lo = 0, hi = d->nclusters;
    if (!name)
        return hi;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->clusters[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->nclusters && strcmp(d->clusters[lo].name, name) == 0 ? lo : d->nclusters;
}

/* Each cluster's objects by role, so readers look an object up instead of naming it again. */
static void index_roles(struct mc_desired *d)
{
    for (size_t i = 0; i < d->nobjects; i++) {
        size_t ci = mc_desired_cluster_index(d, d->objects[i].cluster);
        if (ci < d->nclusters && d->clusters[ci].objects[d->objects[i].role] < 0)
            d->clusters[ci].objects[d->objects[i].role] = (long)i;
    }
}

/* The MeshClusters of one computation: parsed, sorted by name and judged. */
struct judged {
    size_t n;
    struct entry *e;             /* owns the parsed MeshClusters */
    struct mc_meshcluster *flat; /* shallow copies of e[].mc, in order: what validation reads */
    struct mc_verdict *verdicts;
    int *skip;                         /* malformed: validation passes them by */
    const struct mc_meshcluster **acc; /* the accepted ones, into flat */
    size_t nacc;
    const struct mc_meshcluster *local; /* the accepted local one, or NULL */
};

static void judged_free(struct judged *j)
{
    for (size_t i = 0; j->e && i < j->n; i++)
        mc_meshcluster_clear(&j->e[i].mc);
    free(j->e);
    free(j->flat);
    free(j->verdicts);
    free(j->skip);
    free(j->acc);
}

/* Parses every item of meshclusters into j->e; a malformed one keeps its name (if any) so its
 * verdict can be reported against it. 0 or -ENOMEM. */
static int parse_all(const cJSON *meshclusters, struct judged *j)
{
    size_t n = j->n;
    j->e = calloc(n ? n : 1, sizeof(*j->e));
    j->flat = calloc(n ? n : 1, sizeof(*j->flat));
    j->verdicts = calloc(n ? n : 1, sizeof(*j->verdicts));
    j->skip = calloc(n ? n : 1, sizeof(*j->skip));
    j->acc = calloc(n ? n : 1, sizeof(*j->acc));
    if (!j->e || !j->flat || !j->verdicts || !j->skip || !j->acc)
        return -ENOMEM;
    size_t i = 0;
    for (const cJSON *item = meshclusters ? meshclusters->child : NULL; item;
         item = item->next, i++) {
        struct entry *e = &j->e[i];
        int rc = mc_meshcluster_parse(item, &e->mc, &e->verdict.why);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(item, "metadata"), "name");
            e->malformed = 1;
            e->mc.name = strdup(cJSON_IsString(nm) ? nm->valuestring : "");
            e->mc.creation_timestamp = strdup("");
            e->mc.uid = strdup("");
            if (!e->mc.name || !e->mc.creation_timestamp || !e->mc.uid)
                return -ENOMEM;
        }
    }
    return 0;
}

/* Sorts by name (the oldest of a duplicate name first) and validates the set as a whole. */
static void judge(struct judged *j, const char *local, const struct mc_desired_options *opts)
{
    qsort(j->e, j->n, sizeof(*j->e), entry_cmp);
    for (size_t i = 0; i < j->n; i++) {
        j->flat[i] = j->e[i].mc; /* shallow: e[] keeps ownership */
        j->skip[i] = j->e[i].malformed;
        j->verdicts[i] = j->e[i].verdict;
        j->verdicts[i].accepted = 0;
    }
    struct mc_secret_policy policy = {
        .token_namespace =
            opts->token_namespace ? opts->token_namespace : opts->tailscale_namespace,
        .istio_namespace = opts->istio_namespace,
    };
    mc_validate(j->flat, j->n, local, &policy, j->skip, j->verdicts);
}

/* One result per MeshCluster into out->clusters, and the accepted ones into j->acc. 0 or
 * -ENOMEM. */
static int cluster_results(struct judged *j, const char *local, struct mc_desired *out)
{
    out->clusters = calloc(j->n ? j->n : 1, sizeof(*out->clusters));
    if (!out->clusters)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < j->n; i++) {
        struct mc_cluster_result *r = &out->clusters[out->nclusters++];
        for (size_t k = 0; k < MC_ROLE_COUNT; k++)
            r->objects[k] = -1;
        r->name = strdup(j->flat[i].name);
        if (!r->name)
            rc = -ENOMEM;
        r->local = local && strcmp(j->flat[i].name, local) == 0;
        r->accepted = j->verdicts[i].accepted;
        r->why = j->verdicts[i].why;
        if (!r->accepted)
            continue;
        j->acc[j->nacc++] = &j->flat[i];
        if (r->local)
            j->local = &j->flat[i];
    }
    return rc;
}

/* Every accepted remote's objects. In compact form the state's source takes the parsed remote
 * over from j->e (flat and acc still see the same strings), so its bodies can be rebuilt
 * when they are read. */
static void remotes(struct ctx *c, struct judged *j, const char *proxy_class,
                    const struct mc_remote_token *tokens, size_t ntokens)
{
    struct mc_desired *out = c->out;
    for (size_t i = 0; i < j->nacc && !c->oom; i++) {
        if (j->acc[i] == j->local)
            continue;
        const struct mc_meshcluster *r = j->acc[i];
        if (c->compact) {
            struct mc_desired_source *s = out->source;
            size_t k = (size_t)(j->acc[i] - j->flat);
            s->remotes[s->nremotes] = j->e[k].mc;
            memset(&j->e[k].mc, 0, sizeof(j->e[k].mc));
            r = &s->remotes[s->nremotes];
            c->remote = (int)s->nremotes++;
            c->part = 0;
        }
        int pending = build_remote(c, r, proxy_class, tokens, ntokens);
        c->remote = -1;
        /* Every result of that name: a duplicate follows its first. */
        for (size_t k = mc_desired_cluster_index(out, j->acc[i]->name);
             pending && k < out->nclusters && strcmp(out->clusters[k].name, j->acc[i]->name) == 0;
             k++)
            out->clusters[k].remote_secret_pending = 1;
    }
}

/* The local cluster's DNS (Step 3) when it asks for it: the guide's DNSConfig (the nameserver
 * image left to the operator's default, so an operator upgrade brings its matching nameserver)
 * and the zone to forward. */
static void dns(struct ctx *c, const struct mc_meshcluster *l)
{
    if (!l || l->dns != MC_DNS_MANAGED || c->oom)
        return;
    cJSON *meta;
    cJSON *o = new_object(c, "tailscale.com/v1alpha1", "DNSConfig", NULL, MC_DNSCONFIG_NAME,
                          l->name, 1, &meta);
    cJSON *spec = add_obj(c, o, "spec");
    add_obj(c, spec, "nameserver");
    c->out->dns.dns_config = o;
    c->out->dns.zone = strdup(l->tailnet);
    if (!o || !c->out->dns.zone)
        c->oom = 1;
}

/* Every object of the accepted MeshClusters: the local cluster's, the remotes', then
 * meshNetworks (without the local cluster's identity there is no network map to write). */
static void objects(struct ctx *c, struct judged *j, const struct mc_remote_token *tokens,
                    size_t ntokens)
{
    const struct mc_meshcluster *l = j->local;
    /* Egress proxies run here, so the local cluster's proxy class applies to them. */
    const char *proxy_class = l ? l->proxy_class : "common";
    if (l) {
        namespace_label(c, l);
        gateway_service(c, l);
        cross_network_gateway(c, l);
    }
    if (c->compact) {
        c->out->source = source_new(c->o, proxy_class, tokens, ntokens, j->nacc);
        if (!c->out->source) {
            c->oom = 1;
            return;
        }
        tokens = c->out->source->tokens;
    }
    remotes(c, j, proxy_class, tokens, ntokens);
    if (l && !c->oom) {
        c->out->mesh_networks = mesh_networks(c, j->acc, j->nacc, l->name);
        c->out->locality_lb = mc_locality_lb_setting(j->acc, j->nacc, &c->oom);
        if (c->out->mesh_networks && !c->oom)
            mesh_networks_objects(c, l->name);
    }
    dns(c, l);
}

static int compute(const cJSON *meshclusters, const char *local,
                   const struct mc_desired_options *opts, const struct mc_remote_token *tokens,
                   size_t ntokens, int compact, struct mc_desired *out)
{
    struct mc_desired_options defaults;
    if (!opts) {
        mc_desired_options_default(&defaults);
        opts = &defaults;
    }
    memset(out, 0, sizeof(*out));
    struct ctx c = {.o = opts, .out = out, .compact = compact, .remote = -1, .capture = -1};
    struct judged j = {.n = cJSON_IsArray(meshclusters) ? (size_t)cJSON_GetArraySize(meshclusters)
                                                        : 0};
    if (parse_all(meshclusters, &j) != 0) {
        c.oom = 1;
    } else {
        judge(&j, local, opts);
        if (cluster_results(&j, local, out) != 0)
            c.oom = 1;
        else
            objects(&c, &j, tokens, ntokens);
    }
    if (!c.oom)
        index_roles(out);
    /* Kept as long as the state: give back what the doubling reserved (up to half). */
    if (!c.oom && out->nobjects && out->nobjects < c.capobjects) {
        struct mc_desired_object *fit = realloc(out->objects, out->nobjects * sizeof(*fit));
        if (fit)
            out->objects = fit;
    }
    judged_free(&j);
    if (c.oom) {
        mc_desired_free(out);
        return -ENOMEM;
    }
    return 0;
}

int mc_desired_compute(const cJSON *meshclusters, const char *local,
                       const struct mc_desired_options *opts, const struct mc_remote_token *tokens,
                       size_t ntokens, struct mc_desired *out)
{
    return compute(meshclusters, local, opts, tokens, ntokens, 0, out);
}

int mc_desired_compute_compact(const cJSON *meshclusters, const char *local,
                               const struct mc_desired_options *opts,
                               const struct mc_remote_token *tokens, size_t ntokens,
                               struct mc_desired *out)
{
    return compute(meshclusters, local, opts, tokens, ntokens, 1, out);
}

cJSON *mc_desired_body(const struct mc_desired *d, size_t i)
{
    if (i >= d->nobjects)
        return NULL;
    const struct mc_desired_object *o = &d->objects[i];
    if (o->object)
        return cJSON_Duplicate(o->object, 1);
    if (o->text)
        return cJSON_Parse(o->text);
    const struct mc_desired_source *s = d->source;
    if (!s || o->remote < 0 || (size_t)o->remote >= s->nremotes)
        return NULL;
    /* The same builder with the same inputs pushes the same bodies in the same order; all but
     * the wanted one are dropped as they come (a remote has four, a few microseconds). */
    struct mc_desired scratch;
    memset(&scratch, 0, sizeof(scratch));
    struct ctx c = {.o = &s->opts, .out = &scratch, .remote = -1, .capture = o->part};
    build_remote(&c, &s->remotes[o->remote], s->proxy_class, s->tokens, s->ntokens);
    if (c.oom) {
        cJSON_Delete(c.captured);
        return NULL;
    }
    return c.captured;
}

void mc_desired_free(struct mc_desired *d)
{
    for (size_t i = 0; i < d->nobjects; i++) {
        k8s_json_frozen_free((cJSON *)d->objects[i].object);
        free(d->objects[i].text);
        free(d->objects[i].key);
        free(d->objects[i].cluster);
    }
    free(d->objects);
    for (size_t i = 0; i < d->nclusters; i++)
        free(d->clusters[i].name);
    free(d->clusters);
    cJSON_Delete(d->mesh_networks);
    cJSON_Delete(d->locality_lb);
    source_free(d->source);
    free(d->dns.zone);
    cJSON_Delete(d->dns.dns_config);
    memset(d, 0, sizeof(*d));
}

cJSON *mc_desired_object_for_update(const struct mc_desired_object *obj)
{
    cJSON *copy = cJSON_Duplicate(obj->object, 1);
    mc_desired_strip_create_only(copy, obj);
    return copy;
}

void mc_desired_strip_create_only(cJSON *copy, const struct mc_desired_object *obj)
{
    for (size_t i = 0; copy && i < 2 && obj->create_only[i]; i++) {
        /* Paths are "a.b.c": walk to the parent and drop the last segment. */
        char path[128];
        snprintf(path, sizeof(path), "%s", obj->create_only[i]);
        cJSON *parent = copy;
        char *save = NULL, *seg = strtok_r(path, ".", &save), *next;
        while (seg && (next = strtok_r(NULL, ".", &save)) != NULL) {
            parent = cJSON_GetObjectItemCaseSensitive(parent, seg);
            seg = next;
        }
        if (parent && seg)
            cJSON_DeleteItemFromObjectCaseSensitive(parent, seg);
    }
}

cJSON *mc_desired_objects_array(const struct mc_desired *d)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < d->nobjects; i++) {
        cJSON *copy = mc_desired_body(d, i);
        if (!copy || !cJSON_AddItemToArray(arr, copy)) {
            cJSON_Delete(copy);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    if (arr && d->dns.dns_config) {
        cJSON *copy = cJSON_Duplicate(d->dns.dns_config, 1);
        if (!copy || !cJSON_AddItemToArray(arr, copy)) {
            cJSON_Delete(copy);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}
