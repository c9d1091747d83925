/*
 * Reading MeshCluster manifests for the offline commands (render and its Tailscale modes):
 * files or directories, YAML or JSON, multi-document, Lists allowed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/meshctl/load.h"
#include "controller/meshcluster.h"
#include "k8s/yaml.h"

static char *read_file(const char *path, size_t *len, FILE *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(err, "meshctl render: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 8192, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    if (f != stdin)
        fclose(f);
    if (!buf)
        fprintf(err, "meshctl render: %s: out of memory\n", path);
    *len = n;
    return buf;
}

/* Appends the MeshClusters found in one document (or List) to out. */
static void collect(cJSON *doc, cJSON *out, const char *path, FILE *err)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
    const char *k = cJSON_IsString(kind) ? kind->valuestring : "";
    if (strcmp(k, "List") == 0 || (strlen(k) > 4 && strcmp(k + strlen(k) - 4, "List") == 0)) {
        cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
        for (cJSON *it = cJSON_IsArray(items) ? items->child : NULL; it; it = it->next)
            collect(it, out, path, err);
        return;
    }
    if (strcmp(k, MC_KIND) != 0) {
        fprintf(err, "meshctl render: %s: skipping a %s, not a MeshCluster\n", path,
                k[0] ? k : "document without kind");
        return;
    }
    cJSON_AddItemToArray(out, cJSON_Duplicate(doc, 1));
}

static int load_file(const char *path, cJSON *out, FILE *err)
{
    size_t len;
    char *buf = read_file(path, &len, err);
    if (!buf)
        return -1;
    char msg[512];
    cJSON *docs = k8s_yaml_parse_all(buf, len, msg, sizeof(msg));
    free(buf);
    if (!docs) {
        fprintf(err, "meshctl render: %s: %s\n", path, msg);
        return -1;
    }
    for (cJSON *d = docs->child; d; d = d->next)
        collect(d, out, path, err);
    cJSON_Delete(docs);
    return 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int meshctl_load_meshclusters(const char *path, cJSON *out, FILE *err)
{
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        if (!dir) {
            fprintf(err, "meshctl render: %s: %s\n", path, strerror(errno));
            return -1;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        int rc = 0;
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            if (!has_suffix(de->d_name, ".yaml") && !has_suffix(de->d_name, ".yml") &&
                !has_suffix(de->d_name, ".json"))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                char **p = realloc(names, cap * sizeof(*p));
                if (!p) {
                    rc = -1;
                    break;
                }
                names = p;
            }
            size_t len = strlen(path) + strlen(de->d_name) + 2;
            names[n] = malloc(len);
            if (!names[n]) {
                rc = -1;
                break;
            }
            snprintf(names[n++], len, "%s/%s", path, de->d_name);
        }
        closedir(dir);
        if (n > 1)
            qsort(names, n, sizeof(*names), cmp_names);
        for (size_t i = 0; i < n; i++) {
            if (rc == 0 && load_file(names[i], out, err) < 0)
                rc = -1;
            free(names[i]);
        }
        free(names);
        return rc;
    }
    return load_file(path, out, err);
}
