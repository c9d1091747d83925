/*
 * MeshCluster JSON -> struct with defaults. Only types and enums are checked here; names,
 * ranges and cross-cluster rules belong to validate.c.
 */
#include "controller/meshcluster.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mc_field_error_set(struct mc_field_error *err, const char *reason, const char *field,
                        const char *fmt, ...)
{
    if (!err)
        return;
    snprintf(err->reason, sizeof(err->reason), "%s", reason);
    snprintf(err->field, sizeof(err->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

/*
 * Copies the string at obj[key] into *out, or def when the key is absent or null.
 * Returns -EINVAL if present with another type, -ENOMEM on allocation failure.
 */
static int get_str(const cJSON *obj, const char *key, const char *def, char **out, const char *path,
                   struct mc_field_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    const char *s = def;
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) {
            mc_field_error_set(err, "InvalidSpec", path, "%s must be a string", path);
            return -EINVAL;
        }
        s = v->valuestring;
    }
    *out = strdup(s ? s : "");
    return *out ? 0 : -ENOMEM;
}

/* Like get_str, but an empty string also means "use the default". */
static int get_str_default(const cJSON *obj, const char *key, const char *def, char **out,
                           const char *path, struct mc_field_error *err)
{
    int rc = get_str(obj, key, def, out, path, err);
    if (rc == 0 && (*out)[0] == '\0' && def && def[0]) {
        free(*out);
        *out = strdup(def);
        if (!*out)
            return -ENOMEM;
    }
    return rc;
}

static int get_port(const cJSON *obj, const char *key, int def, int *out, const char *path,
                    struct mc_field_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = def;
    if (!v || cJSON_IsNull(v))
        return 0;
    long long n;
    if (!mc_json_integer(v, INT_MIN, INT_MAX, &n)) {
        mc_field_error_set(err, "InvalidSpec", path, "%s must be an integer", path);
        return -EINVAL;
    }
    *out = (int)n;
    return 0;
}

/* Returns the object at obj[key], NULL if absent; sets *bad when present but not an object. */
static const cJSON *get_obj(const cJSON *obj, const char *key, const char *path, int *bad,
                            struct mc_field_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsObject(v)) {
        mc_field_error_set(err, "InvalidSpec", path, "%s must be an object", path);
        *bad = 1;
        return NULL;
    }
    return v;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        rc = (expr);                                                                               \
        if (rc < 0)                                                                                \
            goto fail;                                                                             \
    } while (0)

/* The list of strings at obj[key] (absent or null: empty) into *out and *n; 0, -EINVAL with
 * *err filled, or -ENOMEM. What was allocated stays in *out for mc_meshcluster_clear. */
static int get_str_list(const cJSON *obj, const char *key, const char *path, char ***out, size_t *n,
                        struct mc_field_error *err)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (list && !cJSON_IsNull(list) && !cJSON_IsArray(list)) {
        mc_field_error_set(err, "InvalidSpec", path, "%s must be a list of strings", path);
        return -EINVAL;
    }
    size_t len = cJSON_IsArray(list) ? (size_t)cJSON_GetArraySize(list) : 0;
    *out = calloc(len ? len : 1, sizeof(char *));
    if (!*out)
        return -ENOMEM;
    for (const cJSON *t = cJSON_IsArray(list) ? list->child : NULL; t; t = t->next) {
        if (!cJSON_IsString(t)) {
            mc_field_error_set(err, "InvalidSpec", path, "%s must be a list of strings", path);
            return -EINVAL;
        }
        (*out)[*n] = strdup(t->valuestring);
        if (!(*out)[*n])
            return -ENOMEM;
        (*n)++;
    }
    return 0;
}

/* spec.tailscale.gatewayTags into mc (default: tag:istio-eastwestgateway); 0, -EINVAL with
 * *err filled, or -ENOMEM. What was allocated stays in mc for mc_meshcluster_clear. */
