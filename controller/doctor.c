/*
 * `meshctl doctor`'s checks. See doctor.h. Each check reads one cluster's snapshot (and what
 * the daemon's desired-state function says the cluster should hold) and adds one finding.
 */
#include "controller/doctor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/json_get.h"
#include "controller/locality.h"
#include "controller/matrix.h"
#include "controller/meshcluster.h"
#include "controller/rbac_check.h"
#include "controller/status.h"
#include "controller/trust.h"
#include "k8s/base64.h"
#include "k8s/yaml.h"

/* Conditions a later daemon writes on each remote's MeshCluster (peer probes, istiod's
 * /debug/clusterz); doctor reports them when present. */
static const char *const peer_conditions[] = {"PeerAPIReachable", "PeerGatewayReachable",
                                              "IstiodSynced"};

static const char *const result_names[] = {"PASS", "WARN", "FAIL"};

const char *mc_check_result_name(enum mc_check_result r)
{
    return (unsigned)r < 3 ? result_names[r] : "FAIL";
}

/* Everything one cluster's checks share. */
struct doctor_ctx {
    struct mc_doctor_report *rep;
    const struct mc_doctor_snapshot *s;
    const struct mc_doctor_options *o;
    size_t index;
    const char *local;          /* the local MeshCluster's name, NULL when unknown */
    struct mc_meshcluster *mcs; /* parsed MeshClusters (those that parse) */
    size_t nmcs;
    const struct mc_meshcluster *self; /* the local one among mcs, or NULL */
    struct mc_desired desired;         /* what the daemon keeps applied here (when local known) */
    bool have_desired;
    struct mc_trust_result trust;
    /* localityLbSetting of istiod's mesh config as installed (the istio ConfigMap's mesh key),
     * NULL when absent or unreadable; points into live_mesh, which is owned. */
    const cJSON *live_locality;
    cJSON *live_mesh;
    int err; /* first allocation failure */
};

static struct mc_doctor_finding *add_finding(struct doctor_ctx *x, const char *check,
                                             enum mc_check_result res, const char *fix)
{
    struct mc_doctor_report *r = x->rep;
    if (r->nfindings == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 32;
        struct mc_doctor_finding *f = realloc(r->findings, ncap * sizeof(*f));
        if (!f) {
            x->err = -ENOMEM;
            return NULL;
        }
        r->findings = f;
        r->cap = ncap;
    }
    struct mc_doctor_finding *f = &r->findings[r->nfindings++];
    memset(f, 0, sizeof(*f));
    f->cluster = x->index;
    f->check = check;
    f->result = res;
    f->fix = res == MC_CHECK_PASS ? "" : fix;
    if (res > r->worst)
        r->worst = res;
    return f;
}

/* Adds a finding with its command and a printf-style message. */
__attribute__((format(printf, 6, 7))) static void finding(struct doctor_ctx *x, const char *check,
                                                          enum mc_check_result res,
                                                          const char *command, const char *fix,
                                                          const char *fmt, ...)
{
    struct mc_doctor_finding *f = add_finding(x, check, res, fix);
    if (!f)
        return;
    snprintf(f->command, sizeof(f->command), "%s", command);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof(f->message), fmt, ap);
    va_end(ap);
}

static const char *istio_ns(const struct doctor_ctx *x)
{
    return x->o->desired.istio_namespace;
}

/* The desired object of that kind whose body satisfies pred, as a new tree, or NULL. */
typedef bool (*body_pred)(const cJSON *body);

static cJSON *desired_find(struct doctor_ctx *x, const char *kind, body_pred pred, size_t *from)
{
    for (size_t i = from ? *from : 0; x->have_desired && i < x->desired.nobjects; i++) {
        if (strcmp(x->desired.objects[i].kind, kind) != 0)
            continue;
        cJSON *b = mc_desired_body(&x->desired, i);
        if (!b) {
            x->err = -ENOMEM;
            return NULL;
        }
        if (!pred || pred(b)) {
            if (from)
                *from = i + 1;
            return b;
        }
        cJSON_Delete(b);
    }
    return NULL;
}

static const char *meta_str(const cJSON *o, const char *key)
{
    return mc_json_str(mc_json_obj(o, "metadata"), key);
}

static const char *label_of(const cJSON *o, const char *key)
{
    return mc_json_str(mc_json_obj(mc_json_obj(o, "metadata"), "labels"), key);
}

static const char *annotation_of(const cJSON *o, const char *key)
{
    return mc_json_str(mc_json_obj(mc_json_obj(o, "metadata"), "annotations"), key);
}

/* The live counterpart of a desired object in one of the snapshot's arrays. */
static const cJSON *live_of(const cJSON *items, const cJSON *want)
{
    const char *name = meta_str(want, "name");
    return name ? mc_json_find_named(items, meta_str(want, "namespace"), name) : NULL;
}

/* ---- the checks ------------------------------------------------------------------------ */

static void check_local(struct doctor_ctx *x)
{
    const char *cmd = "kubectl get meshclusters -o custom-columns=NAME:.metadata.name,"
                      "ROLE:.status.role,READY:.status.conditions[?(@.type==\"Ready\")].status";
    if (!x->local) {
        finding(x, "local-meshcluster", MC_CHECK_FAIL, cmd,
                "run meshclusterd with --cluster-name set to this cluster's MeshCluster name",
                "no MeshCluster has status.role local: the daemon is not running here or its "
                "--cluster-name names none of the %d MeshClusters",
                cJSON_GetArraySize(x->s->meshclusters));
        return;
    }
    const cJSON *mc = mc_json_find_named(x->s->meshclusters, NULL, x->local);
    const cJSON *acc = mc_status_find_condition(mc_json_obj(mc, "status"), MC_COND_ACCEPTED);
    const char *st = mc_json_str(acc, "status");
    if (!x->self || !st || strcmp(st, "True") != 0) {
        finding(x, "local-meshcluster", MC_CHECK_FAIL, cmd,
                "fix the field the message names; apply the same MeshClusters everywhere",
                "MeshCluster %s is not accepted: %s", x->local,
                mc_json_str(acc, "message") ? mc_json_str(acc, "message")
                                            : "no Accepted condition");
        return;
    }
    finding(x, "local-meshcluster", MC_CHECK_PASS, cmd, "",
            "MeshCluster %s is local and accepted; %zu MeshClusters in the set", x->local, x->nmcs);
}

