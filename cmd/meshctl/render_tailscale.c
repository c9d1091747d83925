/*
 * meshctl render's Tailscale modes, the guide's Steps 1 and 2 as output a user pastes:
 *   --tailscale-operator-values --cluster NAME   Helm values for that cluster's operator
 *   --tailnet-policy                            the tailnet policy fragment for the whole set
 * Both come from controller/tailnet.c, so the tags the operator gives its devices are the
 * tags the policy grants to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/meshctl/commands.h"
#include "cmd/meshctl/load.h"
#include "controller/desired.h"
#include "controller/tailnet.h"
#include "k8s/yaml.h"

enum tailscale_mode { MODE_NONE, MODE_OPERATOR_VALUES, MODE_TAILNET_POLICY };

struct tailscale_args {
    enum tailscale_mode mode;
    const char *cluster, *format;
    const char *files[64];
    size_t nfiles;
    struct mc_tailnet_options tailnet;
    struct mc_desired_options desired;
};

static void tailscale_usage(FILE *f)
{
    fprintf(f,
            "Usage: meshctl render --tailscale-operator-values --cluster NAME -f FILE_OR_DIR...\n"
            "       meshctl render --tailnet-policy -f FILE_OR_DIR... [--cluster NAME]\n\n"
            "Prints what the tailnet needs for the MeshCluster set: the Tailscale operator's\n"
            "Helm values for one cluster (install with helm ... -f VALUES plus your OAuth\n"
            "client), or the tailnet policy fragment (tagOwners and grants) for every cluster.\n"
            "Clusters that fail validation (as the daemon of --cluster, default the first by\n"
            "name, would see them) are reported and make the command fail.\n\n"
            "Options:\n"
            "  -o, --output yaml|json    default: yaml for values, json for the policy\n"
            "  --reader-group GROUP      group the API-server proxies impersonate (default %s)\n"
            "  --operator-tag TAG        the operator's tag (default %s)\n"
            "  --proxy-tag TAG           the operator's proxies' tag (default %s)\n"
            "  --token-namespace NS      where auth \"secret\" token Secrets live (default "
            "tailscale)\n",
            MC_READER_GROUP_DEFAULT, MC_TAG_OPERATOR_DEFAULT, MC_TAG_PROXY_DEFAULT);
}

/* Returns -1 when parsing should stop with *rc as the exit code. */
static int parse_args(int argc, char **argv, struct tailscale_args *a, FILE *out, FILE *err,
                      int *rc)
{
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(k, "-h") == 0 || strcmp(k, "--help") == 0) {
            tailscale_usage(out);
            *rc = 0;
            return -1;
        }
        if (strcmp(k, "--tailscale-operator-values") == 0) {
            a->mode = MODE_OPERATOR_VALUES;
            continue;
        }
        if (strcmp(k, "--tailnet-policy") == 0) {
            a->mode = MODE_TAILNET_POLICY;
            continue;
        }
        if (!v) {
            fprintf(err, "meshctl render: %s needs a value\n", k);
            *rc = 2;
            return -1;
        }
        i++;
        if (strcmp(k, "--cluster") == 0 || strcmp(k, "--cluster-name") == 0)
            a->cluster = v;
        else if ((strcmp(k, "-f") == 0 || strcmp(k, "--filename") == 0) && a->nfiles < 64)
            a->files[a->nfiles++] = v;
        else if (strcmp(k, "-o") == 0 || strcmp(k, "--output") == 0)
            a->format = v;
        else if (strcmp(k, "--reader-group") == 0)
            a->tailnet.reader_group = v;
        else if (strcmp(k, "--operator-tag") == 0)
            a->tailnet.operator_tag = v;
        else if (strcmp(k, "--proxy-tag") == 0)
            a->tailnet.proxy_tag = v;
        else if (strcmp(k, "--token-namespace") == 0)
            a->desired.token_namespace = v;
        else {
            fprintf(err, "meshctl render: unknown or repeated option %s\n", k);
            tailscale_usage(err);
            *rc = 2;
            return -1;
        }
    }
    const char *why = NULL;
    if (a->nfiles == 0)
        why = "-f is required";
    else if (a->mode == MODE_OPERATOR_VALUES && !a->cluster)
        why = "--tailscale-operator-values needs --cluster";
    else if (a->format && strcmp(a->format, "yaml") != 0 && strcmp(a->format, "json") != 0)
        why = "-o must be yaml or json";
    else if (!mc_is_tailscale_tag(a->tailnet.operator_tag) ||
             !mc_is_tailscale_tag(a->tailnet.proxy_tag))
        why = "--operator-tag and --proxy-tag take a tag such as tag:k8s";
    else if (!a->tailnet.reader_group[0])
        why = "--reader-group must not be empty";
    if (why) {
        fprintf(err, "meshctl render: %s\n", why);
        *rc = 2;
        return -1;
    }
    return 0;
}

