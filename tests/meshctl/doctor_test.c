/*
 * Proves controller/doctor.c, table-driven: a healthy cluster (its objects built by the
 * daemon's own desired-state function, with the statuses the Tailscale operator and istiod
 * give them, cacerts from the shared root) passes every check; then one row per check outcome,
 * each seeding one fault from the guide's checklist, its troubleshooting section or the
 * multicloud module's pitfalls, names the check that must report it and how. Across clusters,
 * the same root passes and two roots fail shared-root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "chain_util.h"
#include "controller/doctor.h"
#include "controller/status.h"

#define TAILNET "your-tailnet.ts.net"

struct world {
    struct tchain shared, sibling, other, expiring;
    char shared_fp[PKI_FP_LEN];
};

/* One cluster's objects, as doctor's caller reads them. */
struct cluster {
    cJSON *mcs, *crd, *gw, *ns, *svcs, *secrets, *cms, *drs, *crbs;
};

static struct world *W;

static int world_setup(void **state)
{
    W = calloc(1, sizeof(*W));
    tchain_make(&W->shared, "cluster1", 730);
    tchain_make_sibling(&W->sibling, &W->shared, "cluster2");
    tchain_make(&W->other, "cluster1", 730);
    tchain_make(&W->expiring, "cluster1", 10);
    tfingerprint(W->shared.root, W->shared_fp);
    return 0;
}

static int world_teardown(void **state)
{
    tchain_free(&W->shared);
    tchain_free(&W->sibling);
    tchain_free(&W->other);
    tchain_free(&W->expiring);
    free(W);
    return 0;
}

static cJSON *parse(const char *json)
{
    cJSON *v = cJSON_Parse(json);
    assert_non_null(v);
    return v;
}

static void add_b64(cJSON *data, const char *key, const char *pem)
{
    size_t n = strlen(pem);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)pem, (int)n);
    cJSON_AddStringToObject(data, key, out);
    free(out);
}

static cJSON *cacerts_of(const struct tchain *c)
{
    cJSON *s = parse("{\"kind\":\"Secret\",\"metadata\":{\"name\":\"cacerts\","
                     "\"namespace\":\"istio-system\"},\"data\":{}}");
    cJSON *data = cJSON_GetObjectItem(s, "data");
    add_b64(data, "ca-cert.pem", c->ca_pem);
    add_b64(data, "ca-key.pem", c->ca_key_pem);
    add_b64(data, "root-cert.pem", c->root_pem);
    add_b64(data, "cert-chain.pem", c->chain_pem);
    return s;
}

static cJSON *root_configmap_of(const char *root_pem)
{
    cJSON *cm = parse("{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"istio-ca-root-cert\","
                      "\"namespace\":\"istio-system\"},\"data\":{}}");
    cJSON_AddStringToObject(cJSON_GetObjectItem(cm, "data"), "root-cert.pem", root_pem);
    return cm;
}

/* The MeshCluster set as the local daemon leaves it: its own role local, all accepted. */
static cJSON *meshclusters(const char *local)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 1; i <= 2; i++) {
        char buf[768];
        snprintf(buf, sizeof(buf),
                 "{\"apiVersion\":\"meshcluster.io/v1alpha1\",\"kind\":\"MeshCluster\","
                 "\"metadata\":{\"name\":\"cluster%d\",\"generation\":1},\"spec\":{\"tailscale\":"
                 "{\"tailnet\":\"" TAILNET "\"},\"trust\":{\"rootCAFingerprint\":\"%s\"}},"
                 "\"status\":{\"role\":\"%s\",\"conditions\":[{\"type\":\"Accepted\","
                 "\"status\":\"True\",\"reason\":\"Valid\",\"message\":\"\"}]}}",
                 i, W->shared_fp, (i == 1) == !strcmp(local, "cluster1") ? "local" : "remote");
        cJSON_AddItemToArray(arr, parse(buf));
    }
    return arr;
}

