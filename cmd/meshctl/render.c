/*
 * meshctl render: prints the objects meshclusterd would apply in one cluster, computed by
 * the same pure function (controller/desired.c), so GitOps users can review or commit them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/meshctl/commands.h"
#include "cmd/meshctl/load.h"
#include "controller/desired.h"
#include "k8s/yaml.h"

#define RENDER_MAX_TOKENS 64

static void render_usage(FILE *f)
{
    fprintf(f,
            "Usage: meshctl render --cluster NAME -f FILE_OR_DIR [-f ...] [options]\n\n"
            "Reads MeshCluster objects (YAML or JSON, multi-document, Lists allowed; a\n"
            "directory contributes its *.yaml, *.yml and *.json files) and prints what the\n"
            "controller running in cluster NAME would apply.\n\n"
            "Options:\n"
            "  -o, --output yaml|json       output format (default yaml, multi-document)\n"
            "  --mesh-networks MODE         configmap, helm-values or both (default both)\n"
            "  --istio-namespace NS         default istio-system\n"
            "  --tailscale-namespace NS     default tailscale\n"
            "  --cluster-domain DOMAIN      default cluster.local\n"
            "  --helm-values-name NAME      default meshcluster-istiod-values\n"
            "  --token CLUSTER=TOKEN        token for a remote whose remoteSecret.auth is secret\n"
            "  --tailnet-policy             print the tailnet policy fragment instead (see\n"
            "                               meshctl render --tailnet-policy --help)\n"
            "  --tailscale-operator-values  print the Tailscale operator's Helm values instead\n");
}

/* The command line of `meshctl render`. */
struct render_args {
    const char *cluster, *format;
    struct mc_desired_options opts;
    struct mc_remote_token tokens[RENDER_MAX_TOKENS];
    size_t ntokens;
    const char *files[64];
    size_t nfiles;
};

/* --mesh-networks v into opts; false when v is not a mode. */
static bool mesh_networks_mode(const char *v, struct mc_desired_options *opts)
{
    if (strcmp(v, "configmap") == 0)
        opts->mesh_networks_mode = MC_MESHNET_CONFIGMAP;
    else if (strcmp(v, "helm-values") == 0)
        opts->mesh_networks_mode = MC_MESHNET_HELM_VALUES;
    else if (strcmp(v, "both") == 0)
        opts->mesh_networks_mode = MC_MESHNET_BOTH;
    else
        return false;
    return true;
}

/* One option a with its value v (argv is ours: --token's is split in place). 0, or the exit
 * code 2 after saying why on err. */
static int render_option(struct render_args *ra, const char *a, char *v, FILE *err)
{
    struct mc_desired_options *o = &ra->opts;
    if (strcmp(a, "--cluster") == 0 || strcmp(a, "--cluster-name") == 0) {
        ra->cluster = v;
    } else if (strcmp(a, "-f") == 0 || strcmp(a, "--filename") == 0) {
        if (ra->nfiles == sizeof(ra->files) / sizeof(ra->files[0])) {
            fprintf(err, "meshctl render: too many -f\n");
            return 2;
        }
        ra->files[ra->nfiles++] = v;
    } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
        ra->format = v;
    } else if (strcmp(a, "--mesh-networks") == 0) {
        if (!mesh_networks_mode(v, o)) {
            fprintf(err, "meshctl render: --mesh-networks: configmap, helm-values or both\n");
            return 2;
        }
    } else if (strcmp(a, "--istio-namespace") == 0) {
        o->istio_namespace = v;
    } else if (strcmp(a, "--tailscale-namespace") == 0) {
        o->tailscale_namespace = v;
    } else if (strcmp(a, "--cluster-domain") == 0) {
        o->cluster_domain = v;
    } else if (strcmp(a, "--helm-values-name") == 0) {
        o->helm_values_name = v;
    } else if (strcmp(a, "--token") == 0) {
        char *eq = strchr(v, '=');
        if (!eq || ra->ntokens == RENDER_MAX_TOKENS) {
            fprintf(err, "meshctl render: --token CLUSTER=TOKEN\n");
            return 2;
        }
        *eq = '\0';
        ra->tokens[ra->ntokens].cluster = v;
        ra->tokens[ra->ntokens++].token = eq + 1;
    } else {
        fprintf(err, "meshctl render: unknown option %s\n", a);
        render_usage(err);
        return 2;
    }
    return 0;
}

