/* Remote secret identities against cluster-admin; see rbac_check.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller/json_get.h"
#include "controller/rbac_check.h"
#include "k8s/base64.h"

#define MAX_TOKEN 16384 /* a ServiceAccount JWT is ~1 KB; anything far larger is not one */
#define SA_PREFIX "system:serviceaccount:"

/* The JSON payload of a JWT (header.payload.signature, base64url without padding). */
static cJSON *jwt_payload(const char *token)
{
    const char *dot = strchr(token, '.');
    const char *end = dot ? strchr(dot + 1, '.') : NULL;
    if (!end || strlen(token) > MAX_TOKEN)
        return NULL;
    size_t n = (size_t)(end - dot - 1);
    char *std = malloc(n + 1);
    if (!std)
        return NULL;
    for (size_t i = 0; i < n; i++) { /* base64url to the standard alphabet */
        char c = dot[1 + i];
        std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    std[n] = '\0';
    unsigned char *json = NULL;
    size_t len = 0;
    cJSON *doc = NULL;
    if (k8s_base64_decode(std, MAX_TOKEN, &json, &len) == 0)
        doc = cJSON_ParseWithLength((const char *)json, len);
    free(std);
    free(json);
    return doc;
}

int mc_token_service_account(const char *token, char *ns, size_t nslen, char *name, size_t namelen)
{
    cJSON *doc = token ? jwt_payload(token) : NULL;
    const char *sub = mc_json_str(doc, "sub");
    int rc = -EINVAL;
    if (sub && strncmp(sub, SA_PREFIX, strlen(SA_PREFIX)) == 0) {
        const char *n = sub + strlen(SA_PREFIX), *colon = strchr(n, ':');
        size_t nl = colon ? (size_t)(colon - n) : 0;
        if (colon && nl > 0 && nl < nslen && colon[1] && strlen(colon + 1) < namelen &&
            !strchr(colon + 1, ':')) {
            memcpy(ns, n, nl);
            ns[nl] = '\0';
            strcpy(name, colon + 1);
            rc = 0;
        }
    }
    cJSON_Delete(doc);
    return rc;
}

static int str_is(const cJSON *o, const char *key, const char *want)
{
    const char *v = mc_json_str(o, key);
    return v && strcmp(v, want) == 0;
}

/* A subject that is the account, or a group every ServiceAccount of ns belongs to. */
static int subject_covers(const cJSON *s, const char *ns, const char *name)
{
    if (str_is(s, "kind", "ServiceAccount"))
        return str_is(s, "namespace", ns) && str_is(s, "name", name);
    if (!str_is(s, "kind", "Group"))
        return 0;
    const char *g = mc_json_str(s, "name");
    size_t pl = strlen("system:serviceaccounts:");
    return g &&
           (strcmp(g, "system:serviceaccounts") == 0 || strcmp(g, "system:authenticated") == 0 ||
            (strncmp(g, "system:serviceaccounts:", pl) == 0 && strcmp(g + pl, ns) == 0));
}

const char *mc_admin_binding_for(const cJSON *bindings, const char *ns, const char *name)
{
    for (const cJSON *b = cJSON_IsArray(bindings) ? bindings->child : NULL; b; b = b->next) {
        const cJSON *ref = mc_json_obj(b, "roleRef");
        if (!str_is(ref, "kind", "ClusterRole") || !str_is(ref, "name", "cluster-admin"))
            continue;
        const cJSON *subjects = mc_json_arr(b, "subjects");
        for (const cJSON *s = subjects ? subjects->child : NULL; s; s = s->next)
            if (subject_covers(s, ns, name))
                return mc_json_str(mc_json_obj(b, "metadata"), "name");
    }
    return NULL;
}
