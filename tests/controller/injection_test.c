/*
 * No MeshCluster value can change the shape of a document the controller generates (issue
 * 18.2) and every field is bounded (18.7). The regression: a remoteSecret.server holding a
 * newline and a YAML key once put `insecure-skip-tls-verify: true` into the kubeconfig of an
 * Istio remote secret. The property: arbitrary strings (YAML and URL syntax, line breaks of
 * every kind, quotes, non-ASCII) go into every spec string field, of the local cluster and of a
 * remote; each MeshCluster is then either refused, Accepted=False naming that field, or every
 * generated document (the kubeconfig inside the remote secret, the meshNetworks YAML, the
 * Helm values) parses back to exactly the values that were set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "controller/desired.h"
#include "controller/validate.h"
#include "k8s/yaml.h"

#define TAILNET "your-tailnet.ts.net"

static cJSON *cluster(const char *name)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", MC_API_VERSION);
    cJSON_AddStringToObject(o, "kind", MC_KIND);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "metadata"), "name", name);
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(spec, "tailscale"), "tailnet", TAILNET);
    return o;
}

static cJSON *two_clusters(void)
{
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, cluster("cluster1"));
    cJSON_AddItemToArray(arr, cluster("cluster2"));
    return arr;
}

/* Sets the string at a dotted path ("spec.tailscale.gatewayTags[0]": a one-tag list). */
static void set_path(cJSON *obj, const char *path, const char *value)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL, *seg = strtok_r(buf, ".", &save), *next;
    while ((next = strtok_r(NULL, ".", &save)) != NULL) {
        cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, seg);
        obj = child ? child : cJSON_AddObjectToObject(obj, seg);
        seg = next;
    }
    char *br = strchr(seg, '[');
    if (br) {
        *br = '\0';
        cJSON *arr = cJSON_AddArrayToObject(obj, seg);
        cJSON_AddItemToArray(arr, cJSON_CreateString(value));
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, seg);
    cJSON_AddStringToObject(obj, seg, value);
}

static const char *get_path(const cJSON *obj, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *seg = strtok_r(buf, ".", &save); seg && obj; seg = strtok_r(NULL, ".", &save)) {
        char *br = strchr(seg, '[');
        if (br)
            *br = '\0';
        obj = cJSON_GetObjectItemCaseSensitive(obj, seg);
        if (br)
            obj = cJSON_GetArrayItem(obj, 0);
    }
    return cJSON_IsString(obj) ? obj->valuestring : NULL;
}

static const cJSON *find(const struct mc_desired *d, const char *kind, const char *name)
{
    for (size_t i = 0; i < d->nobjects; i++) {
        const cJSON *o = d->objects[i].object;
        const char *n = get_path(o, "metadata.name");
        if (strcmp(get_path(o, "kind"), kind) == 0 && n && strcmp(n, name) == 0)
            return o;
    }
    return NULL;
}

static const struct mc_cluster_result *result(const struct mc_desired *d, const char *name)
{
    for (size_t i = 0; i < d->nclusters; i++)
        if (strcmp(d->clusters[i].name, name) == 0)
            return &d->clusters[i];
    return NULL;
}

static cJSON *parse_yaml(const char *text)
{
    char err[256];
    cJSON *v = k8s_yaml_parse_one(text, strlen(text), err, sizeof(err));
    if (!v)
        fail_msg("a generated document does not parse: %s in\n%s", err, text);
    return v;
}

/* The kubeconfig stored base64-encoded under data[cluster] of a remote secret. */
static cJSON *kubeconfig_of(const cJSON *secret, const char *cluster)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(secret, "data"), cluster);
    assert_true(cJSON_IsString(v));
    size_t n = strlen(v->valuestring);
    unsigned char *raw = malloc(n + 1);
    int len = EVP_DecodeBlock(raw, (const unsigned char *)v->valuestring, (int)n);
    assert_true(len >= 0);
    while (n > 0 && v->valuestring[n - 1] == '=') { /* DecodeBlock counts the padding */
        n--;
        len--;
    }
    raw[len] = '\0';
    cJSON *kc = parse_yaml((const char *)raw);
    free(raw);
    return kc;
}

