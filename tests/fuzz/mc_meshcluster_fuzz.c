/*
 * Fuzzes MeshCluster input end to end: bytes -> YAML/JSON documents -> parse, validate and
 * compute the desired state for the first cluster's name. Must never crash or leak, and
 * must be deterministic (two runs give the same objects); the compact state the daemon keeps
 * must give back every body the tree form holds. Each document's status, reduced as the
 * informer caches it (mc_status_compact), must read and compare as the original does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controller/desired.h"
#include "controller/status.h"
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
    struct mc_desired c;
    if (arr && mc_desired_compute_compact(docs, local, NULL, NULL, 0, &c) == 0) {
        if (c.nobjects != d.nobjects)
            abort();
        for (size_t i = 0; i < c.nobjects; i++) {
            cJSON *body = mc_desired_body(&c, i);
            if (!body || !cJSON_Compare(body, cJSON_GetArrayItem(arr, (int)i), 1))
                abort();
            cJSON_Delete(body);
        }
        mc_desired_free(&c);
    }
    cJSON_Delete(arr);
    mc_desired_free(&d);
    return text;
}

static void same_seen(const cJSON *a, const cJSON *b, const char *type)
{
    struct mc_condition_seen x, y;
    bool hx = mc_status_condition(a, type, &x), hy = mc_status_condition(b, type, &y);
    if (hx != hy || (hx && (strcmp(x.status, y.status) != 0 || strcmp(x.reason, y.reason) != 0 ||
                            strcmp(x.last_transition, y.last_transition) != 0)))
        abort();
}

/* The compact status of doc answers as its original: each condition, and equality with the
 * original taken as what the controller wants. */
static void check_compact_status(const cJSON *doc)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "status");
    if (!cJSON_IsObject(st))
        return;
    cJSON *copy = cJSON_Duplicate(doc, 1);
    if (!copy)
        return;
    mc_status_compact(copy, NULL);
    const cJSON *cst = cJSON_GetObjectItemCaseSensitive(copy, "status");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
        if (cJSON_IsString(t))
            same_seen(st, cst, t->valuestring);
    }
    if (mc_status_equal(cst, st) != mc_status_equal(st, st))
        abort();
    cJSON_Delete(copy);
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
    const cJSON *doc;
    cJSON_ArrayForEach(doc, docs) check_compact_status(doc);
    char *a = render(docs, local);
    char *b = render(docs, local);
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        abort();
    free(a);
    free(b);
    cJSON_Delete(docs);
    return 0;
}