static void check_gateway_crd(struct doctor_ctx *x)
{
    const char *cmd = "kubectl get crd gateways.networking.istio.io";
    if (!x->s->gateway_crd)
        finding(x, "gateway-crd", MC_CHECK_FAIL, cmd,
                "apply Istio's base CRDs (guide Step 7): helm install istio-base istio/base",
                "the Gateway CRD is not installed: the east-west gateway gets no 15443 "
                "listener (\"no healthy upstream\")");
    else
        finding(x, "gateway-crd", MC_CHECK_PASS, cmd, "", "gateways.networking.istio.io exists");
}

/* The guide's checklist item 2 ("Gateway has 15443 listener?"): the listener comes from an
 * AUTO_PASSTHROUGH server on the MeshCluster's tls port (any port when the local MeshCluster
 * is unknown). */
static void check_gateway(struct doctor_ctx *x)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "kubectl get gateway cross-network-gateway -n %s -o yaml",
             istio_ns(x));
    const cJSON *servers = mc_json_arr(mc_json_obj(x->s->gateway, "spec"), "servers");
    long long want_port = x->self ? x->self->ports.tls : -1;
    bool passthrough = false, on_port = false;
    for (const cJSON *sv = servers ? servers->child : NULL; sv; sv = sv->next) {
        const char *mode = mc_json_str(mc_json_obj(sv, "tls"), "mode");
        if (!mode || strcmp(mode, "AUTO_PASSTHROUGH") != 0)
            continue;
        passthrough = true;
        on_port |= want_port < 0 || mc_json_num(mc_json_obj(sv, "port"), "number", -1) == want_port;
    }
    if (!x->s->gateway)
        finding(x, "east-west-gateway", MC_CHECK_FAIL, cmd,
                "start meshclusterd (it applies the Gateway), or apply it as in guide Step 7",
                "Gateway %s/cross-network-gateway does not exist: remote clusters' traffic has "
                "no listener on the tls port",
                istio_ns(x));
    else if (!passthrough)
        finding(x, "east-west-gateway", MC_CHECK_FAIL, cmd,
                "the tls server must use tls.mode AUTO_PASSTHROUGH (guide Step 7)",
                "Gateway cross-network-gateway has no AUTO_PASSTHROUGH server");
    else if (!on_port)
        finding(x, "east-west-gateway", MC_CHECK_FAIL, cmd,
                "the AUTO_PASSTHROUGH server must listen on spec.gateway.ports.tls (guide Step 7)",
                "cross-network-gateway has no AUTO_PASSTHROUGH server on port %lld: peers' "
                "meshNetworks send traffic there",
                want_port);
    else
        finding(x, "east-west-gateway", MC_CHECK_PASS, cmd, "",
                "cross-network-gateway exists with an AUTO_PASSTHROUGH server on the tls port");
}

/* 100.64.0.0/10: the CGNAT range Tailscale gives its nodes. */
static bool tailscale_ip(const char *s)
{
    struct in_addr a;
    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return false;
    unsigned long ip = ntohl(a.s_addr);
    return (ip & 0xFFC00000UL) == 0x64400000UL;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0 && s[n - m - 1] == '.';
}

static bool is_load_balancer(const cJSON *b)
{
    const char *t = mc_json_str(mc_json_obj(b, "spec"), "type");
    return t && strcmp(t, "LoadBalancer") == 0;
}

static void check_gateway_address(struct doctor_ctx *x)
{
    cJSON *want = desired_find(x, "Service", is_load_balancer, NULL);
    const char *name = want ? meta_str(want, "name") : "istio-eastwestgateway";
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "kubectl get svc %s -n %s -o jsonpath='{.status.loadBalancer}'",
             name, istio_ns(x));
    const cJSON *svc = mc_json_find_named(x->s->services, istio_ns(x), name);
    const cJSON *ing =
        mc_json_arr(mc_json_obj(mc_json_obj(svc, "status"), "loadBalancer"), "ingress");
    const char *host = NULL, *ip = NULL;
    for (const cJSON *e = ing ? ing->child : NULL; e; e = e->next) {
        if (!host)
            host = mc_json_str(e, "hostname");
        if (!ip || !tailscale_ip(ip))
            ip = mc_json_str(e, "ip") ? mc_json_str(e, "ip") : ip;
    }
    const char *tailnet = x->self ? x->self->tailnet : "";
    const char *fix_ts = "check the Tailscale operator is running and the ACLs allow the "
                         "gateway's tag (kubectl logs -n tailscale -l "
                         "app.kubernetes.io/name=tailscale-operator)";
    if (!svc)
        finding(x, "gateway-address", MC_CHECK_FAIL, cmd,
                "start meshclusterd (it applies the gateway Service, guide Step 7)",
                "Service %s/%s does not exist", istio_ns(x), name);
    else if (!host && !ip)
        finding(x, "gateway-address", MC_CHECK_FAIL, cmd, fix_ts,
                "%s has no load-balancer address yet (AddressPending)", name);
    else if (!host || !has_suffix(host, tailnet))
        finding(x, "gateway-address", MC_CHECK_FAIL, cmd,
                "set spec.tailscale.tailnet of the MeshCluster to the tailnet the operator "
                "joins (or join the operator to the declared tailnet)",
                "TailnetMismatch: the gateway's hostname %s does not end in the MeshCluster's "
                "tailnet %s: peers dial a name that does not resolve",
                host ? host : "(none)", tailnet);
    else if (!tailscale_ip(ip))
        finding(x, "gateway-address", MC_CHECK_FAIL, cmd, fix_ts,
                "%s's address %s is not a Tailscale 100.64.0.0/10 address: not on the tailnet",
                name, ip ? ip : "(none)");
    else
        finding(x, "gateway-address", MC_CHECK_PASS, cmd, "", "%s is %s (%s)", name, host, ip);
    cJSON_Delete(want);
}

