/*
 * Test driver for tests/trust/seed_failures_test.py: runs mc_trust_evaluate on objects taken
 * from a real API server with `kubectl get -o json` and prints what the controller would
 * report, as one JSON object on stdout:
 *   {"type":"TrustVerified","status","reason","message","trust":{...},"fingerprints":{...},
 *    "event":{"type":"Warning","reason","message"}?}
 *
 *   trust_eval_tool [--secret FILE] [--configmap FILE] [--meshclusters FILE] [--now UNIX]
 *
 * A missing option or an empty file means the object does not exist (kubectl prints nothing
 * for --ignore-not-found). --meshclusters takes YAML or JSON: single objects, several
 * documents, or a List with items. Exit status: 0 printed a verdict, 2 usage or input error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/meshcluster.h"
#include "controller/trust.h"
#include "k8s/yaml.h"
#include "pki/pki.h"

/* Reads FILE as YAML/JSON documents; *docs NULL when the file is empty. Returns 0 or -1. */
static int read_docs(const char *path, cJSON **docs)
{
    *docs = NULL;
    if (!path)
        return 0;
    char *buf = NULL;
    size_t len = 0;
    if (pki_file_read(path, &buf, &len) < 0) {
        fprintf(stderr, "trust_eval_tool: cannot read %s\n", path);
        return -1;
    }
    char err[256];
    cJSON *all = k8s_yaml_parse_all(buf, len, err, sizeof(err));
    free(buf);
    if (!all) {
        fprintf(stderr, "trust_eval_tool: %s: %s\n", path, err);
        return -1;
    }
    if (cJSON_GetArraySize(all) == 0)
        cJSON_Delete(all);
    else
        *docs = all;
    return 0;
}

/* The single object of FILE (detached into *obj, NULL when empty). */
static int read_object(const char *path, cJSON **obj)
{
    cJSON *docs;
    *obj = NULL;
    if (read_docs(path, &docs) < 0)
        return -1;
    if (docs) {
        *obj = cJSON_DetachItemFromArray(docs, 0);
        cJSON_Delete(docs);
    }
    return 0;
}

/* Parses every MeshCluster of docs (Lists flattened) into a new array *out of *n. */
static int parse_clusters(const cJSON *docs, struct mc_meshcluster **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    const cJSON *doc;
    cJSON_ArrayForEach(doc, docs)
    {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
        const cJSON *one = items ? items->child : doc;
        for (; one; one = items ? one->next : NULL) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 4;
                struct mc_meshcluster *grown = realloc(*out, cap * sizeof(**out));
                if (!grown)
                    return -ENOMEM;
                *out = grown;
            }
            struct mc_field_error ferr;
            if (mc_meshcluster_parse(one, &(*out)[*n], &ferr) < 0) {
                fprintf(stderr, "trust_eval_tool: MeshCluster %s: %s\n", ferr.field, ferr.message);
                return -EINVAL;
            }
            (*n)++;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *secret_path = NULL, *cm_path = NULL, *mc_path = NULL;
    time_t now = time(NULL);
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            goto usage;
        if (strcmp(argv[i], "--secret") == 0)
            secret_path = argv[++i];
        else if (strcmp(argv[i], "--configmap") == 0)
            cm_path = argv[++i];
        else if (strcmp(argv[i], "--meshclusters") == 0)
            mc_path = argv[++i];
        else if (strcmp(argv[i], "--now") == 0)
            now = (time_t)strtoll(argv[++i], NULL, 10);
        else
            goto usage;
    }

    int status = 2;
    cJSON *secret = NULL, *cm = NULL, *mc_docs = NULL, *out = NULL;
    struct mc_meshcluster *clusters = NULL;
    size_t nclusters = 0;
    if (read_object(secret_path, &secret) < 0 || read_object(cm_path, &cm) < 0 ||
        read_docs(mc_path, &mc_docs) < 0 || parse_clusters(mc_docs, &clusters, &nclusters) < 0)
        goto done;

    struct mc_trust_input in = {.cacerts_secret = secret,
                                .root_configmap = cm,
                                .clusters = clusters,
                                .nclusters = nclusters,
                                .now = now};
    struct mc_trust_result r;
    if (mc_trust_evaluate(&in, &r) < 0) {
        fprintf(stderr, "trust_eval_tool: %s\n", r.message);
        goto done;
    }

    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "type", MC_COND_TRUST_VERIFIED);
    cJSON_AddStringToObject(out, "status", r.status);
    cJSON_AddStringToObject(out, "reason", r.reason);
    cJSON_AddStringToObject(out, "message", r.message);
    cJSON_AddItemToObject(out, "trust", mc_trust_status_json(&r));
    cJSON *fps = cJSON_AddObjectToObject(out, "fingerprints");
    cJSON_AddStringToObject(fps, "cacerts", r.cacerts_root_fingerprint);
    cJSON_AddStringToObject(fps, "declared", r.declared_root_fingerprint);
    cJSON_AddStringToObject(fps, "istiod", r.istiod_root_fingerprint);
    if (r.warn) {
        cJSON *ev = cJSON_AddObjectToObject(out, "event");
        cJSON_AddStringToObject(ev, "type", "Warning");
        cJSON_AddStringToObject(ev, "reason", MC_TRUST_EVENT_EXPIRING);
        cJSON_AddStringToObject(ev, "message", r.event_message);
    }
    char *text = cJSON_PrintUnformatted(out);
    if (text) {
        printf("%s\n", text);
        free(text);
        status = 0;
    }

done:
    for (size_t i = 0; i < nclusters; i++)
        mc_meshcluster_clear(&clusters[i]);
    free(clusters);
    cJSON_Delete(out);
    cJSON_Delete(secret);
    cJSON_Delete(cm);
    cJSON_Delete(mc_docs);
    return status;

usage:
    fprintf(stderr, "usage: trust_eval_tool [--secret FILE] [--configmap FILE] "
                    "[--meshclusters FILE] [--now UNIX]\n");
    return 2;
}
