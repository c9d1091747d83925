/*
 * Fuzzes the reader of istiod's /debug/clusterz answer (controller/istiod_sync.c), bytes from
 * the network: no crash or leak whatever arrives, every entry kept has a non-empty id and
 * NUL-terminated fields, and a verdict can be asked for any id.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controller/istiod_sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mc_istiod_clusters c;
    if (mc_istiod_clusters_parse((const char *)data, size, &c) != 0) {
        if (c.n != 0 || c.items)
            abort(); /* a refusal leaves nothing behind */
        return 0;
    }
    if (c.n > MC_ISTIOD_MAX_CLUSTERS)
        abort();
    for (size_t i = 0; i < c.n; i++) {
        const struct mc_istiod_cluster *k = &c.items[i];
        if (!k->id[0] || !memchr(k->id, '\0', sizeof(k->id)) ||
            !memchr(k->secret_name, '\0', sizeof(k->secret_name)) ||
            !memchr(k->sync_status, '\0', sizeof(k->sync_status)))
            abort();
        (void)mc_istiod_sync_reason(mc_istiod_sync_of(&c, k->id, 0));
    }
    mc_istiod_clusters_free(&c);
    return 0;
}