/* What the Tailscale operator adds to the Services the daemon applies. */
static void operator_status(cJSON *svc)
{
    const cJSON *md = cJSON_GetObjectItem(svc, "metadata");
    const cJSON *ann = cJSON_GetObjectItem(md, "annotations");
    const char *type =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "spec"), "type"));
    cJSON *st = cJSON_AddObjectToObject(svc, "status");
    if (type && !strcmp(type, "LoadBalancer")) {
        char buf[256];
        snprintf(buf, sizeof(buf),
                 "{\"ingress\":[{\"hostname\":\"%s." TAILNET "\"},{\"ip\":\"100.100.7.9\"}]}",
                 cJSON_GetStringValue(cJSON_GetObjectItem(ann, "tailscale.com/hostname")));
        cJSON_AddItemToObject(st, "loadBalancer", parse(buf));
    } else if (cJSON_GetObjectItem(ann, "tailscale.com/tailnet-fqdn")) {
        cJSON_AddItemToObject(st, "conditions",
                              parse("[{\"type\":\"TailscaleProxyReady\",\"status\":\"True\","
                                    "\"reason\":\"ProxyReady\"}]"));
    }
}

/* A healthy cluster `local`: every object the daemon applies, in the state its neighbours
 * leave them, cacerts from chain and istiod serving its root. */
static void cluster_healthy(struct cluster *c, const char *local, const struct tchain *chain)
{
    memset(c, 0, sizeof(*c));
    c->mcs = meshclusters(local);
    c->crd = parse("{\"kind\":\"CustomResourceDefinition\",\"metadata\":{\"name\":"
                   "\"gateways.networking.istio.io\"}}");
    c->svcs = cJSON_CreateArray();
    c->secrets = cJSON_CreateArray();
    c->cms = cJSON_CreateArray();
    c->drs = cJSON_CreateArray();
    struct mc_desired_options o;
    mc_desired_options_default(&o);
    struct mc_desired d;
    assert_int_equal(mc_desired_compute(c->mcs, local, &o, NULL, 0, &d), 0);
    for (size_t i = 0; i < d.nobjects; i++) {
        cJSON *b = mc_desired_body(&d, i);
        const char *kind = d.objects[i].kind;
        if (!strcmp(kind, "Namespace"))
            c->ns = b;
        else if (!strcmp(kind, "Gateway"))
            c->gw = b;
        else if (!strcmp(kind, "Service"))
            operator_status(b), cJSON_AddItemToArray(c->svcs, b);
        else if (!strcmp(kind, "Secret"))
            cJSON_AddItemToArray(c->secrets, b);
        else if (!strcmp(kind, "ConfigMap"))
            cJSON_AddItemToArray(c->cms, b);
        else
            cJSON_Delete(b);
    }
    mc_desired_free(&d);
    cJSON_AddItemToArray(c->secrets, cacerts_of(chain));
    cJSON_AddItemToArray(c->cms, root_configmap_of(chain->root_pem));
}

static void cluster_free(struct cluster *c)
{
    cJSON *all[] = {c->mcs, c->crd, c->gw, c->ns, c->svcs, c->secrets, c->cms, c->drs, c->crbs};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        cJSON_Delete(all[i]);
}

static struct mc_doctor_snapshot snapshot_of(const struct cluster *c, const char *source)
{
    return (struct mc_doctor_snapshot){.source = source,
                                       .meshclusters = c->mcs,
                                       .gateway_crd = c->crd,
                                       .gateway = c->gw,
                                       .istio_namespace = c->ns,
                                       .services = c->svcs,
                                       .secrets = c->secrets,
                                       .configmaps = c->cms,
                                       .destination_rules = c->drs,
                                       .cluster_role_bindings = c->crbs};
}

static void run(const struct cluster *cs, size_t n, struct mc_doctor_report *rep)
{
    struct mc_doctor_snapshot s[4];
    static const char *const names[] = {"kc1", "kc2", "kc3", "kc4"};
    for (size_t i = 0; i < n; i++)
        s[i] = snapshot_of(&cs[i], names[i]);
    struct mc_doctor_options o;
    mc_desired_options_default(&o.desired);
    o.now = time(NULL);
    assert_int_equal(mc_doctor_run(s, n, &o, rep), 0);
}

static const struct mc_doctor_finding *find(const struct mc_doctor_report *r, size_t cluster,
                                            const char *check)
{
    for (size_t i = 0; i < r->nfindings; i++)
        if (r->findings[i].cluster == cluster && !strcmp(r->findings[i].check, check))
            return &r->findings[i];
    return NULL;
}

/* ---- faults: each edits cluster1's objects ------------------------------------------- */

static cJSON *named(cJSON *items, const char *name)
{
    for (cJSON *it = items->child; it; it = it->next)
        if (!strcmp(cJSON_GetStringValue(
                        cJSON_GetObjectItem(cJSON_GetObjectItem(it, "metadata"), "name")),
                    name))
            return it;
    fail_msg("no object %s", name);
    return NULL;
}

