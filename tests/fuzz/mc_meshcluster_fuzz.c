/*
 * Fuzzes MeshCluster input end to end: bytes -> YAML/JSON documents -> parse, validate and
 * compute the desired state for the first cluster's name. Must never crash or leak, and
 * must be deterministic (two runs give the same objects).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controller/desired.h"
#include "k8s/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *render(const cJSON *docs, const char *local)
{
    struct mc_desired d;
    if (mc_desired_compute(docs, local, NULL, NULL, 0, &d) < 0)
        return NULL;
    cJSON *arr = mc_desired_objects_array(&d);
    char *text = arr ? k8s_yaml_emit_all(arr) : NULL;
    /* Everything we emit must be readable again. */
    if (text) {
        cJSON *back = k8s_yaml_parse_all(text, strlen(text), NULL, 0);
        if (!back || !cJSON_Compare(back, arr, 1))
            abort();
        cJSON_Delete(back);
    }
    cJSON_Delete(arr);
    mc_desired_free(&d);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *docs = k8s_yaml_parse_all((const char *)data, size, NULL, 0);
    if (!docs)
        return 0;
    const char *local = "cluster1";
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(docs, 0), "metadata"), "name");
    if (cJSON_IsString(name))
        local = name->valuestring;
    char *a = render(docs, local);
    char *b = render(docs, local);
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        abort();
    free(a);
    free(b);
    cJSON_Delete(docs);
    return 0;
}
