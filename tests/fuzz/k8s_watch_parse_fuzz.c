/*
 * Fuzzes the watch stream parser. The first input byte picks a maximum line length and a chunk
 * size, the rest is the stream; the same bytes are also fed in one piece, and both runs must
 * deliver the same number of events and end in the same state. Any crash, leak or sanitizer
 * report is a bug; so is an event count that depends on the chunking.
 */
#include <stdint.h>
#include <stdlib.h>

#include "k8s/watch_parse.h"

static int count_event(void *data, k8s_watch_event *ev)
{
    size_t *n = data;
    (*n)++;
    /* Touch the object the way consumers do. */
    (void)k8s_object_resource_version(ev->object);
    if (ev->type == K8S_WATCH_ERROR)
        (void)k8s_watch_status_code(ev->object, NULL, NULL);
    return 0;
}

static int run(const uint8_t *data, size_t size, size_t max_line, size_t chunk, size_t *events)
{
    k8s_watch_parser p;
    k8s_watch_parser_init(&p, max_line, count_event, events);
    int rc = 0;
    for (size_t at = 0; at < size && rc == 0; at += chunk) {
        size_t n = size - at < chunk ? size - at : chunk;
        rc = k8s_watch_parser_feed(&p, (const char *)data + at, n);
        if (k8s_watch_parser_pending(&p) > max_line)
            abort();
    }
    if (rc == 0)
        rc = k8s_watch_parser_finish(&p);
    k8s_watch_parser_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max_line = 16 + (size_t)(data[0] & 0x0f) * 64;
    size_t chunk = 1 + (data[0] >> 4);
    data++;
    size--;
    size_t a = 0, b = 0;
    int ra = run(data, size, max_line, chunk, &a);
    int rb = run(data, size, max_line, size ? size : 1, &b);
    if (a != b || ra != rb)
        abort();
    return 0;
}
