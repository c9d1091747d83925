/* MeshCluster status building and comparison; see status.h. */
#include "controller/status.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "controller/meshcluster.h"
#include "controller/subset.h"

const cJSON *mc_status_find_condition(const cJSON *status_or_conditions, const char *type)
{
    const cJSON *conds = status_or_conditions;
    if (cJSON_IsObject(conds))
        conds = cJSON_GetObjectItemCaseSensitive(conds, "conditions");
    if (!cJSON_IsArray(conds))
        return NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, conds)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
        if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0)
            return c;
    }
    return NULL;
}

static const char *str_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- the compact form of a condition -------------------------------------------------------
 *
 * "<type> <status> <observedGeneration> <lastTransitionTime> <reason> <message digest>", "-"
 * for an absent field. Seven conditions as objects are 49 cJSON nodes of 64 bytes each plus
 * their strings, most of a cached MeshCluster; as lines they are seven strings. Fields that
 * hold a space (or are too long) cannot be told apart in a line: such a condition stays an
 * object, and every reader takes either form.
 */

/* "-" stands for an absent field, so a field that is "-" cannot be a word either. */
static bool word_ok(const char *w)
{
    return w && w[0] && strcmp(w, "-") != 0 && !strchr(w, ' ') && strlen(w) < MC_CONDITION_WORD;
}

/* The line of a condition in either form into buf; false when it has no line. */
static bool condition_line(const cJSON *c, char *buf, size_t len)
{
    if (cJSON_IsString(c)) {
        if (strlen(c->valuestring) >= len)
            return false;
        memcpy(buf, c->valuestring, strlen(c->valuestring) + 1);
        return true;
    }
    const char *type = str_field(c, "type"), *status = str_field(c, "status");
    const char *ltt = str_field(c, "lastTransitionTime"), *reason = str_field(c, "reason");
    const char *message = str_field(c, "message");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(c, "observedGeneration");
    if (!word_ok(type) || !word_ok(status) || (ltt && !word_ok(ltt)) ||
        (reason && !word_ok(reason)))
        return false;
    char g[24] = "-", digest[24] = "-";
    /* Only a whole number double holds exactly reads back the same from a line. */
    long long gv;
    if (mc_json_integer(gen, -MC_JSON_INTEGER_MAX, MC_JSON_INTEGER_MAX, &gv))
        snprintf(g, sizeof(g), "%lld", gv);
    else if (gen)
        return false;
    if (message) {
        uint64_t h = 14695981039346656037u; /* FNV-1a */
        for (const unsigned char *m = (const unsigned char *)message; *m; m++)
            h = (h ^ *m) * 1099511628211u;
        snprintf(digest, sizeof(digest), "%016llx", (unsigned long long)h);
    }
    int n = snprintf(buf, len, "%s %s %s %s %s %s", type, status, g, ltt ? ltt : "-",
                     reason ? reason : "-", digest);
    return n > 0 && (size_t)n < len;
}

/* Splits a line into its six words (in place in buf); false when it is not one. */
static bool split_line(char *buf, char *words[6])
{
    char *save = NULL;
    for (int i = 0; i < 6; i++)
        if (!(words[i] = strtok_r(i ? NULL : buf, " ", &save)))
            return false;
    return strtok_r(NULL, " ", &save) == NULL;
}

/* The type of a condition in either form, into buf (a line's first word); NULL if none. */
static const char *condition_type(const cJSON *c, char *buf, size_t len)
{
    if (!cJSON_IsString(c))
        return str_field(c, "type");
    const char *sp = strchr(c->valuestring, ' ');
    size_t n = sp ? (size_t)(sp - c->valuestring) : 0;
    if (!n || n >= len)
        return NULL;
    memcpy(buf, c->valuestring, n);
    buf[n] = '\0';
    return buf;
}