static bool is_egress(const cJSON *b)
{
    return annotation_of(b, "tailscale.com/tailnet-fqdn") != NULL;
}

/* Appends ", s" (or s) to buf, keeping it terminated when full. */
static void list_append(char *buf, size_t size, const char *s)
{
    size_t used = strlen(buf);
    if (used < size)
        snprintf(buf + used, size - used, "%s%s", used ? ", " : "", s);
}

static void check_egress(struct doctor_ctx *x)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "kubectl get svc -n %s -o wide; kubectl get pods -n %s -l "
             "tailscale.com/parent-resource-type=svc",
             istio_ns(x), x->o->desired.tailscale_namespace);
    char bad[512] = "";
    size_t total = 0, from = 0;
    cJSON *want;
    while ((want = desired_find(x, "Service", is_egress, &from))) {
        total++;
        const cJSON *live = live_of(x->s->services, want);
        const cJSON *c =
            mc_status_find_condition(mc_json_obj(live, "status"), "TailscaleProxyReady");
        const char *st = mc_json_str(c, "status");
        char item[256];
        if (!live)
            snprintf(item, sizeof(item), "%s/%s missing", meta_str(want, "namespace"),
                     meta_str(want, "name"));
        else if (!st || strcmp(st, "True") != 0)
            snprintf(item, sizeof(item), "%s/%s TailscaleProxyReady=%s%s%s",
                     meta_str(want, "namespace"), meta_str(want, "name"), st ? st : "absent",
                     mc_json_str(c, "reason") ? " " : "",
                     mc_json_str(c, "reason") ? mc_json_str(c, "reason") : "");
        else
            item[0] = '\0';
        if (item[0])
            list_append(bad, sizeof(bad), item);
        cJSON_Delete(want);
    }
    if (bad[0])
        finding(x, "egress-proxies", MC_CHECK_FAIL, cmd,
                "check the Tailscale operator and the ProxyClass (use tailscale.com/proxy-class, "
                "not proxy-group); meshclusterd recreates missing Services",
                "egress proxies not ready: %s", bad);
    else
        finding(x, "egress-proxies", MC_CHECK_PASS, cmd, "",
                "%zu egress Services have TailscaleProxyReady=True", total);
}

/* The networks tree of one meshNetworks source: YAML text, then a path inside it. */
static cJSON *parse_networks(const char *yaml, const char *outer, const char *inner)
{
    if (!yaml)
        return NULL;
    cJSON *doc = k8s_yaml_parse_one(yaml, strlen(yaml), NULL, 0);
    cJSON *node = cJSON_GetObjectItemCaseSensitive(doc, outer);
    node = inner ? cJSON_GetObjectItemCaseSensitive(node, inner) : node;
    cJSON *out = node ? cJSON_Duplicate(node, 1) : NULL;
    cJSON_Delete(doc);
    return out;
}

/* Says how have differs from want. A network whose entry is there but wrong comes first: the
 * guide's pitfall is a gateway address that is not the local egress alias. */
static void describe_networks_diff(const cJSON *want, const cJSON *have, char *buf, size_t size)
{
    for (int pass = 0; pass < 2; pass++)
        for (const cJSON *n = want ? want->child : NULL; n; n = n->next) {
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(have, n->string);
            if ((pass == 0 && !h) || (h && cJSON_Compare(n, h, true)))
                continue;
            const cJSON *wg = mc_json_arr(n, "gateways"), *hg = mc_json_arr(h, "gateways");
            const char *wa = mc_json_str(wg ? wg->child : NULL, "address");
            const char *ha = mc_json_str(hg ? hg->child : NULL, "address");
            snprintf(buf, size, "network %s: want gateway %s, have %s", n->string, wa ? wa : "-",
                     h ? (ha ? ha : "no gateway") : "no entry");
            return;
        }
    for (const cJSON *h = have ? have->child : NULL; h; h = h->next)
        if (!cJSON_GetObjectItemCaseSensitive(want, h->string)) {
            snprintf(buf, size, "network %s is not in the MeshCluster set", h->string);
            return;
        }
    snprintf(buf, size, "it cannot be parsed");
}

static void check_mesh_networks(struct doctor_ctx *x)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "kubectl get configmap istio -n %s -o jsonpath='{.data.meshNetworks}'; kubectl get "
             "configmap %s -n %s -o yaml",
             istio_ns(x), x->o->desired.helm_values_name, istio_ns(x));
    const cJSON *want = x->desired.mesh_networks;
    const cJSON *cm = mc_json_find_named(x->s->configmaps, istio_ns(x), MC_ISTIO_CONFIGMAP);
    const cJSON *hv =
        mc_json_find_named(x->s->configmaps, istio_ns(x), x->o->desired.helm_values_name);
    cJSON *a = parse_networks(mc_json_str(mc_json_obj(cm, "data"), MC_MESH_NETWORKS_KEY),
                              "networks", NULL);
    cJSON *b = parse_networks(mc_json_str(mc_json_obj(hv, "data"), MC_HELM_VALUES_KEY), "global",
                              "meshNetworks");
    char why[384] = "";
    const char *where = "";
    if (a && !cJSON_Compare(a, want, true)) {
        describe_networks_diff(want, a, why, sizeof(why));
        where = "the istio ConfigMap's meshNetworks";
    } else if (b && !cJSON_Compare(b, want, true)) {
        describe_networks_diff(want, b, why, sizeof(why));
        where = "the Helm values' global.meshNetworks";
    }
    const char *fix = "let meshclusterd write meshNetworks (or copy `meshctl render`'s), with "
                      "gateways at the local egress aliases <R>-istio-eastwestgateway."
                      "<istio ns>.svc.cluster.local";
    if (why[0])
        finding(x, "mesh-networks", MC_CHECK_FAIL, cmd, fix, "%s differs from the set: %s", where,
                why);
    else if (!a && !b)
        finding(x, "mesh-networks", MC_CHECK_FAIL, cmd, fix,
                "no meshNetworks: neither the istio ConfigMap's key nor the Helm values "
                "ConfigMap %s holds one (IstioConfigMapMissing?)",
                x->o->desired.helm_values_name);
    else
        finding(x, "mesh-networks", MC_CHECK_PASS, cmd, "",
                "%s%s%s match the set and use the local egress aliases",
                a ? "the istio ConfigMap" : "", a && b ? " and " : "", b ? "the Helm values" : "");
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static bool is_remote_secret(const cJSON *b)
{
    return label_of(b, "istio/multiCluster") != NULL;
}