static int get_tags(const cJSON *ts, struct mc_meshcluster *mc, struct mc_field_error *err)
{
    int rc = get_str_list(ts, "gatewayTags", "spec.tailscale.gatewayTags", &mc->gateway_tags,
                          &mc->ngateway_tags, err);
    if (rc == 0 && mc->ngateway_tags == 0) {
        mc->gateway_tags[0] = strdup("tag:istio-eastwestgateway");
        if (!mc->gateway_tags[0])
            return -ENOMEM;
        mc->ngateway_tags = 1;
    }
    return rc;
}

/* spec.remoteSecret.auth into mc->auth (default tailscale); 0, -EINVAL or -ENOMEM. */
static int get_auth(const cJSON *rs, struct mc_meshcluster *mc, struct mc_field_error *err)
{
    char *auth = NULL;
    int rc = get_str_default(rs, "auth", "tailscale", &auth, "spec.remoteSecret.auth", err);
    if (rc < 0)
        return rc;
    if (strcmp(auth, "tailscale") == 0) {
        mc->auth = MC_AUTH_TAILSCALE;
    } else if (strcmp(auth, "secret") == 0) {
        mc->auth = MC_AUTH_SECRET;
    } else {
        mc_field_error_set(err, "InvalidSpec", "spec.remoteSecret.auth",
                           "spec.remoteSecret.auth must be \"tailscale\" or \"secret\", not \"%s\"",
                           auth);
        rc = -EINVAL;
    }
    free(auth);
    return rc;
}

/* spec.tailscale into mc: the tailnet, the two hostnames (defaults from the name), the proxy
 * class and the gateway tags; 0, -EINVAL or -ENOMEM. */
static int get_tailscale(const cJSON *ts, struct mc_meshcluster *mc, struct mc_field_error *err)
{
    int rc;
    char host[128];
    TRY(get_str(ts, "tailnet", "", &mc->tailnet, "spec.tailscale.tailnet", err));
    snprintf(host, sizeof(host), "%s-k8s-operator", mc->name);
    TRY(get_str_default(ts, "apiServerProxyHostname", host, &mc->api_proxy_hostname,
                        "spec.tailscale.apiServerProxyHostname", err));
    snprintf(host, sizeof(host), "%s-istio-eastwestgateway", mc->name);
    TRY(get_str_default(ts, "eastWestGatewayHostname", host, &mc->gateway_hostname,
                        "spec.tailscale.eastWestGatewayHostname", err));
    TRY(get_str_default(ts, "proxyClass", "common", &mc->proxy_class, "spec.tailscale.proxyClass",
                        err));
    TRY(get_tags(ts, mc, err));
    return 0;
fail: /* TRY's: what was allocated stays in mc for the caller's mc_meshcluster_clear */
    return rc;
}