static void drop(cJSON *items, const char *name)
{
    cJSON_Delete(cJSON_DetachItemViaPointer(items, named(items, name)));
}

static void f_no_local(struct cluster *c)
{
    cJSON *st = cJSON_GetObjectItem(named(c->mcs, "cluster1"), "status");
    cJSON_ReplaceItemInObject(st, "role", cJSON_CreateString("remote"));
}
static void f_not_accepted(struct cluster *c)
{
    cJSON *st = cJSON_GetObjectItem(named(c->mcs, "cluster1"), "status");
    cJSON_ReplaceItemInObject(st, "conditions",
                              parse("[{\"type\":\"Accepted\",\"status\":\"False\",\"reason\":"
                                    "\"InvalidTailnet\",\"message\":\"bad tailnet\"}]"));
}
static void f_no_crd(struct cluster *c)
{
    cJSON_Delete(c->crd);
    c->crd = NULL;
}
static void f_no_gateway(struct cluster *c)
{
    cJSON_Delete(c->gw);
    c->gw = NULL;
}
static void f_gateway_not_passthrough(struct cluster *c)
{
    cJSON *sv =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(c->gw, "spec"), "servers"), 0);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(sv, "tls"), "mode", cJSON_CreateString("SIMPLE"));
}
static void f_gateway_wrong_port(struct cluster *c)
{
    cJSON *sv =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(c->gw, "spec"), "servers"), 0);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(sv, "port"), "number", cJSON_CreateNumber(443));
}
static cJSON *lb_status(struct cluster *c)
{
    return cJSON_GetObjectItem(named(c->svcs, "istio-eastwestgateway"), "status");
}
static void f_lb_pending(struct cluster *c)
{
    cJSON_DeleteItemFromObject(lb_status(c), "loadBalancer");
}
static void f_lb_wrong_tailnet(struct cluster *c)
{
    cJSON_ReplaceItemInObject(lb_status(c), "loadBalancer",
                              parse("{\"ingress\":[{\"hostname\":\"ewgw-paris.tail0000.ts.net\","
                                    "\"ip\":\"100.100.7.9\"}]}"));
}
static void f_lb_not_tailscale_ip(struct cluster *c)
{
    cJSON_ReplaceItemInObject(
        lb_status(c), "loadBalancer",
        parse("{\"ingress\":[{\"hostname\":\"cluster1-istio-eastwestgateway." TAILNET
              "\",\"ip\":\"10.0.0.7\"}]}"));
}
static void f_egress_not_ready(struct cluster *c)
{
    cJSON *st = cJSON_GetObjectItem(named(c->svcs, "cluster2-istio-eastwestgateway-ts"), "status");
    cJSON_ReplaceItemInObject(st, "conditions",
                              parse("[{\"type\":\"TailscaleProxyReady\",\"status\":\"False\","
                                    "\"reason\":\"ProxyCreationFailed\"}]"));
}
static void f_egress_missing(struct cluster *c)
{
    drop(c->svcs, "cluster2-k8s-operator");
}
/* The guide's pitfall: meshNetworks pointing at the remote gateway instead of the local
 * egress alias. */
