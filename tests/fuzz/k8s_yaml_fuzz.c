/*
 * Fuzzes k8s/yaml: any bytes must parse or fail cleanly (no crash, leak or hang), and
 * whatever parses must emit and parse back to the identical value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    cJSON *docs = k8s_yaml_parse_all((const char *)data, size, err, sizeof(err));
    if (!docs)
        return 0;
    char *out = k8s_yaml_emit_all(docs);
    if (out) {
        cJSON *back = k8s_yaml_parse_all(out, strlen(out), err, sizeof(err));
        if (!back || !cJSON_Compare(docs, back, 1))
            abort();
        cJSON_Delete(back);
        free(out);
    }
    cJSON_Delete(docs);
    return 0;
}