/* Parses argv into *ra: -1 to go on, else the exit code (0 after --help). */
static int render_parse(int argc, char **argv, struct render_args *ra, FILE *out, FILE *err)
{
    memset(ra, 0, sizeof(*ra));
    ra->format = "yaml";
    mc_desired_options_default(&ra->opts);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            render_usage(out);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(err, "meshctl render: %s needs a value\n", a);
            render_usage(err);
            return 2;
        }
        int rc = render_option(ra, a, argv[++i], err);
        if (rc)
            return rc;
    }
    if (!ra->cluster || ra->nfiles == 0) {
        fprintf(err, "meshctl render: --cluster and -f are required\n");
        render_usage(err);
        return 2;
    }
    if (strcmp(ra->format, "yaml") != 0 && strcmp(ra->format, "json") != 0) {
        fprintf(err, "meshctl render: -o must be yaml or json\n");
        return 2;
    }
    return -1;
}

/* Says on err why a MeshCluster renders nothing or no remote secret; 1 when one is not
 * accepted or there is none at all, else 0. */
static int render_verdicts(const struct mc_desired *d, FILE *err)
{
    int rc = 0;
    for (size_t i = 0; i < d->nclusters; i++) {
        const struct mc_cluster_result *r = &d->clusters[i];
        if (!r->accepted) {
            fprintf(err, "MeshCluster \"%s\": Accepted=False %s: %s: %s\n", r->name, r->why.reason,
                    r->why.field[0] ? r->why.field : "-", r->why.message);
            rc = 1;
        } else if (r->remote_secret_pending) {
            fprintf(err,
                    "MeshCluster \"%s\": no token given (--token %s=...); its remote "
                    "secret is left out\n",
                    r->name, r->name);
        }
    }
    if (d->nclusters == 0) {
        fprintf(err, "meshctl render: no MeshCluster found\n");
        rc = 1;
    }
    return rc;
}

/* The desired objects as YAML documents or a JSON List; NULL when out of memory. */
static char *render_text(const struct mc_desired *d, bool json)
{
    cJSON *objs = mc_desired_objects_array(d);
    char *text = NULL;
    if (objs && json) {
        cJSON *list = cJSON_CreateObject();
        cJSON_AddStringToObject(list, "apiVersion", "v1");
        cJSON_AddStringToObject(list, "kind", "List");
        cJSON_AddItemToObject(list, "items", objs);
        objs = NULL;
        text = cJSON_Print(list);
        cJSON_Delete(list);
    } else if (objs) {
        text = k8s_yaml_emit_all(objs);
    }
    cJSON_Delete(objs);
    return text;
}

/* Computes the desired state of the MeshClusters in ra's files into *d; 0, or the exit code
 * after saying why. */
static int render_compute(const struct render_args *ra, struct mc_desired *d, FILE *err)
{
    cJSON *mcs = cJSON_CreateArray();
    if (!mcs)
        return 1;
    for (size_t i = 0; i < ra->nfiles; i++) {
        if (meshctl_load_meshclusters(ra->files[i], mcs, err) < 0) {
            cJSON_Delete(mcs);
            return 1;
        }
    }
    int rc = mc_desired_compute(mcs, ra->cluster, &ra->opts, ra->tokens, ra->ntokens, d);
    cJSON_Delete(mcs);
    if (rc < 0) {
        fprintf(err, "meshctl render: out of memory\n");
        return 1;
    }
    return 0;
}

int meshctl_cmd_render(int argc, char **argv, FILE *out, FILE *err)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--tailnet-policy") == 0 ||
            strcmp(argv[i], "--tailscale-operator-values") == 0)
            return meshctl_render_tailscale(argc, argv, out, err);
    struct render_args ra;
    int rc = render_parse(argc, argv, &ra, out, err);
    if (rc >= 0)
        return rc;
    struct mc_desired d;
    if ((rc = render_compute(&ra, &d, err)) != 0)
        return rc;
    rc = render_verdicts(&d, err);
    if (rc == 0) {
        bool json = strcmp(ra.format, "json") == 0;
        char *text = render_text(&d, json);
        if (!text) {
            fprintf(err, "meshctl render: cannot format the output\n");
            rc = 1;
        } else {
            fputs(text, out);
            if (json)
                fputc('\n', out);
            free(text);
        }
    }
    mc_desired_free(&d);
    return rc;
}