/* The kubeconfig istiod must receive, built here independently of the controller. */
static cJSON *expected_kubeconfig(const char *name, const char *server, const char *user,
                                  const char *token)
{
    cJSON *kc = cJSON_CreateObject();
    cJSON_AddStringToObject(kc, "apiVersion", "v1");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(c, "cluster"), "server", server);
    cJSON_AddStringToObject(c, "name", name);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(kc, "clusters"), c);
    cJSON *x = cJSON_CreateObject();
    cJSON *ctx = cJSON_AddObjectToObject(x, "context");
    cJSON_AddStringToObject(ctx, "cluster", name);
    cJSON_AddStringToObject(ctx, "user", user);
    cJSON_AddStringToObject(x, "name", name);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(kc, "contexts"), x);
    cJSON_AddStringToObject(kc, "current-context", name);
    cJSON_AddStringToObject(kc, "kind", "Config");
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "name", user);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(u, "user"), "token", token);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(kc, "users"), u);
    return kc;
}

static void assert_same(const cJSON *got, const cJSON *want, const char *what)
{
    if (!cJSON_Compare(got, want, 1)) {
        char *g = k8s_yaml_emit(got), *w = k8s_yaml_emit(want);
        fail_msg("%s differs:\n--- generated\n%s--- intended\n%s", what, g, w);
    }
}

/* The value a field ends up with: what was set, or the CRD's default for "". */
static const char *effective(const cJSON *mc, const char *path, const char *def)
{
    const char *v = get_path(mc, path);
    return v && v[0] ? v : def;
}

/* Every document made for an accepted remote: the kubeconfig holds exactly its values. */
static void check_remote_documents(const struct mc_desired *d, const cJSON *mc, const char *token)
{
    const char *name = get_path(mc, "metadata.name");
    char host[128], secret[128], url[512];
    snprintf(host, sizeof(host), "%s-k8s-operator", name);
    snprintf(url, sizeof(url), "https://%s.%s",
             effective(mc, "spec.tailscale.apiServerProxyHostname", host),
             effective(mc, "spec.tailscale.tailnet", TAILNET));
    snprintf(secret, sizeof(secret), "istio-remote-secret-%s", name);
    const cJSON *s = find(d, "Secret", secret);
    if (!s)
        fail_msg("accepted remote \"%s\" has no remote secret", name);
    cJSON *kc = kubeconfig_of(s, name);
    cJSON *want = expected_kubeconfig(name, effective(mc, "spec.remoteSecret.server", url),
                                      token ? "meshcluster-token" : "tailscale-auth",
                                      token ? token : "unused");
    assert_same(kc, want, "the remote secret's kubeconfig");
    cJSON_Delete(kc);
    cJSON_Delete(want);
}

/* The meshNetworks documents hold exactly d->mesh_networks, and it holds mc's network. */
static void check_mesh_networks(const struct mc_desired *d, const cJSON *mc)
{
    const char *name = get_path(mc, "metadata.name");
    const char *network = effective(mc, "spec.network", name);
    const cJSON *net = cJSON_GetObjectItemCaseSensitive(d->mesh_networks, network);
    assert_non_null(net);
    const cJSON *cm = find(d, "ConfigMap", MC_ISTIO_CONFIGMAP);
    cJSON *doc = parse_yaml(get_path(cm, "data." MC_MESH_NETWORKS_KEY));
    assert_same(cJSON_GetObjectItem(doc, "networks"), d->mesh_networks, "meshNetworks");
    assert_int_equal(cJSON_GetArraySize(doc), 1);
    cJSON_Delete(doc);
    cm = find(d, "ConfigMap", "meshcluster-istiod-values");
    const cJSON *values = cJSON_GetObjectItem(cJSON_GetObjectItem(cm, "data"), MC_HELM_VALUES_KEY);
    assert_true(cJSON_IsString(values)); /* a dotted key: not reachable by get_path */
    doc = parse_yaml(values->valuestring);
    assert_same(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "global"), "meshNetworks"),
                d->mesh_networks, "Helm values");
    cJSON_Delete(doc);
}

