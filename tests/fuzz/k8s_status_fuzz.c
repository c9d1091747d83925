/*
 * libFuzzer target for the Status decoder (k8s/error.c): any bytes as an HTTP error body, with
 * the HTTP code and a Retry-After header taken from the first bytes, must decode without
 * crashing or leaking into a typed error that always has a message and never reads as success;
 * the same bytes parsed as JSON go through the watch-event path (k8s_error_from_status_json).
 * Input layout: byte 0 selects the HTTP code, byte 1 the Retry-After form, the rest is the body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "k8s/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int codes[] = {400, 401, 403, 404, 405, 406, 409, 410, 413, 415, 422,
                            429, 500, 502, 503, 504, 200, 0,   302, 599, 418};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int code = codes[data[0] % (sizeof(codes) / sizeof(codes[0]))];
    char ra[16];
    const char *retry_after = NULL;
    switch (data[1] % 4) {
    case 1:
        snprintf(ra, sizeof(ra), "%u", data[1]);
        retry_after = ra;
        break;
    case 2:
        retry_after = "Fri, 31 Dec 1999 23:59:59 GMT";
        break;
    case 3:
        retry_after = "";
        break;
    }
    const char *body = (const char *)data + 2;
    size_t len = size - 2;

    k8s_error e = K8S_ERROR_INIT;
    if (k8s_error_from_response(&e, code, body, len, retry_after) == 0) {
        if (!e.message || e.code == K8S_OK)
            abort();
        for (size_t i = 0; i < e.ncauses; i++)
            (void)k8s_error_has_cause(&e, e.causes[i].reason);
        (void)k8s_err_retriable(&e);
        (void)strlen(k8s_err_name(e.code));
    }
    k8s_error_clear(&e);

    cJSON *json = cJSON_ParseWithLength(body, len);
    if (json) {
        if (k8s_error_from_status_json(&e, json) == 0 && (!e.message || e.code == K8S_OK))
            abort();
        k8s_error_clear(&e);
        cJSON_Delete(json);
    }
    return 0;
}
