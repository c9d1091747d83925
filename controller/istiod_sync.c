/* istiod's /debug/clusterz read; see istiod_sync.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "controller/istiod_sync.h"

/* Copies a string member into dst; 0 when absent (""), -1 when not a string or too long. */
static int copy_field(const cJSON *obj, const char *key, char *dst, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    dst[0] = '\0';
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return -1;
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

/* By id, then secret and status: a total order, so equal answers compare equal whatever order
 * istiod listed them in (it ranges over a Go map: the order changes from call to call). */
static int cmp_id(const void *a, const void *b)
{
    const struct mc_istiod_cluster *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (!c)
        c = strcmp(x->secret_name, y->secret_name);
    return c ? c : strcmp(x->sync_status, y->sync_status);
}

int mc_istiod_clusters_parse(const char *body, size_t len, struct mc_istiod_clusters *out)
{
    memset(out, 0, sizeof(*out));
    cJSON *doc = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsArray(doc)) {
        cJSON_Delete(doc);
        return -EINVAL;
    }
    size_t n = (size_t)cJSON_GetArraySize(doc);
    if (n > MC_ISTIOD_MAX_CLUSTERS)
        n = MC_ISTIOD_MAX_CLUSTERS;
    out->items = calloc(n ? n : 1, sizeof(*out->items));
    if (!out->items) {
        cJSON_Delete(doc);
        return -ENOMEM;
    }
    for (const cJSON *it = doc->child; it && out->n < n; it = it->next) {
        struct mc_istiod_cluster *c = &out->items[out->n];
        if (!cJSON_IsObject(it) || copy_field(it, "id", c->id, sizeof(c->id)) < 0 ||
            copy_field(it, "secretName", c->secret_name, sizeof(c->secret_name)) < 0 ||
            copy_field(it, "syncStatus", c->sync_status, sizeof(c->sync_status)) < 0 || !c->id[0])
            continue;
        out->n++;
    }
    cJSON_Delete(doc);
    /* By id, so each remote's verdict is a binary search: the reconciler asks for every
     * remote on every status pass. */
    qsort(out->items, out->n, sizeof(*out->items), cmp_id);
    return 0;
}

void mc_istiod_clusters_free(struct mc_istiod_clusters *c)
{
    free(c->items);
    memset(c, 0, sizeof(*c));
}

enum mc_istiod_sync mc_istiod_sync_of(const struct mc_istiod_clusters *clusters, const char *id,
                                      uint64_t secret_age_ms)
{
    if (!clusters)
        return MC_ISTIOD_UNREACHABLE;
    static const struct {
        const char *word;
        enum mc_istiod_sync sync;
    } known[] = {{"synced", MC_ISTIOD_SYNCED},
                 {"syncing", MC_ISTIOD_SYNCING},
                 {"timeout", MC_ISTIOD_TIMEOUT},
                 {"closed", MC_ISTIOD_CLOSED}};
    /* A secret can list a cluster twice while istiod swaps it: a synced entry wins. */
    enum mc_istiod_sync found = MC_ISTIOD_NOT_LOADED;
    size_t lo = 0, hi = clusters->n; /* the first entry with this id (items are sorted by id) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(clusters->items[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < clusters->n && strcmp(clusters->items[i].id, id) == 0; i++) {
        const struct mc_istiod_cluster *c = &clusters->items[i];
        if (!c->secret_name[0])
            continue;
        enum mc_istiod_sync s = MC_ISTIOD_OTHER;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            if (strcmp(c->sync_status, known[k].word) == 0)
                s = known[k].sync;
        if (found == MC_ISTIOD_NOT_LOADED || s == MC_ISTIOD_SYNCED)
            found = s;
    }
    if (found == MC_ISTIOD_NOT_LOADED && secret_age_ms > MC_ISTIOD_LOAD_GRACE_MS)
        return MC_ISTIOD_NOT_LOADED_LATE;
    return found;
}

const char *mc_istiod_sync_reason(enum mc_istiod_sync s)
{
    switch (s) {
    case MC_ISTIOD_SYNCED:
        return "Synced";
    case MC_ISTIOD_SYNCING:
        return "Syncing";
    case MC_ISTIOD_TIMEOUT:
        return "Timeout";
    case MC_ISTIOD_CLOSED:
        return "Closed";
    case MC_ISTIOD_NOT_LOADED:
    case MC_ISTIOD_NOT_LOADED_LATE:
        return "NotLoaded";
    case MC_ISTIOD_UNREACHABLE:
        return "IstiodUnreachable";
    case MC_ISTIOD_OTHER:
        break;
    }
    return "Unknown";
}

uint64_t mc_istiod_age_ms(const char *creation_timestamp, time_t now)
{
    struct tm tm = {0};
    char z = 0;
    if (!creation_timestamp ||
        sscanf(creation_timestamp, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) != 7 ||
        z != 'Z')
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t != (time_t)-1 && now > t ? (uint64_t)(now - t) * 1000u : 0;
}
