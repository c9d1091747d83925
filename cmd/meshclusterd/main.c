/*
 * meshclusterd: the meshcluster controller daemon. This file only wires: flags, signals,
 * the libuv loop and an ordered shutdown. The reconciler lives in controller/, the
 * Kubernetes client runtime in k8s/.
 */
#include <stdio.h>
#include <string.h>

#include "mc_version.h"

static void meshclusterd_usage(FILE *f)
{
    fprintf(f, "Usage: meshclusterd [options]\n\n"
               "Reconciles the Tailscale + Istio multi-cluster wiring described by MeshCluster\n"
               "objects into this cluster.\n\n"
               "Options:\n"
               "  -h, --help     show this help\n"
               "  -v, --version  print the version\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            meshclusterd_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("meshclusterd %s\n", MC_VERSION);
            return 0;
        }
        fprintf(stderr, "meshclusterd: unknown flag \"%s\" (see --help)\n", argv[i]);
        return 2;
    }
    meshclusterd_usage(stderr);
    return 2;
}