static void f_mesh_networks_remote_address(struct cluster *c)
{
    cJSON *data = cJSON_GetObjectItem(named(c->cms, "istio"), "data");
    cJSON_ReplaceItemInObject(
        data, "meshNetworks",
        cJSON_CreateString("networks:\n  cluster1:\n    endpoints:\n    - fromRegistry: cluster1\n"
                           "    gateways:\n    - address: "
                           "istio-eastwestgateway.istio-system.svc.cluster.local\n"
                           "      port: 15443\n  cluster2:\n    endpoints:\n    - fromRegistry: "
                           "cluster2\n    gateways:\n    - address: "
                           "cluster2-istio-eastwestgateway." TAILNET "\n      port: 15443\n"));
}
static void f_mesh_networks_none(struct cluster *c)
{
    drop(c->cms, "istio");
    drop(c->cms, "meshcluster-istiod-values");
}
static void f_remote_secret_missing(struct cluster *c)
{
    drop(c->secrets, "istio-remote-secret-cluster2");
}
static void f_remote_secret_unlabelled(struct cluster *c)
{
    cJSON *md = cJSON_GetObjectItem(named(c->secrets, "istio-remote-secret-cluster2"), "metadata");
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(md, "labels"), "istio/multiCluster");
}
static void f_remote_secret_no_annotation(struct cluster *c)
{
    cJSON *md = cJSON_GetObjectItem(named(c->secrets, "istio-remote-secret-cluster2"), "metadata");
    cJSON_DeleteItemFromObject(md, "annotations");
}
static void f_network_label(struct cluster *c)
{
    cJSON *md = cJSON_GetObjectItem(c->ns, "metadata");
    cJSON_DeleteItemFromObject(md, "labels");
}
static void f_no_cacerts(struct cluster *c)
{
    drop(c->secrets, "cacerts");
}
static void f_cacerts_other_root(struct cluster *c)
{
    drop(c->secrets, "cacerts");
    drop(c->cms, "istio-ca-root-cert");
    cJSON_AddItemToArray(c->secrets, cacerts_of(&W->other));
    cJSON_AddItemToArray(c->cms, root_configmap_of(W->other.root_pem));
}
static void f_istiod_stale(struct cluster *c)
{
    drop(c->cms, "istio-ca-root-cert");
    cJSON_AddItemToArray(c->cms, root_configmap_of(W->other.root_pem));
}
static void f_expiring(struct cluster *c)
{
    /* Its own root, declared, so only the expiry differs from a healthy cluster. */
    char fp[PKI_FP_LEN];
    tfingerprint(W->expiring.root, fp);
    for (cJSON *mc = c->mcs->child; mc; mc = mc->next)
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cJSON_GetObjectItem(mc, "spec"), "trust"),
                                  "rootCAFingerprint", cJSON_CreateString(fp));
    drop(c->secrets, "cacerts");
    drop(c->cms, "istio-ca-root-cert");
    cJSON_AddItemToArray(c->secrets, cacerts_of(&W->expiring));
    cJSON_AddItemToArray(c->cms, root_configmap_of(W->expiring.root_pem));
}
static void f_dr_locality_no_outlier(struct cluster *c)
{
    cJSON_AddItemToArray(c->drs,
                         parse("{\"metadata\":{\"name\":\"payments\",\"namespace\":\"prod\"},"
                               "\"spec\":{\"host\":\"payments\",\"trafficPolicy\":{"
                               "\"loadBalancer\":{\"localityLbSetting\":{\"enabled\":true}}}}}"));
}
static void f_dr_subset_locality_no_outlier(struct cluster *c)
{
    cJSON_AddItemToArray(c->drs, parse("{\"metadata\":{\"name\":\"cart\",\"namespace\":\"prod\"},"
                                       "\"spec\":{\"host\":\"cart\",\"subsets\":[{\"name\":\"v1\","
                                       "\"trafficPolicy\":{\"loadBalancer\":{\"localityLbSetting\":"
                                       "{}}}}]}}"));
}
static void f_dr_locality_with_outlier(struct cluster *c)
{
    cJSON_AddItemToArray(c->drs,
                         parse("{\"metadata\":{\"name\":\"payments\",\"namespace\":\"prod\"},"
                               "\"spec\":{\"host\":\"payments\",\"trafficPolicy\":{"
                               "\"outlierDetection\":{\"consecutive5xxErrors\":3},"
                               "\"loadBalancer\":{\"localityLbSetting\":{}}},\"subsets\":[{"
                               "\"name\":\"v1\",\"trafficPolicy\":{\"loadBalancer\":{"
                               "\"localityLbSetting\":{}}}}]}}"));
}
static void f_dr_locality_disabled(struct cluster *c)
{
    cJSON_AddItemToArray(c->drs,
                         parse("{\"metadata\":{\"name\":\"payments\",\"namespace\":\"prod\"},"
                               "\"spec\":{\"trafficPolicy\":{\"loadBalancer\":{"
                               "\"localityLbSetting\":{\"enabled\":false}}}}}"));
}
/* cluster1 in region us, cluster2 in eu (cluster1 also prefers pref, when not NULL). */
static void regions(struct cluster *c, const char *pref)
{
    const char *names[] = {"cluster1", "cluster2"}, *region[] = {"us", "eu"};
    for (size_t i = 0; i < 2; i++) {
        cJSON *spec = cJSON_GetObjectItem(named(c->mcs, names[i]), "spec");
        cJSON *loc = cJSON_AddObjectToObject(spec, "locality");
        cJSON_AddStringToObject(loc, "region", region[i]);
        if (i == 0 && pref)
            cJSON_AddItemToObject(loc, "failover", cJSON_CreateStringArray(&pref, 1));
    }
}
/* istiod's installed mesh config (the istio ConfigMap's mesh key) holding failover pairs. */
static void installed_mesh(struct cluster *c, const char *pairs_yaml)
{
    cJSON *data = cJSON_GetObjectItem(named(c->cms, "istio"), "data");
    char mesh[512];
    snprintf(mesh, sizeof(mesh),
             "trustDomain: cluster.local\nlocalityLbSetting:\n  enabled: true\n  failover:\n%s",
             pairs_yaml);
    cJSON_AddStringToObject(data, "mesh", mesh);
}
#define US_EU "  - from: us\n    to: eu\n  - from: eu\n    to: us\n"
static void f_regions_not_installed(struct cluster *c)
{
    regions(c, NULL);
}
static void f_regions_written_nowhere(struct cluster *c)
{
    regions(c, NULL);
    drop(c->cms, "meshcluster-istiod-values");
}
static void f_regions_installed(struct cluster *c)
{
    regions(c, NULL);
    installed_mesh(c, US_EU);
}
static void f_regions_installed_stale(struct cluster *c)
{
    regions(c, NULL);
    installed_mesh(c, "  - from: us\n    to: ap\n");
}
static void f_regions_unknown_preference(struct cluster *c)
{
    regions(c, "mars");
    installed_mesh(c, US_EU);
}
static void add_dr(struct cluster *c, const char *host, const char *policy)
{
    char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"name\":\"payments\",\"namespace\":\"prod\"},"
             "\"spec\":{\"host\":\"%s\",\"trafficPolicy\":%s}}",
             host, policy);
    cJSON_AddItemToArray(c->drs, parse(buf));
}
static void f_mesh_failover_dr_no_outlier(struct cluster *c)
{
    f_regions_installed(c);
    add_dr(c, "payments.prod.svc.cluster.local", "{\"connectionPool\":{}}");
}
static void f_mesh_failover_dr_outlier(struct cluster *c)
{
    f_regions_installed(c);
    add_dr(c, "payments", "{\"outlierDetection\":{\"consecutive5xxErrors\":3}}");
}
static void f_mesh_failover_external_host(struct cluster *c)
{
    f_regions_installed(c);
    add_dr(c, "api.example.com", "{\"connectionPool\":{}}");
}
static void f_one_region_dr_no_outlier(struct cluster *c)
{
    add_dr(c, "payments.prod.svc.cluster.local", "{\"connectionPool\":{}}");
}
static void f_peer_probe_failed(struct cluster *c)
{
    cJSON *st = cJSON_GetObjectItem(named(c->mcs, "cluster2"), "status");
    cJSON_AddItemToArray(cJSON_GetObjectItem(st, "conditions"),
                         parse("{\"type\":\"PeerAPIReachable\",\"status\":\"False\",\"reason\":"
                               "\"ConnectTimeout\",\"message\":\"\"}"));
}
static void f_peer_probe_ok(struct cluster *c)
{
    cJSON *st = cJSON_GetObjectItem(named(c->mcs, "cluster2"), "status");
    cJSON_AddItemToArray(cJSON_GetObjectItem(st, "conditions"),
                         parse("{\"type\":\"IstiodSynced\",\"status\":\"True\",\"reason\":"
                               "\"synced\",\"message\":\"\"}"));
}

