/*
 * Desired vs current -> actions. Identity is (API group, kind, namespace, name): the
 * version is ignored so a Gateway made by hand as v1 is the same object as our v1beta1.
 */
#include "controller/reconcile_plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mc_plan_subset(const cJSON *want, const cJSON *have)
{
    if (!want)
        return 1;
    if (!have)
        return 0;
    if (cJSON_IsObject(want)) {
        if (!cJSON_IsObject(have))
            return 0;
        for (const cJSON *w = want->child; w; w = w->next)
            if (!mc_plan_subset(w, cJSON_GetObjectItemCaseSensitive(have, w->string)))
                return 0;
        return 1;
    }
    if (cJSON_IsArray(want)) {
        if (!cJSON_IsArray(have) || cJSON_GetArraySize(want) != cJSON_GetArraySize(have))
            return 0;
        const cJSON *h = have->child;
        for (const cJSON *w = want->child; w; w = w->next, h = h->next)
            if (!mc_plan_subset(w, h))
                return 0;
        return 1;
    }
    return cJSON_Compare(want, have, 1);
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The group of an apiVersion: "" for "v1", "networking.istio.io" for ".../v1beta1". */
static size_t group_len(const char *api)
{
    const char *slash = strchr(api, '/');
    return slash ? (size_t)(slash - api) : 0;
}

static int same_object(const cJSON *a, const cJSON *b)
{
    const char *aa = str_at(a, "apiVersion", NULL), *ba = str_at(b, "apiVersion", NULL);
    size_t ga = group_len(aa), gb = group_len(ba);
    return ga == gb && strncmp(aa, ba, ga) == 0 &&
           strcmp(str_at(a, "kind", NULL), str_at(b, "kind", NULL)) == 0 &&
           strcmp(str_at(a, "metadata", "namespace"), str_at(b, "metadata", "namespace")) == 0 &&
           strcmp(str_at(a, "metadata", "name"), str_at(b, "metadata", "name")) == 0;
}

static int is_ours(const cJSON *o)
{
    const cJSON *labels =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "labels");
    return strcmp(str_at(labels, MC_LABEL_MANAGED_BY, NULL), MC_FIELD_MANAGER) == 0;
}

static struct mc_plan_item *add_item(struct mc_plan *p, size_t *cap, enum mc_plan_action a,
                                     const cJSON *ident, cJSON *body, const char *cluster)
{
    if (p->nitems == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        struct mc_plan_item *n = realloc(p->items, c * sizeof(*n));
        if (!n)
            return NULL;
        p->items = n;
        *cap = c;
    }
    struct mc_plan_item *it = &p->items[p->nitems];
    memset(it, 0, sizeof(*it));
    it->action = a;
    it->api_version = strdup(str_at(ident, "apiVersion", NULL));
    it->kind = strdup(str_at(ident, "kind", NULL));
    it->namespace_ = strdup(str_at(ident, "metadata", "namespace"));
    it->name = strdup(str_at(ident, "metadata", "name"));
    it->cluster = strdup(cluster ? cluster : "");
    it->body = body;
    p->nitems++; /* counted now so mc_plan_free releases whatever was allocated */
    if (!it->api_version || !it->kind || !it->namespace_ || !it->name || !it->cluster)
        return NULL;
    return it;
}

static int cmp_delete(const void *a, const void *b)
{
    const struct mc_plan_item *x = a, *y = b;
    int r = strcmp(x->kind, y->kind);
    if (!r)
        r = strcmp(x->namespace_, y->namespace_);
    if (!r)
        r = strcmp(x->name, y->name);
    return r;
}

int mc_plan_compute(const struct mc_desired *d, const cJSON *current,
                    const struct mc_plan_options *opts, struct mc_plan *out)
{
    size_t cap = 0;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < d->nobjects; i++) {
        const struct mc_desired_object *want = &d->objects[i];
        const cJSON *have = NULL;
        for (const cJSON *c = current ? current->child : NULL; c && !have; c = c->next)
            if (same_object(want->object, c))
                have = c;
        struct mc_plan_item *it;
        if (!have) {
            if (want->flags & MC_DESIRED_MUST_EXIST) {
                it = add_item(out, &cap, MC_PLAN_WAIT, want->object, NULL, want->cluster);
                if (!it)
                    goto oom;
                snprintf(it->why, sizeof(it->why), "does not exist yet; not ours to create");
                continue;
            }
            cJSON *body = cJSON_Duplicate(want->object, 1);
            if (!body ||
                !(it = add_item(out, &cap, MC_PLAN_CREATE, want->object, body, want->cluster))) {
                if (body && (!out->nitems || out->items[out->nitems - 1].body != body))
                    cJSON_Delete(body);
                goto oom;
            }
            snprintf(it->why, sizeof(it->why), "missing");
            continue;
        }
        const char *want_class = str_at(want->object, "spec", "loadBalancerClass");
        const char *have_class = str_at(have, "spec", "loadBalancerClass");
        if (want_class[0] && have_class[0] && strcmp(want_class, have_class) != 0) {
            int replace = opts && opts->allow_replace;
            cJSON *body = replace ? cJSON_Duplicate(want->object, 1) : NULL;
            if ((replace && !body) ||
                !(it = add_item(out, &cap, replace ? MC_PLAN_REPLACE : MC_PLAN_BLOCKED,
                                want->object, body, want->cluster))) {
                if (body && (!out->nitems || out->items[out->nitems - 1].body != body))
                    cJSON_Delete(body);
                goto oom;
            }
            snprintf(it->why, sizeof(it->why),
                     "loadBalancerClass is %.40s, not %.40s, and cannot be changed in place",
                     have_class, want_class);
            continue;
        }
        cJSON *body = mc_desired_object_for_update(want);
        if (!body)
            goto oom;
        if (mc_plan_subset(body, have)) {
            cJSON_Delete(body);
            out->unchanged++;
            continue;
        }
        if (!(it = add_item(out, &cap, MC_PLAN_APPLY, want->object, body, want->cluster))) {
            if (!out->nitems || out->items[out->nitems - 1].body != body)
                cJSON_Delete(body);
            goto oom;
        }
        snprintf(it->why, sizeof(it->why), "differs from the desired state");
    }
    size_t first_delete = out->nitems;
    for (const cJSON *c = current ? current->child : NULL; c; c = c->next) {
        if (!is_ours(c))
            continue;
        int wanted = 0;
        for (size_t i = 0; i < d->nobjects && !wanted; i++)
            wanted = same_object(d->objects[i].object, c);
        if (wanted)
            continue;
        const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(c, "metadata"), "labels");
        struct mc_plan_item *it =
            add_item(out, &cap, MC_PLAN_DELETE, c, NULL, str_at(labels, MC_LABEL_CLUSTER, NULL));
        if (!it)
            goto oom;
        snprintf(it->why, sizeof(it->why), "no longer desired");
    }
    if (out->nitems > first_delete)
        qsort(out->items + first_delete, out->nitems - first_delete, sizeof(*out->items),
              cmp_delete);
    return 0;
oom:
    mc_plan_free(out);
    return -ENOMEM;
}

void mc_plan_free(struct mc_plan *p)
{
    for (size_t i = 0; i < p->nitems; i++) {
        struct mc_plan_item *it = &p->items[i];
        cJSON_Delete(it->body);
        free(it->api_version);
        free(it->kind);
        free(it->namespace_);
        free(it->name);
        free(it->cluster);
    }
    free(p->items);
    memset(p, 0, sizeof(*p));
}
