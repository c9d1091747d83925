/*
 * Test helper for yaml_readback_test.py: `emit` reads JSON documents (a JSON array) on
 * stdin and writes them as a YAML stream with k8s_yaml_emit_all; `parse` reads YAML on
 * stdin and writes the JSON array k8s_yaml_parse_all makes of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/yaml.h"

static char *slurp(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
    }
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    size_t len;
    char *in = slurp(&len);
    int rc = 1;
    if (!in || argc != 2)
        return 2;
    if (strcmp(argv[1], "emit") == 0) {
        cJSON *docs = cJSON_Parse(in);
        char *out = docs ? k8s_yaml_emit_all(docs) : NULL;
        if (out) {
            fputs(out, stdout);
            rc = 0;
        }
        free(out);
        cJSON_Delete(docs);
    } else if (strcmp(argv[1], "parse") == 0) {
        char err[512];
        cJSON *docs = k8s_yaml_parse_all(in, len, err, sizeof(err));
        char *out = docs ? cJSON_PrintUnformatted(docs) : NULL;
        if (out) {
            puts(out);
            rc = 0;
        } else {
            fprintf(stderr, "%s\n", err);
        }
        free(out);
        cJSON_Delete(docs);
    }
    free(in);
    return rc;
}
