#include "controller/subset.h"

#include <stdbool.h>
#include <string.h>

/*
 * A list of objects (a list-map: Service ports keyed by port and protocol, Gateway servers)
 * matches when each wanted item is satisfied by its own item of have, in any order: the API
 * server keeps a list-map's order as it merged it (server-side apply appends an entry it did
 * not have), so after a port edit the same set in another order is not a difference, and
 * comparing in order wrote the object on every pass (issue 14.2). Lists are a few items long.
 */
static int list_map_subset(const cJSON *want, const cJSON *have)
{
    enum { MAX_ITEMS = 64 };
    bool used[MAX_ITEMS] = {false};
    if (cJSON_GetArraySize(have) > MAX_ITEMS)
        return 0; /* never ours: compare would be quadratic; a write settles it */
    if (cJSON_GetArraySize(want) > cJSON_GetArraySize(have))
        return 0;
    for (const cJSON *w = want->child; w; w = w->next) {
        int i = 0, found = 0;
        for (const cJSON *h = have->child; h && !found; h = h->next, i++)
            if (!used[i] && mc_subset(w, h)) {
                used[i] = true;
                found = 1;
            }
        if (!found)
            return 0;
    }
    return 1;
}

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
        /* Same length: a list we set whole (servers: a CRD's lists are atomic) must not carry
         * extra items; our apply replaces it. */
        if (!cJSON_IsArray(have) || cJSON_GetArraySize(want) != cJSON_GetArraySize(have))
            return 0;
        if (want->child && cJSON_IsObject(want->child))
            return list_map_subset(want, have);
        const cJSON *h = have->child;
        for (const cJSON *w = want->child; w; w = w->next, h = h->next)
            if (!mc_subset(w, h))
                return 0;
        return 1;
    }
    return cJSON_Compare(want, have, 1);
}

/*
 * A Service's spec: its ports are a list-map (keyed by port and protocol) that server-side
 * apply merges entry by entry, so an entry another writer added is theirs and stays whatever
 * we apply. Only ours must be there; an extra one is no difference (applying for it wrote a
 * no-op and an Applied Event). Every port edit of ours adds a key, which is noticed.
 */
static int service_spec_subset(const cJSON *want, const cJSON *have)
{
    if (!cJSON_IsObject(want) || !cJSON_IsObject(have))
        return mc_subset(want, have);
    for (const cJSON *w = want->child; w; w = w->next) {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(have, w->string);
        bool ports = strcmp(w->string, "ports") == 0 && cJSON_IsArray(w) && cJSON_IsArray(h) &&
                     w->child && cJSON_IsObject(w->child);
        if (!(ports ? list_map_subset(w, h) : mc_subset(w, h)))
            return 0;
    }
    return 1;
}

int mc_subset_body(const cJSON *want, const cJSON *have)
{
    if (!cJSON_IsObject(want) || !cJSON_IsObject(have))
        return mc_subset(want, have);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(want, "kind");
    bool service = cJSON_IsString(kind) && strcmp(kind->valuestring, "Service") == 0;
    for (const cJSON *w = want->child; w; w = w->next) {
        if (strcmp(w->string, "apiVersion") == 0 || strcmp(w->string, "kind") == 0)
            continue;
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(have, w->string);
        if (!(service && strcmp(w->string, "spec") == 0 ? service_spec_subset(w, h)
                                                        : mc_subset(w, h)))
            return 0;
    }
    return 1;
}
