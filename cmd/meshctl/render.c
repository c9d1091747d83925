/*
 * meshctl render: prints the objects meshclusterd would apply in one cluster, computed by
 * the same pure function (controller/desired.c), so GitOps users can review or commit them.
 */
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

int meshctl_cmd_render(int argc, char **argv, FILE *out, FILE *err)
{
    const char *cluster = NULL, *format = "yaml";
    struct mc_desired_options opts;
    struct mc_remote_token tokens[RENDER_MAX_TOKENS];
    size_t ntokens = 0;
    const char *files[64];
    size_t nfiles = 0;
    mc_desired_options_default(&opts);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--tailnet-policy") == 0 ||
            strcmp(argv[i], "--tailscale-operator-values") == 0)
            return meshctl_render_tailscale(argc, argv, out, err);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            render_usage(out);
            return 0;
        }
        if (!v) {
            fprintf(err, "meshctl render: %s needs a value\n", a);
            render_usage(err);
            return 2;
        }
        i++;
        if (strcmp(a, "--cluster") == 0 || strcmp(a, "--cluster-name") == 0) {
            cluster = v;
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "--filename") == 0) {
            if (nfiles == sizeof(files) / sizeof(files[0])) {
                fprintf(err, "meshctl render: too many -f\n");
                return 2;
            }
            files[nfiles++] = v;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            format = v;
        } else if (strcmp(a, "--mesh-networks") == 0) {
            if (strcmp(v, "configmap") == 0)
                opts.mesh_networks_mode = MC_MESHNET_CONFIGMAP;
            else if (strcmp(v, "helm-values") == 0)
                opts.mesh_networks_mode = MC_MESHNET_HELM_VALUES;
            else if (strcmp(v, "both") == 0)
                opts.mesh_networks_mode = MC_MESHNET_BOTH;
            else {
                fprintf(err, "meshctl render: --mesh-networks: configmap, helm-values or both\n");
                return 2;
            }
        } else if (strcmp(a, "--istio-namespace") == 0) {
            opts.istio_namespace = v;
        } else if (strcmp(a, "--tailscale-namespace") == 0) {
            opts.tailscale_namespace = v;
        } else if (strcmp(a, "--cluster-domain") == 0) {
            opts.cluster_domain = v;
        } else if (strcmp(a, "--helm-values-name") == 0) {
            opts.helm_values_name = v;
        } else if (strcmp(a, "--token") == 0) {
            char *eq = strchr(v, '=');
            if (!eq || ntokens == RENDER_MAX_TOKENS) {
                fprintf(err, "meshctl render: --token CLUSTER=TOKEN\n");
                return 2;
            }
            *eq = '\0'; /* argv is ours to split */
            tokens[ntokens].cluster = v;
            tokens[ntokens++].token = eq + 1;
        } else {
            fprintf(err, "meshctl render: unknown option %s\n", a);
            render_usage(err);
            return 2;
        }
    }
    if (!cluster || nfiles == 0) {
        fprintf(err, "meshctl render: --cluster and -f are required\n");
        render_usage(err);
        return 2;
    }
    if (strcmp(format, "yaml") != 0 && strcmp(format, "json") != 0) {
        fprintf(err, "meshctl render: -o must be yaml or json\n");
        return 2;
    }

    cJSON *mcs = cJSON_CreateArray();
    if (!mcs)
        return 1;
    for (size_t i = 0; i < nfiles; i++) {
        if (meshctl_load_meshclusters(files[i], mcs, err) < 0) {
            cJSON_Delete(mcs);
            return 1;
        }
    }
    struct mc_desired d;
    if (mc_desired_compute(mcs, cluster, &opts, tokens, ntokens, &d) < 0) {
        fprintf(err, "meshctl render: out of memory\n");
        cJSON_Delete(mcs);
        return 1;
    }
    cJSON_Delete(mcs);
    int rc = 0;
    for (size_t i = 0; i < d.nclusters; i++) {
        const struct mc_cluster_result *r = &d.clusters[i];
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
    if (d.nclusters == 0) {
        fprintf(err, "meshctl render: no MeshCluster found\n");
        rc = 1;
    }
    if (rc == 0) {
        cJSON *objs = mc_desired_objects_array(&d);
        char *text = NULL;
        if (objs && strcmp(format, "json") == 0) {
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
        if (!text) {
            fprintf(err, "meshctl render: cannot format the output\n");
            rc = 1;
        } else {
            fputs(text, out);
            if (strcmp(format, "json") == 0)
                fputc('\n', out);
            free(text);
        }
    }
    mc_desired_free(&d);
    return rc;
}