struct row {
    const char *name;
    void (*fault)(struct cluster *c);
    const char *check;
    enum mc_check_result want;
    const char *says; /* a substring of the finding's message */
};

static const struct row rows[] = {
    {"no local MeshCluster", f_no_local, "local-meshcluster", MC_CHECK_FAIL, "status.role local"},
    {"local not accepted", f_not_accepted, "local-meshcluster", MC_CHECK_FAIL, "bad tailnet"},
    {"Gateway CRD missing", f_no_crd, "gateway-crd", MC_CHECK_FAIL, "not installed"},
    {"Gateway deleted", f_no_gateway, "east-west-gateway", MC_CHECK_FAIL, "does not exist"},
    {"Gateway not passthrough", f_gateway_not_passthrough, "east-west-gateway", MC_CHECK_FAIL,
     "AUTO_PASSTHROUGH"},
    {"Gateway on another port", f_gateway_wrong_port, "east-west-gateway", MC_CHECK_FAIL,
     "no AUTO_PASSTHROUGH server on port 15443"},
    {"LB address pending", f_lb_pending, "gateway-address", MC_CHECK_FAIL, "AddressPending"},
    {"LB wrong tailnet", f_lb_wrong_tailnet, "gateway-address", MC_CHECK_FAIL,
     "TailnetMismatch: the gateway's hostname ewgw-paris.tail0000.ts.net"},
    {"LB not a tailnet IP", f_lb_not_tailscale_ip, "gateway-address", MC_CHECK_FAIL, "10.0.0.7"},
    {"egress not ready", f_egress_not_ready, "egress-proxies", MC_CHECK_FAIL,
     "cluster2-istio-eastwestgateway-ts TailscaleProxyReady=False ProxyCreationFailed"},
    {"egress missing", f_egress_missing, "egress-proxies", MC_CHECK_FAIL,
     "tailscale/cluster2-k8s-operator missing"},
    {"meshNetworks remote address", f_mesh_networks_remote_address, "mesh-networks", MC_CHECK_FAIL,
     "have cluster2-istio-eastwestgateway.your-tailnet.ts.net"},
    {"meshNetworks absent", f_mesh_networks_none, "mesh-networks", MC_CHECK_FAIL,
     "no meshNetworks"},
    {"remote secret missing", f_remote_secret_missing, "remote-secrets", MC_CHECK_FAIL,
     "istio-remote-secret-cluster2 missing"},
    {"remote secret unlabelled", f_remote_secret_unlabelled, "remote-secrets", MC_CHECK_FAIL,
     "lacks label istio/multiCluster"},
    {"remote secret no annotation", f_remote_secret_no_annotation, "remote-secrets", MC_CHECK_FAIL,
     "networking.istio.io/cluster=cluster2"},
    {"network label missing", f_network_label, "network-label", MC_CHECK_FAIL, "(unset)"},
    {"no cacerts", f_no_cacerts, "cacerts", MC_CHECK_FAIL, "self-signed"},
    {"cacerts other root", f_cacerts_other_root, "cacerts-root", MC_CHECK_FAIL, "RootMismatch"},
    {"istiod before cacerts", f_istiod_stale, "istiod-root", MC_CHECK_FAIL, "IstiodRootStale"},
    {"intermediate expiring", f_expiring, "intermediate-expiry", MC_CHECK_WARN, "within 30 days"},
    {"locality without outlier", f_dr_locality_no_outlier, "outlier-detection", MC_CHECK_WARN,
     "prod/payments"},
    {"subset locality without outlier", f_dr_subset_locality_no_outlier, "outlier-detection",
     MC_CHECK_WARN, "prod/cart"},
    {"locality with outlier (inherited)", f_dr_locality_with_outlier, "outlier-detection",
     MC_CHECK_PASS, "every DestinationRule"},
    {"locality disabled", f_dr_locality_disabled, "outlier-detection", MC_CHECK_PASS,
     "every DestinationRule"},
    {"regions, values not given to istiod", f_regions_not_installed, "locality-failover",
     MC_CHECK_WARN, "failover us>eu, eu>us is in ConfigMap meshcluster-istiod-values"},
    {"regions, no values ConfigMap", f_regions_written_nowhere, "locality-failover", MC_CHECK_WARN,
     "written nowhere"},
    {"regions, istiod runs with them", f_regions_installed, "locality-failover", MC_CHECK_PASS,
     "istiod runs with failover us>eu, eu>us"},
    {"regions, istiod runs other pairs", f_regions_installed_stale, "locality-failover",
     MC_CHECK_WARN, "has other pairs"},
    {"failover preference names no region", f_regions_unknown_preference, "locality-failover",
     MC_CHECK_WARN, "cluster1: mars"},
    {"mesh failover, DR without outlier", f_mesh_failover_dr_no_outlier, "outlier-detection",
     MC_CHECK_WARN, "locality failover is on mesh-wide, and 1 DestinationRule(s)"},
    {"mesh failover, DR with outlier", f_mesh_failover_dr_outlier, "outlier-detection",
     MC_CHECK_PASS, "locality failover is on mesh-wide"},
    {"mesh failover, external host", f_mesh_failover_external_host, "outlier-detection",
     MC_CHECK_PASS, "every DestinationRule"},
    {"one region, DR without outlier", f_one_region_dr_no_outlier, "outlier-detection",
     MC_CHECK_PASS, "every DestinationRule"},
    {"peer probe failed", f_peer_probe_failed, "peer-conditions", MC_CHECK_FAIL,
     "cluster2 PeerAPIReachable=False ConnectTimeout"},
    {"peer istiod synced", f_peer_probe_ok, "peer-conditions", MC_CHECK_PASS, "True"},
};

