#include "controller/subset.h"

#include <string.h>

int mc_subset(const cJSON *want, const cJSON *have)
{
    if (!want)
        return 1;
    if (!have)
        return 0;
    if (cJSON_IsObject(want)) {
        if (!cJSON_IsObject(have))
            return 0;
        for (const cJSON *w = want->child; w; w = w->next)
            if (!mc_subset(w, cJSON_GetObjectItemCaseSensitive(have, w->string)))
                return 0;
        return 1;
    }
    if (cJSON_IsArray(want)) {
        /* Same length: a list we set whole (ports, servers) must not carry extra items. */
        if (!cJSON_IsArray(have) || cJSON_GetArraySize(want) != cJSON_GetArraySize(have))
            return 0;
        const cJSON *h = have->child;
        for (const cJSON *w = want->child; w; w = w->next, h = h->next)
            if (!mc_subset(w, h))
                return 0;
        return 1;
    }
    return cJSON_Compare(want, have, 1);
}

int mc_subset_body(const cJSON *want, const cJSON *have)
{
    if (!cJSON_IsObject(want) || !cJSON_IsObject(have))
        return mc_subset(want, have);
    for (const cJSON *w = want->child; w; w = w->next) {
        if (strcmp(w->string, "apiVersion") == 0 || strcmp(w->string, "kind") == 0)
            continue;
        if (!mc_subset(w, cJSON_GetObjectItemCaseSensitive(have, w->string)))
            return 0;
    }
    return 1;
}
