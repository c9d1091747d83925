/*
 * Fuzzes what `meshctl status` and `meshctl doctor` make of objects an API server returns:
 * bytes -> JSON -> the MeshCluster list of two sources (the second with the first's items in
 * reverse) for the matrix, and every array and object of a doctor snapshot for the checks
 * (MeshClusters, Services, Secrets, ConfigMaps, DestinationRules all the same array, so any
 * shape reaches every check). Neither may crash or leak on any input, and both must give the
 * same report twice (they are pure).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/doctor.h"
#include "controller/matrix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *matrix_text(const cJSON *a, const cJSON *b)
{
    struct mc_matrix_source src[3] = {
        {"a", a, NULL, NULL}, {"b", b, NULL, "ctx"}, {"c", NULL, "unreachable", NULL}};
    struct mc_matrix m;
    if (mc_matrix_build(src, 3, &m) != 0)
        return NULL;
    cJSON *j = mc_matrix_to_json(&m);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    mc_matrix_free(&m);
    return text;
}

static char *doctor_text(const cJSON *items)
{
    const cJSON *first = cJSON_IsArray(items) ? items->child : NULL;
    struct mc_doctor_snapshot s = {
        .source = "a",
        .meshclusters = items,
        .gateway_crd = first,
        .gateway = first,
        .istio_namespace = first,
        .services = items,
        .secrets = items,
        .configmaps = items,
        .destination_rules = items,
    };
    struct mc_doctor_options o;
    mc_desired_options_default(&o.desired);
    o.now = 1800000000; /* fixed: the report must not depend on the clock */
    struct mc_doctor_report r;
    if (mc_doctor_run(&s, 1, &o, &r) != 0)
        return NULL;
    cJSON *j = mc_doctor_to_json(&r);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    mc_doctor_report_free(&r);
    return text;
}

static void same(char *x, char *y)
{
    if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
        abort();
    free(x);
    free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *v = cJSON_ParseWithLength((const char *)data, size);
    if (!v)
        return 0;
    /* A List as the API server sends it, or a bare array of items. */
    cJSON *items = cJSON_IsArray(v) ? v : cJSON_GetObjectItemCaseSensitive(v, "items");
    if (!cJSON_IsArray(items)) {
        cJSON_Delete(v);
        return 0;
    }
    cJSON *rev = cJSON_CreateArray();
    for (cJSON *it = items->child; rev && it; it = it->next)
        cJSON_InsertItemInArray(rev, 0, cJSON_Duplicate(it, 1));
    same(matrix_text(items, rev), matrix_text(items, rev));
    same(doctor_text(items), doctor_text(items));
    cJSON_Delete(rev);
    cJSON_Delete(v);
    return 0;
}
