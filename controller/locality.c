/*
 * The mesh-wide localityLbSetting from the set's regions; the rule is in locality.h.
 */
#include "controller/locality.h"

#include <stdlib.h>
#include <string.h>

/* The set's distinct non-empty regions, in the order of their first cluster (borrowed
 * strings). A set has few regions, so the linear look-up costs nothing next to the set. */
struct regions {
    const char **name;
    size_t n;
};

static size_t region_index(const struct regions *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->name[i], name) == 0)
            return i;
    return r->n;
}

static int regions_collect(struct regions *r, const struct mc_meshcluster *const *set, size_t n)
{
    r->n = 0;
    r->name = calloc(n ? n : 1, sizeof(*r->name));
    if (!r->name)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (set[i]->region[0] && region_index(r, set[i]->region) == r->n)
            r->name[r->n++] = set[i]->region;
    return 0;
}

/* Where region `from` fails over to: the first usable preference of its clusters in the
 * set's order, else the next region of the ring. */
static const char *failover_target(const struct regions *r, size_t from,
                                   const struct mc_meshcluster *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct mc_meshcluster *c = set[i];
        if (strcmp(c->region, r->name[from]) != 0)
            continue;
        for (size_t k = 0; k < c->nfailover; k++) {
            size_t to = region_index(r, c->failover[k]);
            if (to < r->n && to != from)
                return r->name[to];
        }
    }
    return r->name[(from + 1) % r->n];
}

static cJSON *pair(const char *from, const char *to)
{
    cJSON *p = cJSON_CreateObject();
    if (p && (!cJSON_AddStringToObject(p, "from", from) || !cJSON_AddStringToObject(p, "to", to))) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

cJSON *mc_locality_lb_setting(const struct mc_meshcluster *const *set, size_t n, int *oom)
{
    struct regions r;
    if (regions_collect(&r, set, n) != 0) {
        *oom = 1;
        return NULL;
    }
    cJSON *lb = NULL;
    if (r.n >= 2) {
        lb = cJSON_CreateObject();
        cJSON *failover = NULL;
        if (!lb || !cJSON_AddTrueToObject(lb, "enabled") ||
            !(failover = cJSON_AddArrayToObject(lb, "failover")))
            *oom = 1;
        for (size_t i = 0; !*oom && i < r.n; i++) {
            cJSON *p = pair(r.name[i], failover_target(&r, i, set, n));
            if (!p || !cJSON_AddItemToArray(failover, p)) {
                cJSON_Delete(p);
                *oom = 1;
            }
        }
    }
    free(r.name);
    if (*oom) {
        cJSON_Delete(lb);
        return NULL;
    }
    return lb;
}

const char *mc_locality_unknown_preference(const struct mc_meshcluster *c,
                                           const struct mc_meshcluster *const *set, size_t n)
{
    for (size_t k = 0; k < c->nfailover; k++) {
        size_t i = 0;
        while (i < n && strcmp(set[i]->region, c->failover[k]) != 0)
            i++;
        if (i == n)
            return c->failover[k];
    }
    return NULL;
}