/* The local cluster's own objects carry its values verbatim. */
static void check_local_documents(const struct mc_desired *d, const cJSON *mc)
{
    const cJSON *ns = find(d, "Namespace", "istio-system");
    const cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(ns, "metadata"), "labels");
    assert_string_equal(cJSON_GetObjectItem(labels, MC_LABEL_NETWORK)->valuestring,
                        effective(mc, "spec.network", get_path(mc, "metadata.name")));
    const cJSON *gw = find(d, "Service", "istio-eastwestgateway");
    const cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(gw, "metadata"), "annotations");
    assert_string_equal(
        cJSON_GetObjectItem(ann, "tailscale.com/tags")->valuestring,
        effective(mc, "spec.tailscale.gatewayTags[0]", "tag:istio-eastwestgateway"));
}

static const char *const fields[] = {
    "metadata.name",
    "spec.network",
    "spec.meshID",
    "spec.locality.region",
    "spec.locality.zone",
    "spec.locality.failover[0]",
    "spec.tailscale.tailnet",
    "spec.tailscale.apiServerProxyHostname",
    "spec.tailscale.eastWestGatewayHostname",
    "spec.tailscale.gatewayTags[0]",
    "spec.tailscale.proxyClass",
    "spec.remoteSecret.auth",
    "spec.remoteSecret.secretRef.namespace",
    "spec.remoteSecret.secretRef.name",
    "spec.remoteSecret.secretRef.key",
    "spec.remoteSecret.server",
    "spec.trust.rootCAFingerprint",
};

/*
 * Sets field of cluster `who` (cluster1 is local) to value and checks the verdict. Returns 1
 * when accepted (the documents were checked), 0 when refused naming the field.
 */
static int try_value(const char *field, const char *value, const char *who)
{
    cJSON *mcs = two_clusters();
    cJSON *mc =
        strcmp(who, "cluster1") == 0 ? cJSON_GetArrayItem(mcs, 0) : cJSON_GetArrayItem(mcs, 1);
    set_path(mc, field, value);
    const char *name = get_path(mc, "metadata.name");
    struct mc_desired d;
    assert_int_equal(mc_desired_compute(mcs, "cluster1", NULL, NULL, 0, &d), 0);
    const struct mc_cluster_result *r = result(&d, name);
    assert_non_null(r);
    if (strcmp(name, "cluster1") == 0 && strcmp(who, "cluster1") != 0) {
        /* Two clusters of one name: one of them (the newer, or by uid) is refused for it. */
        assert_int_equal(d.nclusters, 2);
        assert_int_equal(d.clusters[0].accepted + d.clusters[1].accepted, 1);
        r = d.clusters[0].accepted ? &d.clusters[1] : &d.clusters[0];
        assert_string_equal(r->why.field, "metadata.name");
        mc_desired_free(&d);
        cJSON_Delete(mcs);
        return 0;
    }
    int accepted = r->accepted;
    if (!accepted) {
        char path[128];
        snprintf(path, sizeof(path), "%s", field);
        if (strcmp(r->why.field, path) != 0 && !strstr(r->why.message, path)) {
            char *br = strchr(path, '['); /* a list may be named as a whole */
            if (br)
                *br = '\0';
            if (strcmp(r->why.field, path) != 0)
                fail_msg("%s = \"%s\" on %s refused as %s at %s (%s), not naming the field", field,
                         value, who, r->why.reason, r->why.field, r->why.message);
        }
        if (strcmp(who, "cluster1") != 0) {
            char secret[128];
            snprintf(secret, sizeof(secret), "istio-remote-secret-%s", name);
            assert_null(find(&d, "Secret", secret));
        }
    } else if (strcmp(who, "cluster1") == 0) {
        check_local_documents(&d, mc);
        check_mesh_networks(&d, mc);
    } else {
        check_remote_documents(&d, mc, NULL);
        check_mesh_networks(&d, mc);
    }
    mc_desired_free(&d);
    cJSON_Delete(mcs);
    return accepted;
}