/* The condition of that type in the array conds (either form), or NULL. */
static const cJSON *condition_in(const cJSON *conds, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, conds)
    {
        char buf[MC_CONDITION_WORD];
        const char *t = condition_type(c, buf, sizeof(buf));
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

static const cJSON *find_any(const cJSON *status, const char *type)
{
    return condition_in(cJSON_GetObjectItemCaseSensitive(status, "conditions"), type);
}

bool mc_status_condition(const cJSON *status, const char *type, struct mc_condition_seen *seen)
{
    const cJSON *c = cJSON_IsObject(status) ? find_any(status, type) : NULL;
    if (!c)
        return false;
    memset(seen, 0, sizeof(*seen));
    const char *st, *reason, *ltt;
    char line[MC_CONDITION_LINE], *w[6];
    if (cJSON_IsString(c)) {
        snprintf(line, sizeof(line), "%s", c->valuestring);
        if (!split_line(line, w))
            return false;
        st = w[1], ltt = strcmp(w[3], "-") ? w[3] : "", reason = strcmp(w[4], "-") ? w[4] : "";
    } else {
        st = str_field(c, "status"), reason = str_field(c, "reason");
        ltt = str_field(c, "lastTransitionTime");
    }
    snprintf(seen->status, sizeof(seen->status), "%s", st ? st : "");
    snprintf(seen->reason, sizeof(seen->reason), "%s", reason ? reason : "");
    snprintf(seen->last_transition, sizeof(seen->last_transition), "%s", ltt ? ltt : "");
    return true;
}

void mc_status_compact(cJSON *mc, void *unused)
{
    (void)unused;
    cJSON *conds = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(mc, "status"),
                                                    "conditions");
    int i = 0;
    for (cJSON *c = cJSON_IsArray(conds) ? conds->child : NULL, *next; c; c = next, i++) {
        next = c->next;
        char line[MC_CONDITION_LINE];
        cJSON *s;
        if (cJSON_IsObject(c) && condition_line(c, line, sizeof(line)) &&
            (s = cJSON_CreateString(line)) != NULL)
            cJSON_ReplaceItemInArray(conds, i, s);
    }
}

cJSON *mc_status_build(const cJSON *existing, const struct mc_status_input *in, const char *now)
{
    cJSON *st = cJSON_CreateObject();
    if (!st)
        return NULL;
    cJSON_AddNumberToObject(st, "observedGeneration", (double)in->observed_generation);
    if (in->role)
        cJSON_AddStringToObject(st, "role", in->role);
    if (in->gateway_address && in->gateway_address[0])
        cJSON_AddStringToObject(st, "gatewayAddress", in->gateway_address);
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    if (!conds)
        goto fail;
    for (size_t i = 0; i < in->nconditions; i++) {
        const struct mc_condition *c = &in->conditions[i];
        struct mc_condition_seen old;
        bool had = mc_status_condition(existing, c->type, &old);
        const char *when = (had && old.last_transition[0] && strcmp(old.status, c->status) == 0)
                               ? old.last_transition
                               : now;
        cJSON *o = cJSON_CreateObject();
        if (!o)
            goto fail;
        cJSON_AddItemToArray(conds, o);
        cJSON_AddStringToObject(o, "type", c->type);
        cJSON_AddStringToObject(o, "status", c->status);
        cJSON_AddNumberToObject(o, "observedGeneration", (double)in->observed_generation);
        cJSON_AddStringToObject(o, "lastTransitionTime", when);
        cJSON_AddStringToObject(o, "reason", c->reason);
        cJSON_AddStringToObject(o, "message", c->message ? c->message : "");
    }
    return st;
fail:
    cJSON_Delete(st);
    return NULL;
}

/*
 * want's conditions (objects) against existing's, in either form, by type. Not by position:
 * conditions are a map keyed by type (the CRD's listType map), and server-side apply keeps the
 * order the list has on the server, appending the types it did not hold. A MeshCluster once
 * rejected (three conditions) and accepted again holds them in another order than we build
 * them; compared by position, every restart and every pass that looked at it wrote the same
 * status again, a write that changes nothing.
 */
static bool conditions_equal(const cJSON *want, const cJSON *have)
{
    if (!cJSON_IsArray(want))
        return mc_subset(want, have);
    if (!cJSON_IsArray(have) || cJSON_GetArraySize(want) != cJSON_GetArraySize(have))
        return false;
    for (const cJSON *w = want->child; w; w = w->next) {
        char tb[MC_CONDITION_WORD];
        const char *type = condition_type(w, tb, sizeof(tb));
        const cJSON *h = type ? condition_in(have, type) : NULL;
        char lw[MC_CONDITION_LINE], lh[MC_CONDITION_LINE];
        if (!h)
            return false;
        if (condition_line(w, lw, sizeof(lw)) && condition_line(h, lh, sizeof(lh))) {
            if (strcmp(lw, lh) != 0)
                return false;
        } else if (!mc_subset(w, h)) {
            return false;
        }
    }
    return true;
}

bool mc_status_equal(const cJSON *existing, const cJSON *want)
{
    if (!cJSON_IsObject(existing) || !cJSON_IsObject(want))
        return false;
    for (const cJSON *w = want->child; w; w = w->next) {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(existing, w->string);
        if (!(strcmp(w->string, "conditions") == 0 ? conditions_equal(w, h) : mc_subset(w, h)))
            return false;
    }
    /* A field we stopped setting must be withdrawn, which is a write. */
    if (!cJSON_GetObjectItemCaseSensitive(want, "gatewayAddress") &&
        cJSON_GetObjectItemCaseSensitive(existing, "gatewayAddress"))
        return false;
    return true;
}

void mc_status_now(char *buf, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
