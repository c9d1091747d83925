/*
 * Cluster targets and reads shared by `meshctl status` and `meshctl doctor`. See clusters.h.
 */
#include "cmd/meshctl/clusters.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The value of --name V or --name=V at argv[*i], or NULL when argv[*i] is not that option. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

int meshctl_targets_option(struct meshctl_targets *ts, int argc, char **argv, int *i,
                           const char *cmd, FILE *err)
{
    bool missing = false;
    const char *v = opt_value(argc, argv, i, "--kubeconfig", &missing);
    const char **list = ts->kubeconfigs;
    size_t *n = &ts->nkubeconfigs;
    if (!v && !missing) {
        v = opt_value(argc, argv, i, "--context", &missing);
        list = ts->contexts;
        n = &ts->ncontexts;
    }
    if (missing) {
        fprintf(err, "meshctl %s: %s needs a value\n", cmd, argv[*i]);
        return -1;
    }
    if (!v)
        return 0;
    if (*n == MESHCTL_MAX_CLUSTERS) {
        fprintf(err, "meshctl %s: at most %d clusters\n", cmd, MESHCTL_MAX_CLUSTERS);
        return -1;
    }
    list[(*n)++] = v;
    return 1;
}

int meshctl_targets_resolve(struct meshctl_targets *ts, const char *cmd, FILE *err)
{
    size_t nk = ts->nkubeconfigs, nc = ts->ncontexts;
    if (nk > 1 && nc > 0 && nk != nc) {
        fprintf(err,
                "meshctl %s: give one --context per --kubeconfig, or one kubeconfig with "
                "several contexts (got %zu kubeconfigs, %zu contexts)\n",
                cmd, nk, nc);
        return -1;
    }
    ts->n = nk > nc ? nk : nc;
    if (ts->n == 0)
        ts->n = 1; /* the default kubeconfig's current context */
    for (size_t i = 0; i < ts->n; i++) {
        struct meshctl_target *t = &ts->t[i];
        t->kubeconfig = nk == 0 ? NULL : ts->kubeconfigs[nk == 1 ? 0 : i];
        t->context = nc == 0 ? NULL : ts->contexts[i];
        snprintf(t->label, sizeof(t->label), "%s%s%s", t->kubeconfig ? t->kubeconfig : "default",
                 t->context ? "@" : "", t->context ? t->context : "");
    }
    return 0;
}

k8s_sync_client *meshctl_connect(const struct meshctl_target *t, char *errbuf, size_t errlen)
{
    k8s_config *cfg = NULL;
    char why[512] = "";
    int rc = k8s_config_from_kubeconfig(t->kubeconfig, t->context, &cfg, why, sizeof(why));
    if (rc != 0) {
        snprintf(errbuf, errlen, "%s: %s", t->label, why[0] ? why : "cannot load kubeconfig");
        return NULL;
    }
    /* A CLI answers in seconds or says why: few retries, a short per-attempt timeout. */
    k8s_client_opts opts = {.qps = -1, .max_attempts = 2, .timeout_ms = 10000};
    opts.http.connect_timeout_ms = 5000;
    opts.http.user_agent = "meshctl";
    k8s_sync_client *c = NULL;
    rc = k8s_sync_client_new(cfg, &opts, &c);
    if (rc != 0) {
        snprintf(errbuf, errlen, "%s: cannot create a client (%d)", t->label, rc);
        return NULL;
    }
    return c;
}

int meshctl_fetch(k8s_sync_client *c, const char *group, const char *version, const char *resource,
                  const char *ns, const char *name, const char *selector, cJSON **out, char *errbuf,
                  size_t errlen)
{
    k8s_resource_ref ref = {
        .group = group, .version = version, .resource = resource, .namespace = ns, .name = name};
    k8s_error e = K8S_ERROR_INIT;
    cJSON *body = NULL;
    *out = NULL;
    int rc = k8s_sync_get(c, &ref, selector, &body, &e);
    if (rc != 0) {
        bool absent = e.code == K8S_ERR_NOT_FOUND;
        if (!absent)
            snprintf(errbuf, errlen, "%s %s%s%s: %s", name ? "get" : "list", resource,
                     name ? "/" : "", name ? name : "", e.message ? e.message : "request failed");
        k8s_error_clear(&e);
        return absent ? 0 : -1;
    }
    if (name) {
        *out = body;
        return 0;
    }
    /* A list: keep only its items (an empty array when it has none). */
    cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(body, "items");
    cJSON_Delete(body);
    *out = cJSON_IsArray(items) ? items : cJSON_CreateArray();
    if (items && !cJSON_IsArray(items))
        cJSON_Delete(items);
    if (!*out) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int meshctl_print_json(cJSON *j, const char *cmd, FILE *out, FILE *err)
{
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text) {
        fprintf(err, "meshctl %s: out of memory\n", cmd);
        return -1;
    }
    fprintf(out, "%s\n", text);
    free(text);
    return 0;
}

long meshctl_parse_seconds(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0 || v > 86400L * 7)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        return v;
    if (strcmp(end, "m") == 0)
        return v * 60;
    if (strcmp(end, "h") == 0)
        return v * 3600;
    return -1;
}

bool meshctl_use_colour(FILE *out)
{
    const char *no = getenv("NO_COLOR");
    return isatty(fileno(out)) && !(no && no[0]);
}
