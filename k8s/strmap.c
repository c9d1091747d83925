/* Internal string-keyed hash map; see strmap.h. */
#include "k8s/strmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint32_t k8s__strhash(const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

void k8s__strmap_clear(k8s__strmap *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        k8s__strmap_entry *e = m->buckets[i];
        while (e) {
            k8s__strmap_entry *next = e->next;
            if (free_value)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    memset(m, 0, sizeof(*m));
}

static k8s__strmap_entry **slot(const k8s__strmap *m, const char *key, uint32_t h)
{
    if (m->nbuckets == 0)
        return NULL;
    k8s__strmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

void *k8s__strmap_get(const k8s__strmap *m, const char *key)
{
    k8s__strmap_entry **pp = slot(m, key, k8s__strhash(key));
    return pp && *pp ? (*pp)->value : NULL;
}

static int grow(k8s__strmap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
    k8s__strmap_entry **b = calloc(n, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < m->nbuckets; i++) {
        k8s__strmap_entry *e = m->buckets[i];
        while (e) {
            k8s__strmap_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return 0;
}

int k8s__strmap_put(k8s__strmap *m, const char *key, void *value, const char **stored_key)
{
    if (m->count + 1 > m->nbuckets && grow(m) != 0)
        return -ENOMEM;
    uint32_t h = k8s__strhash(key);
    k8s__strmap_entry **pp = slot(m, key, h);
    if (*pp) {
        (*pp)->value = value;
        if (stored_key)
            *stored_key = (*pp)->key;
        return 0;
    }
    size_t len = strlen(key);
    k8s__strmap_entry *e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return -ENOMEM;
    e->next = NULL;
    e->value = value;
    e->hash = h;
    memcpy(e->key, key, len + 1);
    *pp = e;
    m->count++;
    if (stored_key)
        *stored_key = e->key;
    return 0;
}

void *k8s__strmap_remove(k8s__strmap *m, const char *key)
{
    k8s__strmap_entry **pp = slot(m, key, k8s__strhash(key));
    if (!pp || !*pp)
        return NULL;
    k8s__strmap_entry *e = *pp;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}
