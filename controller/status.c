/* MeshCluster status building and comparison; see status.h. */
#include "controller/status.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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
        const cJSON *old = existing ? mc_status_find_condition(existing, c->type) : NULL;
        const char *old_status = old ? str_field(old, "status") : NULL;
        const char *old_time = old ? str_field(old, "lastTransitionTime") : NULL;
        const char *when =
            (old_status && old_time && strcmp(old_status, c->status) == 0) ? old_time : now;
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

bool mc_status_equal(const cJSON *existing, const cJSON *want)
{
    if (!cJSON_IsObject(existing))
        return false;
    if (!mc_subset(want, existing))
        return false;
    /* A field we stopped setting must be withdrawn, which is a write. */
    if (!cJSON_GetObjectItemCaseSensitive(want, "gatewayAddress") &&
        cJSON_GetObjectItemCaseSensitive(existing, "gatewayAddress"))
        return false;
    return true;
}

void mc_status_ready(const struct mc_condition *conds, size_t n, struct mc_condition *ready,
                     char *buf, size_t size)
{
    ready->type = MC_COND_READY;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(conds[i].status, "True") != 0) {
            ready->status = strcmp(conds[i].status, "Unknown") == 0 ? "Unknown" : "False";
            ready->reason = "NotReady";
            snprintf(buf, size, "%s is %s: %s", conds[i].type, conds[i].status, conds[i].reason);
            ready->message = buf;
            return;
        }
    }
    ready->status = "True";
    ready->reason = "Ready";
    ready->message = "";
}

void mc_status_now(char *buf, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