static void test_healthy_passes_everything(void **state)
{
    struct cluster cs[2];
    cluster_healthy(&cs[0], "cluster1", &W->shared);
    cluster_healthy(&cs[1], "cluster2", &W->sibling);
    struct mc_doctor_report rep;
    run(cs, 2, &rep);
    for (size_t i = 0; i < rep.nfindings; i++)
        if (rep.findings[i].result != MC_CHECK_PASS)
            fail_msg("%s: %s %s", rep.findings[i].check,
                     mc_check_result_name(rep.findings[i].result), rep.findings[i].message);
    assert_int_equal(rep.worst, MC_CHECK_PASS);
    static const char *const every[] = {
        "local-meshcluster", "gateway-crd",      "east-west-gateway", "gateway-address",
        "egress-proxies",    "mesh-networks",    "remote-secrets",    "network-label",
        "cacerts",           "cacerts-root",     "istiod-root",       "intermediate-expiry",
        "outlier-detection", "locality-failover"};
    for (size_t c = 0; c < 2; c++)
        for (size_t i = 0; i < sizeof(every) / sizeof(every[0]); i++)
            if (!find(&rep, c, every[i]))
                fail_msg("cluster %zu: no %s finding", c, every[i]);
    assert_non_null(find(&rep, MC_DOCTOR_MESH, "shared-root"));
    assert_null(find(&rep, 0, "peer-conditions")); /* no daemon writes them yet: silent */
    cJSON *j = mc_doctor_to_json(&rep);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "result")), "PASS");
    cJSON_Delete(j);
    mc_doctor_report_free(&rep);
    cluster_free(&cs[0]);
    cluster_free(&cs[1]);
}

