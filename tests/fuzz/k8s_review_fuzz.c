/*
 * libFuzzer target for the TokenReview and SubjectAccessReview answer parsers
 * (k8s/delegated_auth.c): the API server's answer is network bytes, and what the token review
 * yields is sent back to it as the access review's spec. Byte 0 picks the parser, the rest is
 * the JSON body. Invariants: no crash or leak; an authenticated TokenReview always yields a
 * user object with a non-empty "user" string and only the four SubjectAccessReview user fields;
 * an unauthenticated one yields no user; a SubjectAccessReview is allowed only when its status
 * says allowed and not denied.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "k8s/delegated_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int user_fields_ok(const cJSON *user)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(user, "user");
    if (!cJSON_IsString(u) || !u->valuestring[0])
        return 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, user)
    {
        if (strcmp(it->string, "user") && strcmp(it->string, "uid") &&
            strcmp(it->string, "groups") && strcmp(it->string, "extra"))
            return 0;
    }
    return 1;
}

static void check_token_review(const cJSON *body)
{
    k8s_token_review_result r;
    int rc = k8s_token_review_parse(body, &r);
    if (rc == 0 && r.authenticated != (r.user != NULL))
        abort();
    if (rc != 0 && (r.authenticated || r.user))
        abort();
    if (r.user && !user_fields_ok(r.user))
        abort();
    if (memchr(r.error, '\0', sizeof(r.error)) == NULL)
        abort();
    cJSON_Delete(r.user);
}

static void check_access_review(const cJSON *body)
{
    bool allowed = true;
    char reason[64];
    int rc = k8s_access_review_parse(body, &allowed, reason, sizeof(reason));
    if (rc != 0 && allowed)
        abort();
    if (allowed) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(body, "status");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "allowed")) ||
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "denied")))
            abort();
    }
    if (memchr(reason, '\0', sizeof(reason)) == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cJSON *body = cJSON_ParseWithLength((const char *)data + 1, size - 1);
    if (data[0] & 1)
        check_access_review(body);
    else
        check_token_review(body);
    cJSON_Delete(body);
    return 0;
}
