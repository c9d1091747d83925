/*
 * Tolerant readers for objects as the API server returns them: a missing key or a value of
 * another type reads as absent, never as an error, since status and doctor report on whatever
 * a cluster holds, however broken.
 */
#ifndef MC_JSON_GET_H
#define MC_JSON_GET_H

#include <string.h>

#include <cjson/cJSON.h>

#include "controller/meshcluster.h"

/* o[key] when it is a string, else NULL. */
static inline const char *mc_json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* o[key] when it is an object, else NULL. */
static inline const cJSON *mc_json_obj(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsObject(v) ? v : NULL;
}

/* o[key] when it is an array, else NULL. */
static inline const cJSON *mc_json_arr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsArray(v) ? v : NULL;
}

/* o[key] when it is a whole number a double holds exactly, else dflt (through mc_json_integer:
 * converting an out-of-range double is undefined behaviour). */
static inline long long mc_json_num(const cJSON *o, const char *key, long long dflt)
{
    long long v = dflt;
    mc_json_integer(cJSON_GetObjectItemCaseSensitive(o, key), -MC_JSON_INTEGER_MAX,
                    MC_JSON_INTEGER_MAX, &v);
    return v;
}

/* The object of that metadata.namespace (NULL: any) and metadata.name in an array, or NULL. */
static inline const cJSON *mc_json_find_named(const cJSON *items, const char *ns, const char *name)
{
    for (const cJSON *it = items ? items->child : NULL; it; it = it->next) {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(it, "metadata");
        const char *n = mc_json_str(md, "name"), *s = mc_json_str(md, "namespace");
        if (n && strcmp(n, name) == 0 && (!ns || (s && strcmp(s, ns) == 0)))
            return it;
    }
    return NULL;
}

#endif