static void test_each_fault_is_found(void **state)
{
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        struct cluster c;
        cluster_healthy(&c, "cluster1", &W->shared);
        rows[r].fault(&c);
        struct mc_doctor_report rep;
        run(&c, 1, &rep);
        const struct mc_doctor_finding *f = find(&rep, 0, rows[r].check);
        if (!f)
            fail_msg("row \"%s\": no %s finding", rows[r].name, rows[r].check);
        if (f->result != rows[r].want || !strstr(f->message, rows[r].says))
            fail_msg("row \"%s\": %s is %s \"%s\", want %s with \"%s\"", rows[r].name,
                     rows[r].check, mc_check_result_name(f->result), f->message,
                     mc_check_result_name(rows[r].want), rows[r].says);
        if (f->result != MC_CHECK_PASS && (!f->fix[0] || !f->command[0]))
            fail_msg("row \"%s\": a %s without command or fix", rows[r].name,
                     mc_check_result_name(f->result));
        if (rows[r].want != MC_CHECK_PASS)
            assert_true(rep.worst >= rows[r].want);
        mc_doctor_report_free(&rep);
        cluster_free(&c);
    }
}

/* Across clusters: two clusters each consistent with its own declaration but on different
 * roots, which no per-cluster check can see. */
static void test_shared_root_across_clusters(void **state)
{
    struct cluster cs[2];
    cluster_healthy(&cs[0], "cluster1", &W->shared);
    cluster_healthy(&cs[1], "cluster2", &W->sibling);
    f_expiring(&cs[1]); /* cluster2 on its own root (declared there, so TrustVerified is happy) */
    struct mc_doctor_report rep;
    run(cs, 2, &rep);
    const struct mc_doctor_finding *f = find(&rep, MC_DOCTOR_MESH, "shared-root");
    assert_non_null(f);
    assert_int_equal(f->result, MC_CHECK_FAIL);
    assert_non_null(strstr(f->message, "different roots"));
    assert_int_equal(find(&rep, 1, "cacerts-root")->result, MC_CHECK_PASS);
    mc_doctor_report_free(&rep);
    cluster_free(&cs[0]);
    cluster_free(&cs[1]);
}

static void test_unreadable_cluster(void **state)
{
    struct mc_doctor_snapshot s = {.source = "kc", .error = "connection refused"};
    struct mc_doctor_options o;
    mc_desired_options_default(&o.desired);
    o.now = time(NULL);
    struct mc_doctor_report rep;
    assert_int_equal(mc_doctor_run(&s, 1, &o, &rep), 0);
    assert_int_equal(rep.worst, MC_CHECK_FAIL);
    assert_non_null(strstr(find(&rep, 0, "api-server")->message, "connection refused"));
    mc_doctor_report_free(&rep);
}

/* A ServiceAccount token as kube-apiserver issues one: header.payload.signature, base64url
 * without padding; only the payload matters here. */