/* What a live remote secret lacks that istiod needs, "" when nothing. */
static void remote_secret_problem(const cJSON *want, const cJSON *live, char *buf, size_t size)
{
    const char *cluster = annotation_of(want, "networking.istio.io/cluster");
    const char *ml = live ? label_of(live, "istio/multiCluster") : NULL;
    const char *ann = live ? annotation_of(live, "networking.istio.io/cluster") : NULL;
    const cJSON *data = mc_json_obj(live, "data");
    buf[0] = '\0';
    if (!live)
        snprintf(buf, size, "%s missing", meta_str(want, "name"));
    else if (!ml || strcmp(ml, "true") != 0)
        snprintf(buf, size, "%s lacks label istio/multiCluster=true (istiod ignores it)",
                 meta_str(want, "name"));
    else if (!ann || !cluster || strcmp(ann, cluster) != 0)
        snprintf(buf, size, "%s lacks annotation networking.istio.io/cluster=%s",
                 meta_str(want, "name"), cluster ? cluster : "?");
    else if (!cluster || !mc_json_str(data, cluster))
        snprintf(buf, size, "%s has no kubeconfig under data.%s", meta_str(want, "name"),
                 cluster ? cluster : "?");
}

static void check_remote_secrets(struct doctor_ctx *x)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "kubectl get secret -n %s -l istio/multiCluster=true --show-labels",
             istio_ns(x));
    char bad[600] = "";
    size_t total = 0, from = 0;
    cJSON *want;
    while ((want = desired_find(x, "Secret", is_remote_secret, &from))) {
        total++;
        char item[256];
        remote_secret_problem(want, live_of(x->s->secrets, want), item, sizeof(item));
        if (item[0])
            list_append(bad, sizeof(bad), item);
        cJSON_Delete(want);
    }
    size_t pending = 0;
    for (size_t i = 0; i < x->desired.nclusters; i++)
        pending += x->desired.clusters[i].remote_secret_pending ? 1 : 0;
    if (bad[0])
        finding(x, "remote-secrets", MC_CHECK_FAIL, cmd,
                "start meshclusterd (it writes them), or recreate them as in guide Step 6",
                "remote secrets: %s", bad);
    else if (pending)
        finding(x, "remote-secrets", MC_CHECK_WARN, cmd,
                "create the token Secret that spec.remoteSecret.secretRef names",
                "%zu remote(s) with auth secret have no token yet (TokenPending)", pending);
    else
        finding(x, "remote-secrets", MC_CHECK_PASS, cmd, "",
                "%zu remote secrets, each with label istio/multiCluster and its cluster "
                "annotation",
                total);
}

static void check_network_label(struct doctor_ctx *x)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "kubectl get namespace %s -L %s", istio_ns(x), MC_LABEL_NETWORK);
    const char *have = label_of(x->s->istio_namespace, MC_LABEL_NETWORK);
    const char *want = x->self->network;
    if (!x->s->istio_namespace)
        finding(x, "network-label", MC_CHECK_FAIL, cmd, "install Istio (guide Step 5)",
                "namespace %s does not exist", istio_ns(x));
    else if (!have || strcmp(have, want) != 0)
        finding(x, "network-label", MC_CHECK_FAIL, cmd,
                "kubectl label namespace <istio ns> topology.istio.io/network=<network> "
                "--overwrite (meshclusterd keeps it)",
                "namespace %s has %s=%s, want %s", istio_ns(x), MC_LABEL_NETWORK,
                have ? have : "(unset)", want);
    else
        finding(x, "network-label", MC_CHECK_PASS, cmd, "", "namespace %s is on network %s",
                istio_ns(x), want);
}

static const char *secret_fp_cmd(void)
{
    return "kubectl get secret cacerts -n istio-system -o jsonpath='{.data.root-cert\\.pem}' | "
           "base64 -d | openssl x509 -noout -subject -fingerprint -sha256";
}

