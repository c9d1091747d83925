/*
 * meshclusterd: the meshcluster controller daemon. This file only wires: flags, signals,
 * the libuv loop and an ordered shutdown. The reconciler lives in controller/, the
 * Kubernetes client runtime in k8s/.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/meshclusterd/flags.h"
#include "mc_version.h"

extern char **environ;

int main(int argc, char **argv)
{
    mcd_flags flags;
    char err[256];
    int in_cluster = getenv("KUBERNETES_SERVICE_HOST") != NULL;
    if (mcd_flags_parse(&flags, argc, argv, environ, in_cluster, err, sizeof(err)) != 0) {
        fprintf(stderr, "meshclusterd: %s\n", err);
        return 2;
    }
    if (flags.help) {
        mcd_flags_usage(stdout);
        return 0;
    }
    if (flags.version) {
        printf("meshclusterd %s\n", MC_VERSION);
        return 0;
    }
    fprintf(stderr, "meshclusterd: the reconcile loop is not wired into this build yet\n");
    return 1;
}