/* ------------------------------------------------------------------ regression */

/* Issue 18.2's exact payload: refused, and no remote secret is written for it. */
static void test_server_injection_payload_refused(void **state)
{
    (void)state;
    const char *payload = "https://x\n    insecure-skip-tls-verify: true\n";
    cJSON *mcs = two_clusters();
    set_path(cJSON_GetArrayItem(mcs, 1), "spec.remoteSecret.server", payload);
    struct mc_desired d;
    assert_int_equal(mc_desired_compute(mcs, "cluster1", NULL, NULL, 0, &d), 0);
    const struct mc_cluster_result *r = result(&d, "cluster2");
    if (r->accepted) {
        cJSON *kc = kubeconfig_of(find(&d, "Secret", "istio-remote-secret-cluster2"), "cluster2");
        char *text = k8s_yaml_emit(kc);
        fail_msg("accepted; its kubeconfig reads back as\n%s", text);
    }
    assert_string_equal(r->why.reason, "InvalidServer");
    assert_string_equal(r->why.field, "spec.remoteSecret.server");
    assert_null(strchr(r->why.message, '\n')); /* quoted back without its line breaks */
    assert_null(find(&d, "Secret", "istio-remote-secret-cluster2"));
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

/* ------------------------------------------------------------------ URLs */

static void test_server_urls(void **state)
{
    (void)state;
    const char *good[] = {"https://10.0.0.1:6443",
                          "https://api.example.com",
                          "https://API.Example.com:443/",
                          "https://[fd7a:115c:a1e0::1]:443",
                          "https://rancher.example.com/k8s/clusters/c-m-abc12",
                          "https://c2-k8s-operator.your-tailnet.ts.net"};
    const char *bad[] = {"https://x\n    insecure-skip-tls-verify: true\n",
                         "http://api.example.com",
                         "https://",
                         "https:///path",
                         "https://user:pass@api.example.com",
                         "https://user@api.example.com",
                         "https://api.example.com:0",
                         "https://api.example.com:65536",
                         "https://api.example.com:6443x",
                         "https://api.example.com/?insecure=1",
                         "https://api.example.com/#x",
                         "https://api example.com",
                         "https://api.example.com/\tx",
                         "https://api.exa_mple.com",
                         "https://-bad-.example.com",
                         "https://api.example.com/caf\xc3\xa9",
                         "ftp://api.example.com",
                         "HTTPS://api.example.com",
                         " https://api.example.com"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (mc_check_https_url(good[i]))
            fail_msg("\"%s\" refused: %s", good[i], mc_check_https_url(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!mc_check_https_url(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
    char *huge = malloc(1 << 20);
    memcpy(huge, "https://a.example.com/", 22);
    memset(huge + 22, 'a', (1 << 20) - 23);
    huge[(1 << 20) - 1] = '\0';
    assert_non_null(mc_check_https_url(huge));
    free(huge);
}

/* ------------------------------------------------------------------ bounds (18.7) */

static void test_unbounded_values_refused(void **state)
{
    (void)state;
    size_t big = 1 << 20;
    char *s = malloc(big + 1);
    memset(s, 'a', big);
    s[big] = '\0';
    memcpy(s, "tag:", 4);
    /* One 500 KB tag. */
    s[500 * 1024] = '\0';
    assert_int_equal(try_value("spec.tailscale.gatewayTags[0]", s, "cluster2"), 0);
    s[500 * 1024] = 'a';
    memcpy(s, "aaaa", 4);
    assert_int_equal(try_value("spec.locality.region", s, "cluster2"), 0);
    memcpy(s, "https://a.example.com/", 22);
    assert_int_equal(try_value("spec.remoteSecret.server", s, "cluster2"), 0);
    free(s);

    /* 10,000 tags, each valid. */
    cJSON *mcs = two_clusters();
    cJSON *ts =
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(mcs, 1), "spec"), "tailscale");
    cJSON *tags = cJSON_AddArrayToObject(ts, "gatewayTags");
    for (int i = 0; i < 10000; i++) {
        char t[32];
        snprintf(t, sizeof(t), "tag:t%d", i);
        cJSON_AddItemToArray(tags, cJSON_CreateString(t));
    }
    struct mc_desired d;
    assert_int_equal(mc_desired_compute(mcs, "cluster1", NULL, NULL, 0, &d), 0);
    const struct mc_cluster_result *r = result(&d, "cluster2");
    assert_false(r->accepted);
    assert_string_equal(r->why.field, "spec.tailscale.gatewayTags");
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

/* Validation reports every problem of a MeshCluster, not only the first (issue 14.9). */
static void test_all_problems_reported(void **state)
{
    (void)state;
    cJSON *mcs = two_clusters();
    cJSON *m = cJSON_GetArrayItem(mcs, 1);
    set_path(m, "spec.network", "has space");
    set_path(m, "spec.tailscale.gatewayTags[0]", "tag:Upper");
    set_path(m, "spec.remoteSecret.server", "http://x");
    set_path(m, "spec.locality.zone", "-z");
    struct mc_desired d;
    assert_int_equal(mc_desired_compute(mcs, "cluster1", NULL, NULL, 0, &d), 0);
    const struct mc_cluster_result *r = result(&d, "cluster2");
    assert_false(r->accepted);
    assert_string_equal(r->why.field, "spec.network");
    const char *want[] = {
        "spec.tailscale.gatewayTags[0]: ", "spec.remoteSecret.server: ", "spec.locality.zone: "};
    for (size_t i = 0; i < 3; i++)
        if (!strstr(r->why.message, want[i]))
            fail_msg("\"%s\" missing from: %s", want[i], r->why.message);
    mc_desired_free(&d);
    cJSON_Delete(mcs);
}

/* ------------------------------------------------------------------ the property */

/* Pieces of arbitrary strings: every ASCII character but NUL, and the non-ASCII line breaks
 * and marks YAML 1.1 treats specially (NEL, LS, PS, BOM), plus plain letters. */
static const char *piece(uint32_t r)
{
    static char ascii[128][2];
    static const char *special[] = {
        "\xc2\x85",         "\xe2\x80\xa8", "\xe2\x80\xa9", "\xef\xbb\xbf", "\xc3\xa9",
        "\xf0\x9f\x98\x80", ": ",           "\n  ",         "- ",           "#"};
    if (r % 4 == 0)
        return special[(r / 4) % (sizeof(special) / sizeof(special[0]))];
    if (r % 4 == 1) {
        static const char *alnum[] = {"a", "b", "z", "0", "9", "-", ".", "x1"};
        return alnum[(r / 4) % 8];
    }
    unsigned c = 1 + (r / 4) % 127;
    ascii[c][0] = (char)c;
    ascii[c][1] = '\0';
    return ascii[c];
}

static uint32_t next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Prefixes that get a value past the first checks, so deeper ones are reached too. */
static const char *prefix_for(const char *field, uint32_t r)
{
    if (r % 2)
        return "";
    if (strstr(field, "server"))
        return "https://";
    if (strstr(field, "gatewayTags"))
        return "tag:";
    return "a";
}

static void test_arbitrary_strings_in_every_field(void **state)
{
    (void)state;
    static const char *crafted[] = {
        "https://x\n    insecure-skip-tls-verify: true\n",
        "x\ninsecure-skip-tls-verify: true",
        "a\n  - name: evil",
        "\"quoted\"",
        "'single'",
        "true",
        "null",
        "15443",
        "1e3",
        "~",
        "",
        "a: b",
        "a #comment",
        "&anchor",
        "*alias",
        "!!str x",
        "|\n  block",
        "{json: 1}",
        "[1, 2]",
        "https://a.example.com:6443/x\xc2\x85y: 1",
        "https://a.example.com\xe2\x80\xa8z: 1",
        "tag:ok\ntag:injected",
        "cluster1",
        "valid-name",
        "https://ok.example.com:6443",
        "tag:ok-1",
        "secret",
    };
    uint32_t seed = 0x2545f491;
    size_t accepted = 0, refused = 0;
    const char *who[] = {"cluster1", "cluster2"};
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        for (size_t w = 0; w < 2; w++) {
            if (w == 0 && strcmp(fields[f], "metadata.name") == 0)
                continue; /* renaming the local cluster makes it unknown: tested elsewhere */
            for (size_t k = 0; k < sizeof(crafted) / sizeof(crafted[0]); k++) {
                if (try_value(fields[f], crafted[k], who[w]))
                    accepted++;
                else
                    refused++;
            }
            for (int k = 0; k < 300; k++) {
                char v[512];
                snprintf(v, sizeof(v), "%s", prefix_for(fields[f], next(&seed)));
                int len = (int)(next(&seed) % 24);
                for (int j = 0; j < len; j++)
                    strncat(v, piece(next(&seed)), sizeof(v) - strlen(v) - 1);
                if (try_value(fields[f], v, who[w]))
                    accepted++;
                else
                    refused++;
            }
        }
    }
    /* Both outcomes must occur, or the generator tests nothing. */
    assert_true(accepted > 100);
    assert_true(refused > 1000);
    printf("arbitrary strings: %zu accepted and parsed back exactly, %zu refused naming the "
           "field\n",
           accepted, refused);
}

/* A token read from a Secret: refused by the check, or carried into the kubeconfig exactly. */
static void test_arbitrary_tokens(void **state)
{
    (void)state;
    uint32_t seed = 0x9e3779b9;
    size_t carried = 0, refused = 0;
    for (int k = 0; k < 500; k++) {
        char raw[256] = "";
        int len = 1 + (int)(next(&seed) % 30);
        for (int j = 0; j < len; j++) {
            uint32_t r = next(&seed);
            const char *p = r % 8 ? &"eyJhbGciOiJSUzI1NiIs._-~+/="[r / 8 % 27] : piece(r / 8);
            strncat(raw, p, r % 8 ? 1 : sizeof(raw) - strlen(raw) - 1);
        }
        size_t start, n;
        if (mc_check_bearer_token(raw, strlen(raw), &start, &n)) {
            refused++;
            continue;
        }
        char tok[256];
        memcpy(tok, raw + start, n);
        tok[n] = '\0';
        cJSON *mcs = two_clusters();
        cJSON *m = cJSON_GetArrayItem(mcs, 1);
        set_path(m, "spec.remoteSecret.auth", "secret");
        set_path(m, "spec.remoteSecret.secretRef.name", "c2-token");
        struct mc_remote_token t = {"cluster2", tok};
        struct mc_desired d;
        assert_int_equal(mc_desired_compute(mcs, "cluster1", NULL, &t, 1, &d), 0);
        assert_true(result(&d, "cluster2")->accepted);
        check_remote_documents(&d, m, tok);
        mc_desired_free(&d);
        cJSON_Delete(mcs);
        carried++;
    }
    if (carried < 50 || refused < 50)
        fail_msg("%zu tokens carried, %zu refused: the generator tests too little", carried,
                 refused);
    size_t s, n;
    assert_null(mc_check_bearer_token("abc.def\n", 8, &s, &n));
    assert_int_equal(n, 7);
    assert_non_null(mc_check_bearer_token("a b", 3, &s, &n));
    assert_non_null(mc_check_bearer_token("\n\n", 2, &s, &n));
    char *big = malloc(MC_MAX_TOKEN_LEN + 2);
    memset(big, 'a', MC_MAX_TOKEN_LEN + 1);
    assert_non_null(mc_check_bearer_token(big, MC_MAX_TOKEN_LEN + 1, &s, &n));
    assert_null(mc_check_bearer_token(big, MC_MAX_TOKEN_LEN, &s, &n));
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_injection_payload_refused),
        cmocka_unit_test(test_server_urls),
        cmocka_unit_test(test_unbounded_values_refused),
        cmocka_unit_test(test_all_problems_reported),
        cmocka_unit_test(test_arbitrary_strings_in_every_field),
        cmocka_unit_test(test_arbitrary_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