static void check_trust(struct doctor_ctx *x)
{
    const struct mc_trust_result *t = &x->trust;
    const char *fix_root = "issue every cluster's cacerts from one root: meshctl pki "
                           "intermediate / cacerts-secret, then restart istiod";
    const cJSON *cacerts = mc_json_find_named(x->s->secrets, istio_ns(x), MC_TRUST_CACERTS_SECRET);
    if (!cacerts) {
        finding(x, "cacerts", MC_CHECK_FAIL, secret_fp_cmd(), fix_root,
                "no %s/cacerts: istiod signs with its own self-signed root%s%s, which no other "
                "cluster trusts",
                istio_ns(x), t->istiod_root_fingerprint[0] ? " " : "", t->istiod_root_fingerprint);
        return;
    }
    finding(x, "cacerts", MC_CHECK_PASS, secret_fp_cmd(), "", "cacerts present, root %s",
            t->cacerts_root_fingerprint[0] ? t->cacerts_root_fingerprint : "(unreadable)");

    bool chain_bad = !strcmp(t->reason, PKI_REASON_CHAIN_INVALID) ||
                     !strcmp(t->reason, PKI_REASON_ROOT_MISMATCH) ||
                     !strcmp(t->reason, PKI_REASON_DECLARED_ROOTS_DISAGREE);
    finding(x, "cacerts-root", chain_bad ? MC_CHECK_FAIL : MC_CHECK_PASS,
            "meshctl pki verify --dir <the cluster's certs>", fix_root, "%s: %s", t->reason,
            chain_bad ? t->message : "the chain verifies and matches the declared root");

    const char *cmd_istiod = "kubectl get configmap istio-ca-root-cert -n istio-system -o "
                             "jsonpath='{.data.root-cert\\.pem}' | openssl x509 -noout "
                             "-fingerprint -sha256";
    if (!t->istiod_root_fingerprint[0])
        finding(x, "istiod-root", MC_CHECK_WARN, cmd_istiod, "check that istiod is running",
                "istiod has not published istio-ca-root-cert: is it running?");
    else if (t->cacerts_root_fingerprint[0] &&
             strcmp(t->istiod_root_fingerprint, t->cacerts_root_fingerprint) != 0)
        finding(x, "istiod-root", MC_CHECK_FAIL, cmd_istiod,
                "kubectl rollout restart deployment/istiod -n istio-system, then the workloads",
                "IstiodRootStale: istiod distributes root %s, cacerts holds %s: it started "
                "before cacerts existed",
                t->istiod_root_fingerprint, t->cacerts_root_fingerprint);
    else
        finding(x, "istiod-root", MC_CHECK_PASS, cmd_istiod, "",
                "istiod distributes cacerts' root");

    const char *cmd_exp = "kubectl get secret cacerts -n istio-system -o "
                          "jsonpath='{.data.ca-cert\\.pem}' | base64 -d | openssl x509 -noout "
                          "-enddate";
    if (!strcmp(t->reason, PKI_REASON_INTERMEDIATE_EXPIRED))
        finding(x, "intermediate-expiry", MC_CHECK_FAIL, cmd_exp,
                "issue a new intermediate from the shared root (meshctl pki intermediate) and "
                "update cacerts, then restart istiod",
                "the intermediate has expired (%s): istiod cannot sign workloads",
                t->intermediate_not_after[0] ? t->intermediate_not_after : "notAfter unknown");
    else if (t->warn || !strcmp(t->reason, PKI_REASON_EXPIRING_SOON))
        finding(x, "intermediate-expiry", MC_CHECK_WARN, cmd_exp,
                "issue a new intermediate from the shared root (meshctl pki intermediate) and "
                "update cacerts",
                "the intermediate expires at %s (within 30 days)", t->intermediate_not_after);
    else
        finding(x, "intermediate-expiry", MC_CHECK_PASS, cmd_exp, "",
                "the intermediate is valid until %s",
                t->intermediate_not_after[0] ? t->intermediate_not_after : "(unknown)");
}

/* True when a trafficPolicy enables locality load balancing without outlier detection (its
 * own or, for a subset or port, inherited from the enclosing policy). mesh_failover: the mesh
 * config enables it for every host, so a policy that does not turn it off enables it too. */
static bool policy_unguarded(const cJSON *policy, bool inherited_od, bool mesh_failover)
{
    bool od = inherited_od || mc_json_obj(policy, "outlierDetection");
    const cJSON *lb = mc_json_obj(policy, "loadBalancer");
    const cJSON *loc = mc_json_obj(lb, "localityLbSetting");
    const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(loc, "enabled");
    if ((loc || mesh_failover) && !cJSON_IsFalse(enabled) && !od)
        return true;
    const cJSON *ports = mc_json_arr(policy, "portLevelSettings");
    for (const cJSON *p = ports ? ports->child : NULL; p; p = p->next)
        if (policy_unguarded(p, od, false))
            return true;
    return false;
}

/* A host that names a Kubernetes Service of the mesh ("name", "name.ns", "*.ns.svc.<domain>",
 * "name.ns.svc.<domain>"): the services mesh-wide failover spreads across clusters; external
 * hosts (ServiceEntries) have no endpoints in other clusters to fail over to. */
static bool mesh_host(const struct doctor_ctx *x, const char *host)
{
    if (!host)
        return false;
    const char *dot = strchr(host, '.');
    if (!dot || !strchr(dot + 1, '.'))
        return true;
    char suffix[300];
    snprintf(suffix, sizeof(suffix), ".svc.%s", x->o->desired.cluster_domain);
    size_t n = strlen(host), k = strlen(suffix);
    return n > k && strcmp(host + n - k, suffix) == 0;
}

/* Mesh-wide failover is on: what the daemon writes for this set, or what istiod runs with. */
static bool mesh_failover(const struct doctor_ctx *x)
{
    const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(x->live_locality, "enabled");
    return (x->have_desired && x->desired.locality_lb) ||
           (x->live_locality && !cJSON_IsFalse(enabled) &&
            cJSON_GetArraySize(mc_json_arr(x->live_locality, "failover")) > 0);
}

static bool dr_unguarded(const struct doctor_ctx *x, const cJSON *dr, bool failover)
{
    const cJSON *spec = mc_json_obj(dr, "spec");
    const cJSON *top = mc_json_obj(spec, "trafficPolicy");
    bool mesh = failover && mesh_host(x, mc_json_str(spec, "host"));
    bool unguarded = policy_unguarded(top, false, mesh);
    const cJSON *subsets = mc_json_arr(spec, "subsets");
    for (const cJSON *sub = subsets ? subsets->child : NULL; sub && !unguarded; sub = sub->next)
        unguarded = policy_unguarded(mc_json_obj(sub, "trafficPolicy"),
                                     mc_json_obj(top, "outlierDetection") != NULL, mesh);
    return unguarded;
}

static void check_outlier_detection(struct doctor_ctx *x)
{
    const char *cmd = "kubectl get destinationrules -A -o yaml | grep -n "
                      "'host:\\|localityLbSetting\\|outlierDetection'";
    bool failover = mesh_failover(x);
    char bad[600] = "";
    size_t n = 0;
    for (const cJSON *dr = x->s->destination_rules ? x->s->destination_rules->child : NULL; dr;
         dr = dr->next) {
        if (!dr_unguarded(x, dr, failover))
            continue;
        char item[256];
        snprintf(item, sizeof(item), "%s/%s",
                 meta_str(dr, "namespace") ? meta_str(dr, "namespace") : "",
                 meta_str(dr, "name") ? meta_str(dr, "name") : "");
        list_append(bad, sizeof(bad), item);
        n++;
    }
    const char *scope = failover ? "locality failover is on mesh-wide, and " : "";
    if (n)
        finding(x, "outlier-detection", MC_CHECK_WARN, cmd,
                "add trafficPolicy.outlierDetection (e.g. consecutive5xxErrors: 3, "
                "baseEjectionTime: 30s): without it failover never ejects a failing cluster",
                "%s%zu DestinationRule(s) enable localityLbSetting without outlierDetection: %s",
                scope, n, bad);
    else
        finding(x, "outlier-detection", MC_CHECK_PASS, cmd, "",
                "%severy DestinationRule with localityLbSetting has outlierDetection%s", scope,
                failover ? " (a mesh service with no DestinationRule has none: it never fails "
                           "over)"
                         : "");
}