static char *sa_jwt(const char *ns, const char *name)
{
    char payload[256];
    snprintf(payload, sizeof(payload),
             "{\"iss\":\"https://kubernetes.default.svc\",\"sub\":\"system:serviceaccount:%s:%s\"}",
             ns, name);
    char b64[512];
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)payload, (int)strlen(payload));
    for (char *p = b64; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    char *eq = strchr(b64, '=');
    if (eq)
        *eq = '\0';
    char *jwt = malloc(1024);
    snprintf(jwt, 1024, "eyJhbGciOiJSUzI1NiJ9.%s.c2ln", b64);
    return jwt;
}

/* Puts a kubeconfig with token into cluster1's remote secret for cluster2. */
static void remote_token(struct cluster *c, const char *token)
{
    char kc[2048];
    snprintf(kc, sizeof(kc),
             "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster2\n  cluster:\n"
             "    server: https://cluster2-k8s-operator." TAILNET "\nusers:\n- name: cluster2\n"
             "  user:\n    token: %s\ncontexts:\n- name: cluster2\n  context:\n"
             "    cluster: cluster2\n    user: cluster2\ncurrent-context: cluster2\n",
             token);
    for (cJSON *sec = c->secrets->child; sec; sec = sec->next) {
        cJSON *data = cJSON_GetObjectItem(sec, "data");
        if (cJSON_GetObjectItem(data, "cluster2")) {
            cJSON_DeleteItemFromObject(data, "cluster2");
            add_b64(data, "cluster2", kc);
            return;
        }
    }
    fail_msg("cluster1 has no remote secret for cluster2");
}

/* Across clusters: a remote secret's token names an account that the cluster it reaches makes
 * cluster-admin (through a group every ServiceAccount is in): only the pair tells. */
static void test_remote_identity_across_clusters(void **state)
{
    struct cluster cs[2];
    cluster_healthy(&cs[0], "cluster1", &W->shared);
    cluster_healthy(&cs[1], "cluster2", &W->sibling);
    char *jwt = sa_jwt("istio-system", "istio-reader-service-account");
    remote_token(&cs[0], jwt);
    cs[1].crbs = parse(
        "[{\"metadata\":{\"name\":\"reader\"},\"roleRef\":{\"kind\":\"ClusterRole\",\"name\":"
        "\"istio-reader-clusterrole-istio-system\"},\"subjects\":[{\"kind\":\"ServiceAccount\","
        "\"namespace\":\"istio-system\",\"name\":\"istio-reader-service-account\"}]},"
        "{\"metadata\":{\"name\":\"cluster-admin\"},\"roleRef\":{\"kind\":\"ClusterRole\","
        "\"name\":\"cluster-admin\"},\"subjects\":[{\"kind\":\"Group\",\"name\":"
        "\"system:masters\"}]}]");
    struct mc_doctor_report rep;
    run(cs, 2, &rep);
    const struct mc_doctor_finding *f = find(&rep, 0, "remote-identity");
    assert_non_null(f);
    assert_int_equal(f->result, MC_CHECK_PASS);
    assert_non_null(strstr(f->message, "1 remote secret token(s) checked"));
    assert_non_null(
        strstr(find(&rep, 1, "remote-identity")->message, "1 authenticated by the tailnet"));
    mc_doctor_report_free(&rep);

    cJSON_AddItemToArray(
        cs[1].crbs,
        parse("{\"metadata\":{\"name\":\"lazy-admin\"},\"roleRef\":{\"kind\":\"ClusterRole\","
              "\"name\":\"cluster-admin\"},\"subjects\":[{\"kind\":\"Group\",\"name\":"
              "\"system:serviceaccounts:istio-system\"}]}"));
    run(cs, 2, &rep);
    f = find(&rep, 0, "remote-identity");
    assert_int_equal(f->result, MC_CHECK_WARN);
    assert_non_null(strstr(f->message, "istio-system/istio-reader-service-account"));
    assert_non_null(strstr(f->message, "ClusterRoleBinding lazy-admin"));
    assert_true(f->fix[0] && f->command[0]);
    mc_doctor_report_free(&rep);
    free(jwt);
    cluster_free(&cs[0]);
    cluster_free(&cs[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_passes_everything),
        cmocka_unit_test(test_each_fault_is_found),
        cmocka_unit_test(test_shared_root_across_clusters),
        cmocka_unit_test(test_unreadable_cluster),
        cmocka_unit_test(test_remote_identity_across_clusters),
    };
    return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