static int cmp_mc_name(const void *a, const void *b)
{
    return strcmp(((const struct mc_meshcluster *)a)->name,
                  ((const struct mc_meshcluster *)b)->name);
}

static const char *mc_name(const cJSON *mc)
{
    const cJSON *nm =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(mc, "metadata"), "name");
    return cJSON_IsString(nm) ? nm->valuestring : "";
}

/* The cluster whose daemon's view validates the set: --cluster, else the first by name. */
static const char *validating_cluster(const cJSON *mcs, const struct tailscale_args *a)
{
    if (a->cluster)
        return a->cluster;
    const char *first = NULL;
    for (const cJSON *it = mcs->child; it; it = it->next)
        if (!first || strcmp(mc_name(it), first) < 0)
            first = mc_name(it);
    return first ? first : "";
}

/*
 * Parses the MeshClusters the desired-state function accepts (so both renders see the set
 * the daemon would) into set[], sorted by name. Refusals are reported on err and fail.
 */
static int accepted_set(const cJSON *mcs, const struct tailscale_args *a,
                        struct mc_meshcluster **set, size_t *n, FILE *err)
{
    struct mc_desired d;
    *n = 0;
    *set = NULL;
    if (mc_desired_compute(mcs, validating_cluster(mcs, a), &a->desired, NULL, 0, &d) < 0)
        return -1;
    int rc = 0;
    if (d.nclusters == 0) {
        fprintf(err, "meshctl render: no MeshCluster found\n");
        rc = -1;
    }
    *set = calloc(d.nclusters ? d.nclusters : 1, sizeof(**set));
    for (size_t i = 0; *set && i < d.nclusters; i++) {
        const struct mc_cluster_result *r = &d.clusters[i];
        if (!r->accepted) {
            fprintf(err, "MeshCluster \"%s\": Accepted=False %s: %s: %s\n", r->name, r->why.reason,
                    r->why.field[0] ? r->why.field : "-", r->why.message);
            rc = -1;
            continue;
        }
        const cJSON *it = mcs->child;
        while (it && strcmp(mc_name(it), r->name) != 0)
            it = it->next;
        if (it && mc_meshcluster_parse(it, &(*set)[*n], NULL) == 0)
            (*n)++;
        else
            rc = -1;
    }
    mc_desired_free(&d);
    if (!*set)
        return -1;
    qsort(*set, *n, sizeof(**set), cmp_mc_name);
    return rc;
}

static void set_free(struct mc_meshcluster *set, size_t n)
{
    for (size_t i = 0; set && i < n; i++)
        mc_meshcluster_clear(&set[i]);
    free(set);
}

/* What the chosen mode prints for the accepted set; NULL with a message on err. */
static cJSON *tailscale_output(const struct tailscale_args *a, const struct mc_meshcluster *set,
                               size_t n, FILE *err)
{
    if (a->mode == MODE_TAILNET_POLICY)
        return mc_tailnet_policy(set, n, &a->tailnet);
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i].name, a->cluster) == 0)
            return mc_tailnet_operator_values(&set[i], &a->tailnet);
    fprintf(err, "meshctl render: no accepted MeshCluster is named \"%s\"\n", a->cluster);
    return NULL;
}

int meshctl_render_tailscale(int argc, char **argv, FILE *out, FILE *err)
{
    struct tailscale_args a = {.mode = MODE_NONE};
    mc_tailnet_options_default(&a.tailnet);
    mc_desired_options_default(&a.desired);
    int rc = 0;
    if (parse_args(argc, argv, &a, out, err, &rc) < 0)
        return rc;
    cJSON *mcs = cJSON_CreateArray();
    for (size_t i = 0; mcs && i < a.nfiles; i++)
        if (meshctl_load_meshclusters(a.files[i], mcs, err) < 0)
            rc = 1;
    struct mc_meshcluster *set = NULL;
    size_t n = 0;
    if (!mcs || (rc == 0 && accepted_set(mcs, &a, &set, &n, err) < 0))
        rc = 1;
    cJSON *doc = rc == 0 ? tailscale_output(&a, set, n, err) : NULL;
    const char *format = a.format ? a.format : a.mode == MODE_TAILNET_POLICY ? "json" : "yaml";
    char *text = !doc ? NULL : strcmp(format, "json") == 0 ? cJSON_Print(doc) : k8s_yaml_emit(doc);
    if (rc == 0 && !text) {
        fprintf(err, "meshctl render: cannot format the output\n");
        rc = 1;
    } else if (text) {
        fputs(text, out);
        if (strcmp(format, "json") == 0)
            fputc('\n', out);
    }
    free(text);
    cJSON_Delete(doc);
    set_free(set, n);
    cJSON_Delete(mcs);
    return rc;
}