/* The pairs of a localityLbSetting as "from>to, ..." into buf. */
static void pairs_text(const cJSON *lb, char *buf, size_t size)
{
    const cJSON *failover = mc_json_arr(lb, "failover");
    buf[0] = '\0';
    for (const cJSON *p = failover ? failover->child : NULL; p; p = p->next) {
        char item[140];
        snprintf(item, sizeof(item), "%s>%s", mc_json_str(p, "from") ? mc_json_str(p, "from") : "",
                 mc_json_str(p, "to") ? mc_json_str(p, "to") : "");
        list_append(buf, size, item);
    }
}

/* Preferences naming a region no MeshCluster has: skipped by the daemon, listed here. */
static void unknown_preferences(const struct doctor_ctx *x, char *buf, size_t size)
{
    const struct mc_meshcluster *set[64];
    size_t n = x->nmcs < 64 ? x->nmcs : 64;
    for (size_t i = 0; i < n; i++)
        set[i] = &x->mcs[i];
    for (size_t i = 0; i < n; i++) {
        const char *u = mc_locality_unknown_preference(set[i], set, n);
        char item[160];
        snprintf(item, sizeof(item), "%s: %s", set[i]->name, u ? u : "");
        if (u)
            list_append(buf, size, item);
    }
}

/* The set's failover pairs, where they are written, and whether istiod runs with them. */
static void check_locality_failover(struct doctor_ctx *x)
{
    const char *cmd = "kubectl get cm istio -n istio-system -o jsonpath='{.data.mesh}' | grep -A20 "
                      "localityLbSetting";
    const cJSON *want = x->desired.locality_lb;
    char pairs[400], unknown[400] = "";
    pairs_text(want, pairs, sizeof(pairs));
    unknown_preferences(x, unknown, sizeof(unknown));
    if (unknown[0])
        finding(x, "locality-failover", MC_CHECK_WARN, "kubectl get meshclusters -o yaml",
                "name a region some MeshCluster has in spec.locality.failover, or drop the entry",
                "spec.locality.failover names regions no MeshCluster has (skipped): %s", unknown);
    else if (!want)
        finding(x, "locality-failover", MC_CHECK_PASS, cmd, "",
                "the set spans fewer than two regions (spec.locality.region): no failover "
                "between clusters");
    else if (x->live_locality && cJSON_Compare(x->live_locality, want, 1))
        finding(x, "locality-failover", MC_CHECK_PASS, cmd, "", "istiod runs with failover %s",
                pairs);
    else if (!mc_json_find_named(x->s->configmaps, istio_ns(x), x->o->desired.helm_values_name))
        finding(x, "locality-failover", MC_CHECK_WARN, cmd,
                "run the daemon with --mesh-networks helm-values or both, or copy "
                "meshConfig.localityLbSetting from `meshctl render` into istiod's installation",
                "failover %s is wanted but written nowhere: no ConfigMap %s (--mesh-networks "
                "configmap never edits the installer's mesh key)",
                pairs, x->o->desired.helm_values_name);
    else
        finding(x, "locality-failover", MC_CHECK_WARN, cmd,
                "give istiod's Helm release the values ConfigMap (README \"meshNetworks with "
                "Helm, Flux and Argo CD\")",
                "failover %s is in ConfigMap %s but istiod's mesh config %s", pairs,
                x->o->desired.helm_values_name,
                x->live_locality ? "has other pairs" : "has no localityLbSetting");
}

/* The extension point for checks the daemon makes itself (probes, istiod sync): report the
 * conditions it wrote on each remote's MeshCluster, when this daemon version writes them. */
static void check_peer_conditions(struct doctor_ctx *x)
{
    const char *cmd = "kubectl get meshclusters -o yaml";
    char bad[600] = "";
    size_t seen = 0;
    for (const cJSON *mc = x->s->meshclusters ? x->s->meshclusters->child : NULL; mc;
         mc = mc->next) {
        const cJSON *st = mc_json_obj(mc, "status");
        for (size_t i = 0; i < sizeof(peer_conditions) / sizeof(peer_conditions[0]); i++) {
            const cJSON *c = mc_status_find_condition(st, peer_conditions[i]);
            if (!c)
                continue;
            seen++;
            const char *s = mc_json_str(c, "status");
            if (s && strcmp(s, "True") == 0)
                continue;
            char item[256];
            snprintf(item, sizeof(item), "%s %s=%s %s", meta_str(mc, "name"), peer_conditions[i],
                     s ? s : "?", mc_json_str(c, "reason") ? mc_json_str(c, "reason") : "");
            list_append(bad, sizeof(bad), item);
        }
    }
    if (!seen)
        return; /* this daemon does not probe yet: nothing to report */
    if (bad[0])
        finding(x, "peer-conditions", MC_CHECK_FAIL, cmd,
                "see the condition messages: peer API server, gateway or istiod sync", "%s", bad);
    else
        finding(x, "peer-conditions", MC_CHECK_PASS, cmd, "",
                "%zu probe and istiod-sync conditions are True", seen);
}

/* ---- driver ---------------------------------------------------------------------------- */

typedef void (*check_fn)(struct doctor_ctx *x);

/* Checks that need to know which MeshCluster is local (what the daemon should have applied). */
static const check_fn local_checks[] = {
    check_gateway_address, check_egress,          check_mesh_networks,     check_remote_secrets,
    check_network_label,   check_peer_conditions, check_locality_failover,
};

