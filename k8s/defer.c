#include "k8s/defer.h"

#include <errno.h>
#include <stdlib.h>

struct deferred {
    uv_timer_t timer; /* first: the handle's address is the allocation's */
    void (*cb)(void *data);
    void *data;
};

static void on_closed(uv_handle_t *h)
{
    free(h);
}

static void on_due(uv_timer_t *t)
{
    struct deferred *d = (struct deferred *)t;
    d->cb(d->data);
    uv_close((uv_handle_t *)t, on_closed);
}

int k8s_defer(uv_loop_t *loop, void (*cb)(void *data), void *data)
{
    struct deferred *d = malloc(sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->cb = cb;
    d->data = data;
    /* A 0 ms timer runs on the next turn's timer phase, after this call stack unwinds. */
    if (uv_timer_init(loop, &d->timer) != 0) {
        free(d);
        return -ENOMEM;
    }
    uv_timer_start(&d->timer, on_due, 0, 0);
    return 0;
}
