/*
 * Fuzzes the Corefile editor (controller/corefile.c) with the Corefile as it comes from the
 * API server: any bytes. Besides crashes and leaks it checks the editor's promises: adding our
 * block is idempotent (a second edit changes nothing), whatever it added can be removed, and
 * when the input held no block of ours, removing the added block gives back the input byte
 * for byte (a newline-terminated input; otherwise one separating newline is kept).
 */
#define _GNU_SOURCE /* memmem */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controller/corefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct mc_corefile_want ADD = {"acme.ts.net", "100.100.100.100"};
static const struct mc_corefile_want REMOVE = {NULL, NULL};

static void check_removal(const char *added, const char *in, size_t size)
{
    char *removed = NULL, *again = NULL;
    enum mc_corefile_outcome o = mc_corefile_edit(added, strlen(added), &REMOVE, &removed, NULL, 0);
    if (o != MC_COREFILE_CHANGED)
        abort(); /* what we added must be removable */
    int had_block = memmem(in, size, MC_COREFILE_BEGIN, strlen(MC_COREFILE_BEGIN)) != NULL;
    if (!had_block && (size == 0 || in[size - 1] == '\n') &&
        (strlen(removed) != size || memcmp(removed, in, size) != 0))
        abort(); /* teardown must give back exactly what was there */
    if (mc_corefile_edit(removed, strlen(removed), &REMOVE, &again, NULL, 0) !=
        MC_COREFILE_UNCHANGED)
        abort();
    free(removed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char *added = NULL, *again = NULL, why[256];
    enum mc_corefile_outcome o = mc_corefile_edit(in, size, &ADD, &added, why, sizeof(why));
    if ((o == MC_COREFILE_CHANGED) != (added != NULL))
        abort();
    if (o == MC_COREFILE_CHANGED) {
        if (mc_corefile_edit(added, strlen(added), &ADD, &again, NULL, 0) != MC_COREFILE_UNCHANGED)
            abort(); /* idempotent: the daemon's second pass writes nothing */
        check_removal(added, in, size);
        free(added);
    }
    return 0;
}