/* The installed mesh config's localityLbSetting (a mesh key that does not parse has none). */
static void live_mesh(struct doctor_ctx *x)
{
    const cJSON *cm = mc_json_find_named(x->s->configmaps, istio_ns(x), MC_ISTIO_CONFIGMAP);
    const char *mesh = mc_json_str(mc_json_obj(cm, "data"), "mesh");
    char err[128];
    x->live_mesh = mesh ? k8s_yaml_parse_one(mesh, strlen(mesh), err, sizeof(err)) : NULL;
    x->live_locality = mc_json_obj(x->live_mesh, "localityLbSetting");
}

static int ctx_prepare(struct doctor_ctx *x)
{
    size_t n = (size_t)cJSON_GetArraySize(x->s->meshclusters);
    x->mcs = calloc(n ? n : 1, sizeof(*x->mcs));
    if (!x->mcs)
        return -ENOMEM;
    for (const cJSON *it = x->s->meshclusters->child; it; it = it->next) {
        if (mc_meshcluster_parse(it, &x->mcs[x->nmcs], NULL) != 0)
            continue; /* rejected with Accepted=False by the daemon; local-meshcluster says */
        if (x->local && strcmp(x->mcs[x->nmcs].name, x->local) == 0)
            x->self = &x->mcs[x->nmcs];
        x->nmcs++;
    }
    if (x->self) {
        if (mc_desired_compute(x->s->meshclusters, x->local, &x->o->desired, NULL, 0,
                               &x->desired) != 0)
            return -ENOMEM;
        x->have_desired = true;
    }
    live_mesh(x);
    struct mc_trust_input ti = {
        .cacerts_secret = mc_json_find_named(x->s->secrets, istio_ns(x), MC_TRUST_CACERTS_SECRET),
        .root_configmap =
            mc_json_find_named(x->s->configmaps, istio_ns(x), MC_TRUST_ROOT_CONFIGMAP),
        .clusters = x->mcs,
        .nclusters = x->nmcs,
        .now = x->o->now,
    };
    return mc_trust_evaluate(&ti, &x->trust) == -ENOMEM ? -ENOMEM : 0;
}

static void ctx_clear(struct doctor_ctx *x)
{
    for (size_t i = 0; i < x->nmcs; i++)
        mc_meshcluster_clear(&x->mcs[i]);
    free(x->mcs);
    if (x->have_desired)
        mc_desired_free(&x->desired);
    cJSON_Delete(x->live_mesh);
}

static int run_cluster(struct mc_doctor_report *rep, const struct mc_doctor_snapshot *s,
                       size_t index, const struct mc_doctor_options *o, char *root_fp)
{
    struct doctor_ctx x = {.rep = rep, .s = s, .o = o, .index = index};
    if (s->error || !s->meshclusters) {
        finding(&x, "api-server", MC_CHECK_FAIL, "kubectl get meshclusters",
                "check the kubeconfig, the API server and that the MeshCluster CRD is installed",
                "cannot read this cluster: %s", s->error ? s->error : "no MeshClusters");
        return x.err;
    }
    x.local = mc_matrix_local_name(s->meshclusters);
    int rc = ctx_prepare(&x);
    if (rc == 0) {
        check_local(&x);
        check_gateway_crd(&x);
        check_gateway(&x);
        for (size_t i = 0; x.self && i < sizeof(local_checks) / sizeof(local_checks[0]); i++)
            local_checks[i](&x);
        check_trust(&x);
        check_outlier_detection(&x);
        snprintf(root_fp, PKI_FP_LEN, "%s", x.trust.root_fingerprint);
    }
    ctx_clear(&x);
    return rc < 0 ? rc : x.err;
}

/* Cross-cluster: every cluster must sign under one root (the per-cluster TrustVerified only
 * compares against declarations, which may be absent or agree on the wrong thing). */
static void check_shared_root(struct mc_doctor_report *rep, size_t n, char (*fps)[PKI_FP_LEN])
{
    struct doctor_ctx x = {.rep = rep, .index = MC_DOCTOR_MESH};
    const char *cmd = "for c in <contexts>; do kubectl --context $c get secret cacerts -n "
                      "istio-system -o jsonpath='{.data.root-cert\\.pem}' | base64 -d | openssl "
                      "x509 -noout -fingerprint -sha256; done";
    char list[700] = "";
    bool differ = false;
    size_t known = 0;
    for (size_t i = 0; i < n; i++) {
        if (!fps[i][0])
            continue;
        if (known && strcmp(fps[i], fps[0]) != 0)
            differ = true;
        char item[160];
        snprintf(item, sizeof(item), "%s=%.23s...", rep->clusters[i], fps[i]);
        list_append(list, sizeof(list), item);
        known++;
    }
    if (differ)
        finding(&x, "shared-root", MC_CHECK_FAIL, cmd,
                "generate one root, issue each cluster's intermediate from it (meshctl pki), "
                "replace cacerts and restart istiod",
                "the clusters use different roots, cross-cluster mTLS fails: %s", list);
    else if (known < n)
        finding(&x, "shared-root", MC_CHECK_WARN, cmd, "read every cluster's cacerts",
                "only %zu of %zu clusters' roots are known: %s", known, n, list);
    else
        finding(&x, "shared-root", MC_CHECK_PASS, cmd, "", "all %zu clusters share root %s", n,
                n ? fps[0] : "-");
}

/* The bearer token of the kubeconfig stored under one key of a remote secret, or NULL. */
static char *remote_secret_token(const cJSON *encoded)
{
    unsigned char *yaml = NULL;
    size_t len = 0;
    if (!cJSON_IsString(encoded) || k8s_base64_decode(encoded->valuestring, 1 << 20, &yaml, &len))
        return NULL;
    cJSON *kc = k8s_yaml_parse_one((const char *)yaml, len, NULL, 0);
    free(yaml);
    const cJSON *users = mc_json_arr(kc, "users");
    const char *tok = mc_json_str(mc_json_obj(users ? users->child : NULL, "user"), "token");
    char *out = tok ? strdup(tok) : NULL;
    cJSON_Delete(kc);
    return out;
}

