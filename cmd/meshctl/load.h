/* Loading MeshCluster manifests from files for meshctl's offline commands. */
#ifndef MESHCTL_LOAD_H
#define MESHCTL_LOAD_H

#include <stdio.h>
#include <cjson/cJSON.h>

/*
 * Appends to out (a cJSON array) every MeshCluster in path: a file ("-" = stdin) or a
 * directory, whose *.yaml, *.yml and *.json files are read in name order. Other kinds are
 * skipped with a note on err. Returns 0, or -1 after describing the failure on err.
 */
int meshctl_load_meshclusters(const char *path, cJSON *out, FILE *err);

#endif
