/*
 * Object cache: a chained hash table of key -> owned cJSON object. See store.h.
 */
#include "k8s/store.h"

#include "k8s/frozen.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    cJSON *obj;
    const char *rv; /* obj's metadata.resourceVersion (inside obj), NULL without one */
    uint32_t hash;
    char key[]; /* stored inline: one allocation per entry keeps 100k objects cheap */
} entry;

typedef struct {
    entry **buckets;
    size_t nbuckets; /* power of two, or 0 before the first insert */
    size_t count;
} table;

struct k8s_store {
    table live;
    table pending; /* the relist being collected */
    int replacing;
    /* Both tables freeze into one pool: objects of one kind repeat whole lists (ports, status,
     * spec parts), and a relist's copies share the lists already pooled for the live ones. */
    k8s_json_pool *pool;
};

/* ------------------------------------------------------------------------------------------ */
/* Hash table                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static uint32_t hash_key(const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a: short keys, no adversary beyond the API server */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

static void table_clear(table *t, k8s_json_pool *pool)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        entry *e = t->buckets[i];
        while (e) {
            entry *next = e->next;
            k8s_json_pool_release(pool, e->obj);
            free(e);
            e = next;
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

static entry **table_slot(const table *t, const char *key, uint32_t h)
{
    if (t->nbuckets == 0)
        return NULL;
    entry **pp = &t->buckets[h & (t->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

static entry *table_find(const table *t, const char *key)
{
    entry **pp = table_slot(t, key, hash_key(key));
    return pp ? *pp : NULL;
}

static int table_grow(table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    entry **b = calloc(n, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < t->nbuckets; i++) {
        entry *e = t->buckets[i];
        while (e) {
            entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

/*
 * Puts obj (frozen) under key, taking ownership. If the key was present, its previous object is
 * returned through *old (the caller frees it); otherwise *old is NULL.
 */
static int table_put(table *t, k8s_json_pool *pool, const char *key, cJSON *obj, cJSON **old)
{
    *old = NULL;
    if (t->count + 1 > t->nbuckets && table_grow(t) != 0) {
        k8s_json_pool_release(pool, obj);
        return -ENOMEM;
    }
    uint32_t h = hash_key(key);
    entry **pp = table_slot(t, key, h);
    if (*pp) {
        *old = (*pp)->obj;
        (*pp)->obj = obj;
        (*pp)->rv = k8s_object_resource_version(obj);
        return 0;
    }
    size_t klen = strlen(key);
    entry *e = malloc(sizeof(*e) + klen + 1);
    if (!e) {
        k8s_json_pool_release(pool, obj);
        return -ENOMEM;
    }
    e->next = NULL;
    e->obj = obj;
    e->rv = k8s_object_resource_version(obj);
    e->hash = h;
    memcpy(e->key, key, klen + 1);
    *pp = e;
    t->count++;
    return 0;
}

/* Unlinks key and returns its entry (caller frees entry and object), or NULL. */
static entry *table_take(table *t, const char *key)
{
    entry **pp = table_slot(t, key, hash_key(key));
    if (!pp || !*pp)
        return NULL;
    entry *e = *pp;
    *pp = e->next;
    t->count--;
    return e;
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                  */
/* ------------------------------------------------------------------------------------------ */

k8s_store *k8s_store_new(void)
{
    k8s_store *s = calloc(1, sizeof(k8s_store));
    if (s && !(s->pool = k8s_json_pool_new())) {
        free(s);
        return NULL;
    }
    return s;
}

void k8s_store_free(k8s_store *s)
{
    if (!s)
        return;
    table_clear(&s->live, s->pool);
    table_clear(&s->pending, s->pool);
    k8s_json_pool_free(s->pool); /* last: every object it made is released above */
    free(s);
}

int k8s_object_key(const cJSON *obj, char *buf, size_t len)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
    if (!cJSON_IsString(name) || name->valuestring[0] == '\0')
        return -EINVAL;
    size_t nlen = strlen(name->valuestring);
    size_t slen = (cJSON_IsString(ns) && ns->valuestring[0]) ? strlen(ns->valuestring) : 0;
    size_t need = slen ? slen + 1 + nlen : nlen;
    if (need + 1 > len)
        return -ENOSPC;
    if (slen) {
        memcpy(buf, ns->valuestring, slen);
        buf[slen] = '/';
        memcpy(buf + slen + 1, name->valuestring, nlen + 1);
    } else {
        memcpy(buf, name->valuestring, nlen + 1);
    }
    return (int)need;
}

size_t k8s_store_size(const k8s_store *s)
{
    return s->live.count;
}

const cJSON *k8s_store_get(const k8s_store *s, const char *key)
{
    entry *e = table_find(&s->live, key);
    return e ? e->obj : NULL;
}

const cJSON *k8s_store_get_rv(const k8s_store *s, const char *key, const char **rv)
{
    entry *e = table_find(&s->live, key);
    *rv = e ? e->rv : NULL;
    return e ? e->obj : NULL;
}

/* Kubernetes names are at most 253 characters, namespaces 63. */
#define KEY_MAX 320

int k8s_store_apply(k8s_store *s, k8s_watch_type type, cJSON *obj, k8s_store_change_cb cb,
                    void *data)
{
    char key[KEY_MAX];
    if (type != K8S_WATCH_ADDED && type != K8S_WATCH_MODIFIED && type != K8S_WATCH_DELETED) {
        cJSON_Delete(obj);
        return 0;
    }
    if (k8s_object_key(obj, key, sizeof(key)) < 0) {
        cJSON_Delete(obj);
        return -EINVAL;
    }
    if (type == K8S_WATCH_DELETED) {
        entry *e = table_take(&s->live, key);
        /* A delete for a key we never saw still reaches the handlers: it is news to them too. */
        if (cb)
            cb(data, K8S_STORE_DELETE, key, obj, NULL);
        if (e) {
            k8s_json_pool_release(s->pool, e->obj);
            free(e);
        }
        cJSON_Delete(obj);
        return 0;
    }
    /* Cached objects live long: keep them frozen and share repeated lists (k8s/frozen.h). */
    if (!(obj = k8s_json_freeze_pooled(s->pool, obj)))
        return -ENOMEM;
    cJSON *old;
    int rc = table_put(&s->live, s->pool, key, obj, &old);
    if (rc != 0)
        return rc;
    if (cb)
        cb(data, old ? K8S_STORE_UPDATE : K8S_STORE_ADD, key, old, obj);
    k8s_json_pool_release(s->pool, old);
    return 0;
}

int k8s_store_replace_begin(k8s_store *s)
{
    table_clear(&s->pending, s->pool);
    s->replacing = 1;
    return 0;
}

int k8s_store_replace_add(k8s_store *s, cJSON *obj)
{
    char key[KEY_MAX];
    if (!s->replacing) {
        cJSON_Delete(obj);
        return -EINVAL;
    }
    if (k8s_object_key(obj, key, sizeof(key)) < 0) {
        cJSON_Delete(obj);
        return -EINVAL;
    }
    if (!(obj = k8s_json_freeze_pooled(s->pool, obj)))
        return -ENOMEM;
    cJSON *old;
    int rc = table_put(&s->pending, s->pool, key, obj, &old);
    /* A list never repeats a key; if it does, the later copy wins. */
    k8s_json_pool_release(s->pool, old);
    return rc;
}

void k8s_store_replace_abort(k8s_store *s)
{
    table_clear(&s->pending, s->pool);
    s->replacing = 0;
}

static int same_version(const cJSON *a, const cJSON *b)
{
    const char *ra = k8s_object_resource_version(a);
    const char *rb = k8s_object_resource_version(b);
    return ra && rb && strcmp(ra, rb) == 0;
}

int k8s_store_replace_commit(k8s_store *s, k8s_store_change_cb cb, void *data)
{
    if (!s->replacing)
        return -EINVAL;
    table old = s->live;
    s->live = s->pending;
    memset(&s->pending, 0, sizeof(s->pending));
    s->replacing = 0;

    /*
     * Report against the new contents, so a handler that reads the store sees the state the
     * change describes. Objects unchanged since the last sight are not reported: periodic
     * resync, not relist, is what re-delivers everything.
     */
    if (cb) {
        for (size_t i = 0; i < s->live.nbuckets; i++) {
            for (entry *e = s->live.buckets[i]; e; e = e->next) {
                entry *prev = table_find(&old, e->key);
                if (!prev)
                    cb(data, K8S_STORE_ADD, e->key, NULL, e->obj);
                else if (!same_version(prev->obj, e->obj))
                    cb(data, K8S_STORE_UPDATE, e->key, prev->obj, e->obj);
            }
        }
        for (size_t i = 0; i < old.nbuckets; i++)
            for (entry *e = old.buckets[i]; e; e = e->next)
                if (!table_find(&s->live, e->key))
                    cb(data, K8S_STORE_DELETE, e->key, e->obj, NULL);
    }
    table_clear(&old, s->pool);
    return 0;
}

int k8s_store_foreach(const k8s_store *s, k8s_store_each_cb cb, void *data)
{
    for (size_t i = 0; i < s->live.nbuckets; i++) {
        for (entry *e = s->live.buckets[i]; e; e = e->next) {
            int rc = cb(data, e->key, e->obj);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}
