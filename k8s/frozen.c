/* One block: the nodes in depth-first order, then the strings; see frozen.h. */
#include "k8s/frozen.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sizes {
    size_t nodes;
    size_t text;
};

/* Tree depth is bounded by the parser's nesting limit, so recursion is safe. */
static void measure(const cJSON *v, struct sizes *s)
{
    for (; v; v = v->next) {
        s->nodes++;
        if (v->string)
            s->text += strlen(v->string) + 1;
        if (v->valuestring)
            s->text += strlen(v->valuestring) + 1;
        measure(v->child, s);
    }
}

struct packer {
    cJSON *node; /* next free node */
    char *text;  /* next free byte of the string area */
};

static char *pack_str(struct packer *p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *out = memcpy(p->text, s, n);
    p->text += n;
    return out;
}

/* Copies the sibling list starting at v; returns its first node. cJSON links the first
 * sibling's prev to the last one (appends rely on it), so that is kept too. */
static cJSON *pack(struct packer *p, const cJSON *v)
{
    cJSON *first = NULL, *last = NULL;
    for (; v; v = v->next) {
        cJSON *n = p->node++;
        *n = *v;
        /* The copy owns its strings (inside the block) and its children. */
        n->type &= ~(cJSON_IsReference | cJSON_StringIsConst);
        n->string = pack_str(p, v->string);
        n->valuestring = pack_str(p, v->valuestring);
        n->next = NULL;
        n->prev = last;
        n->child = pack(p, v->child);
        if (last)
            last->next = n;
        else
            first = n;
        last = n;
    }
    if (first)
        first->prev = last;
    return first;
}

cJSON *k8s_json_freeze(const cJSON *v)
{
    if (!v)
        return NULL;
    struct sizes s = {0, 0};
    /* The root alone: its siblings (if it sits in a list) are not part of it. */
    s.nodes = 1;
    s.text =
        (v->string ? strlen(v->string) + 1 : 0) + (v->valuestring ? strlen(v->valuestring) + 1 : 0);
    measure(v->child, &s);
    if (s.nodes > (SIZE_MAX - s.text) / sizeof(cJSON))
        return NULL;
    cJSON *block = malloc(s.nodes * sizeof(cJSON) + s.text);
    if (!block)
        return NULL;
    struct packer p = {block + 1, (char *)(block + s.nodes)};
    *block = *v;
    block->type &= ~(cJSON_IsReference | cJSON_StringIsConst);
    block->next = block->prev = NULL;
    block->string = pack_str(&p, v->string);
    block->valuestring = pack_str(&p, v->valuestring);
    block->child = pack(&p, v->child);
    return block;
}

cJSON *k8s_json_freeze_owned(cJSON *v)
{
    cJSON *f = k8s_json_freeze(v);
    cJSON_Delete(v);
    return f;
}

void k8s_json_frozen_free(cJSON *frozen)
{
    free(frozen);
}