static size_t cluster_index(const struct mc_doctor_report *rep, size_t n, const char *name)
{
    for (size_t j = 0; j < n; j++)
        if (rep->clusters[j] && strcmp(rep->clusters[j], name) == 0)
            return j;
    return MC_DOCTOR_MESH;
}

/* One remote secret's identity against the reached cluster's bindings; appends a problem to
 * bad, counts what was checked. */
static void judge_identity(const struct mc_doctor_report *rep, const struct mc_doctor_snapshot *s,
                           size_t n, const char *peer, const cJSON *encoded, char *bad,
                           size_t badlen, size_t *checked, size_t *tailnet)
{
    char *token = remote_secret_token(encoded);
    char ns[64], sa[254];
    size_t j = cluster_index(rep, n, peer);
    if (token && strcmp(token, "unused") == 0) {
        (*tailnet)++; /* auth tailscale: the tailnet policy decides who it is */
    } else if (token && mc_token_service_account(token, ns, sizeof(ns), sa, sizeof(sa)) == 0 &&
               j != MC_DOCTOR_MESH && s[j].cluster_role_bindings) {
        (*checked)++;
        const char *b = mc_admin_binding_for(s[j].cluster_role_bindings, ns, sa);
        char item[640];
        snprintf(item, sizeof(item),
                 "to %s as ServiceAccount %s/%s, cluster-admin there by "
                 "ClusterRoleBinding %s",
                 peer, ns, sa, b ? b : "");
        if (b)
            list_append(bad, badlen, item);
    }
    free(token);
}

/* Cross-cluster: what a peer's istiod may do with our remote secret is decided in the peer
 * cluster, so only the pair of snapshots can tell (issue 16: reader, not cluster-admin). */
static void check_remote_identity(struct mc_doctor_report *rep, const struct mc_doctor_snapshot *s,
                                  size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct doctor_ctx x = {.rep = rep, .s = &s[i], .index = i};
        if (s[i].error || !s[i].secrets)
            continue;
        char bad[700] = "";
        size_t checked = 0, tailnet = 0;
        for (const cJSON *sec = s[i].secrets->child; sec; sec = sec->next) {
            if (!is_remote_secret(sec))
                continue;
            const cJSON *data = mc_json_obj(sec, "data");
            for (const cJSON *d = data ? data->child : NULL; d; d = d->next)
                judge_identity(rep, s, n, d->string, d, bad, sizeof(bad), &checked, &tailnet);
        }
        const char *cmd = "kubectl --context <peer> get clusterrolebindings -o wide | grep "
                          "cluster-admin";
        if (bad[0])
            finding(&x, "remote-identity", MC_CHECK_WARN, cmd,
                    "bind the account to a reader ClusterRole only (Istio's istio-reader role), "
                    "not cluster-admin",
                    "remote secrets reach peers as cluster-admin: %s", bad);
        else
            finding(&x, "remote-identity", MC_CHECK_PASS, cmd, "",
                    "%zu remote secret token(s) checked against their peer's bindings, none "
                    "cluster-admin; %zu authenticated by the tailnet policy (meshctl render "
                    "--tailnet-policy grants a reader group)",
                    checked, tailnet);
    }
}

int mc_doctor_run(const struct mc_doctor_snapshot *snapshots, size_t n,
                  const struct mc_doctor_options *opts, struct mc_doctor_report *out)
{
    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if ((n && !snapshots) || !opts)
        return -EINVAL;
    out->clusters = calloc(n ? n : 1, sizeof(*out->clusters));
    char(*fps)[PKI_FP_LEN] = calloc(n ? n : 1, sizeof(*fps));
    int rc = out->clusters && fps ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *local =
            snapshots[i].meshclusters ? mc_matrix_local_name(snapshots[i].meshclusters) : NULL;
        out->nclusters = i + 1;
        out->clusters[i] = strdup(local ? local : snapshots[i].source ? snapshots[i].source : "?");
        rc = out->clusters[i] ? run_cluster(out, &snapshots[i], i, opts, fps[i]) : -ENOMEM;
    }
    if (rc == 0 && n > 0) {
        check_shared_root(out, n, fps);
        check_remote_identity(out, snapshots, n);
    }
    free(fps);
    if (rc < 0)
        mc_doctor_report_free(out);
    return rc;
}

void mc_doctor_report_free(struct mc_doctor_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->clusters && i < r->nclusters; i++)
        free(r->clusters[i]);
    free(r->clusters);
    free(r->findings);
    memset(r, 0, sizeof(*r));
}

cJSON *mc_doctor_to_json(const struct mc_doctor_report *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *clusters = cJSON_AddArrayToObject(o, "clusters");
    cJSON *checks = cJSON_AddArrayToObject(o, "checks");
    bool ok = o && clusters && checks &&
              cJSON_AddStringToObject(o, "result", mc_check_result_name(r->worst));
    for (size_t i = 0; ok && i < r->nclusters; i++)
        ok = cJSON_AddItemToArray(clusters, cJSON_CreateString(r->clusters[i]));
    for (size_t i = 0; ok && i < r->nfindings; i++) {
        const struct mc_doctor_finding *f = &r->findings[i];
        cJSON *c = cJSON_CreateObject();
        if (!c || !cJSON_AddItemToArray(checks, c)) {
            cJSON_Delete(c);
            ok = false;
            break;
        }
        ok = cJSON_AddStringToObject(
                 c, "cluster", f->cluster == MC_DOCTOR_MESH ? "*" : r->clusters[f->cluster]) &&
             cJSON_AddStringToObject(c, "check", f->check) &&
             cJSON_AddStringToObject(c, "result", mc_check_result_name(f->result)) &&
             cJSON_AddStringToObject(c, "message", f->message) &&
             cJSON_AddStringToObject(c, "command", f->command) &&
             (!f->fix[0] || cJSON_AddStringToObject(c, "fix", f->fix));
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