int mc_meshcluster_parse(const cJSON *obj, struct mc_meshcluster *mc, struct mc_field_error *err)
{
    int rc = 0, bad = 0;
    memset(mc, 0, sizeof(*mc));
    if (!cJSON_IsObject(obj)) {
        mc_field_error_set(err, "InvalidSpec", "", "a MeshCluster must be a JSON object");
        return -EINVAL;
    }
    const cJSON *meta = get_obj(obj, "metadata", "metadata", &bad, err);
    const cJSON *spec = get_obj(obj, "spec", "spec", &bad, err);
    if (bad)
        return -EINVAL;
    TRY(get_str(meta, "name", "", &mc->name, "metadata.name", err));
    TRY(get_str(meta, "uid", "", &mc->uid, "metadata.uid", err));
    TRY(get_str(meta, "creationTimestamp", "", &mc->creation_timestamp,
                "metadata.creationTimestamp", err));
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(meta, "generation");
    mc_json_integer(gen, 0, MC_JSON_INTEGER_MAX, &mc->generation); /* else 0, from memset */

    TRY(get_str_default(spec, "network", mc->name, &mc->network, "spec.network", err));
    TRY(get_str(spec, "meshID", "", &mc->mesh_id, "spec.meshID", err));
    const cJSON *loc = get_obj(spec, "locality", "spec.locality", &bad, err);
    const cJSON *ts = get_obj(spec, "tailscale", "spec.tailscale", &bad, err);
    const cJSON *gw = get_obj(spec, "gateway", "spec.gateway", &bad, err);
    const cJSON *rs = get_obj(spec, "remoteSecret", "spec.remoteSecret", &bad, err);
    const cJSON *trust = get_obj(spec, "trust", "spec.trust", &bad, err);
    const cJSON *ports = gw ? get_obj(gw, "ports", "spec.gateway.ports", &bad, err) : NULL;
    const cJSON *ref =
        rs ? get_obj(rs, "secretRef", "spec.remoteSecret.secretRef", &bad, err) : NULL;
    if (bad) {
        rc = -EINVAL;
        goto fail;
    }
    TRY(get_str(loc, "region", "", &mc->region, "spec.locality.region", err));
    TRY(get_str(loc, "zone", "", &mc->zone, "spec.locality.zone", err));
    TRY(get_str_list(loc, "failover", "spec.locality.failover", &mc->failover, &mc->nfailover,
                     err));

    TRY(get_tailscale(ts, mc, err));

    TRY(get_port(ports, "status", 15021, &mc->ports.status, "spec.gateway.ports.status", err));
    TRY(get_port(ports, "tls", 15443, &mc->ports.tls, "spec.gateway.ports.tls", err));
    TRY(get_port(ports, "istiod", 15012, &mc->ports.istiod, "spec.gateway.ports.istiod", err));
    TRY(get_port(ports, "webhook", 15017, &mc->ports.webhook, "spec.gateway.ports.webhook", err));

    TRY(get_auth(rs, mc, err));
    TRY(get_str_default(ref, "namespace", "tailscale", &mc->secret_namespace,
                        "spec.remoteSecret.secretRef.namespace", err));
    TRY(get_str(ref, "name", "", &mc->secret_name, "spec.remoteSecret.secretRef.name", err));
    TRY(get_str_default(ref, "key", "token", &mc->secret_key, "spec.remoteSecret.secretRef.key",
                        err));
    TRY(get_str(rs, "server", "", &mc->remote_server, "spec.remoteSecret.server", err));
    TRY(get_str(rs, "caBundle", "", &mc->ca_bundle, "spec.remoteSecret.caBundle", err));
    TRY(get_str(trust, "rootCAFingerprint", "", &mc->root_ca_fingerprint,
                "spec.trust.rootCAFingerprint", err));
    return 0;
fail:
    mc_meshcluster_clear(mc);
    return rc;
}

void mc_meshcluster_clear(struct mc_meshcluster *mc)
{
    char **strs[] = {&mc->name,
                     &mc->uid,
                     &mc->creation_timestamp,
                     &mc->network,
                     &mc->mesh_id,
                     &mc->region,
                     &mc->zone,
                     &mc->tailnet,
                     &mc->api_proxy_hostname,
                     &mc->gateway_hostname,
                     &mc->proxy_class,
                     &mc->secret_namespace,
                     &mc->secret_name,
                     &mc->secret_key,
                     &mc->remote_server,
                     &mc->ca_bundle,
                     &mc->root_ca_fingerprint};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    for (size_t i = 0; i < mc->ngateway_tags; i++)
        free(mc->gateway_tags[i]);
    free(mc->gateway_tags);
    for (size_t i = 0; i < mc->nfailover; i++)
        free(mc->failover[i]);
    free(mc->failover);
    memset(mc, 0, sizeof(*mc));
}

bool mc_json_integer(const cJSON *v, long long lo, long long hi, long long *out)
{
    /* The range test comes first: only then is the cast defined. NaN fails it too. */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= (double)lo && v->valuedouble <= (double)hi) ||
        v->valuedouble != floor(v->valuedouble))
        return false;
    *out = (long long)v->valuedouble;
    return true;
}

char *mc_meshcluster_api_server_url(const struct mc_meshcluster *mc)
{
    if (mc->remote_server && mc->remote_server[0])
        return strdup(mc->remote_server);
    size_t n = strlen(mc->api_proxy_hostname) + strlen(mc->tailnet) + 16;
    char *url = malloc(n);
    if (url)
        snprintf(url, n, "https://%s.%s", mc->api_proxy_hostname, mc->tailnet);
    return url;
}
