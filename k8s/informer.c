/*
 * Informer: watcher events -> store -> handlers; periodic resync. See informer.h.
 */
#include "k8s/informer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct k8s_informer {
    k8s_watcher *watcher;
    k8s_store *store;
    k8s_informer_handlers h;
    uint64_t resync_ms;
    const char *const *drop_fields;
    void (*transform)(cJSON *obj, void *data);
    void *transform_data;
    uv_loop_t *loop;
    uv_timer_t resync;
    int resync_open;
    int watcher_running;
    int started, stopping;
    bool synced;
    void (*stop_cb)(k8s_informer *inf, void *data);
    void *stop_data;
};

static void on_store_change(void *data, k8s_store_change change, const char *key,
                            const cJSON *old_obj, const cJSON *new_obj)
{
    k8s_informer *inf = data;
    if (inf->stopping)
        return;
    switch (change) {
    case K8S_STORE_ADD:
        if (inf->h.on_add)
            inf->h.on_add(inf, key, new_obj, inf->h.data);
        break;
    case K8S_STORE_UPDATE:
        if (inf->h.on_update)
            inf->h.on_update(inf, key, old_obj, new_obj, inf->h.data);
        break;
    case K8S_STORE_DELETE:
        if (inf->h.on_delete)
            inf->h.on_delete(inf, key, old_obj, inf->h.data);
        break;
    }
}

/* Removes the field at path ("a.b", "a[].b" for every item of list a) from node. */
static void drop_path(cJSON *node, const char *path)
{
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    char seg[128];
    if (!node || n == 0 || n >= sizeof(seg))
        return;
    memcpy(seg, path, n);
    seg[n] = '\0';
    bool each = n > 2 && strcmp(seg + n - 2, "[]") == 0;
    if (each)
        seg[n - 2] = '\0';
    if (!dot) {
        if (!each)
            cJSON_DeleteItemFromObjectCaseSensitive(node, seg);
        return;
    }
    cJSON *child = cJSON_GetObjectItemCaseSensitive(node, seg);
    if (!each) {
        drop_path(child, dot + 1);
        return;
    }
    cJSON *item;
    cJSON_ArrayForEach(item, child) drop_path(item, dot + 1);
}

static void on_watcher_event(k8s_watcher *w, k8s_watcher_event ev, cJSON *obj, void *data)
{
    k8s_informer *inf = data;
    for (const char *const *f = inf->drop_fields; obj && f && *f; f++)
        drop_path(obj, *f);
    if (obj && inf->transform)
        inf->transform(obj, inf->transform_data);
    switch (ev) {
    case K8S_WATCHER_RESTART_BEGIN:
        k8s_store_replace_begin(inf->store);
        break;
    case K8S_WATCHER_RESTART_ITEM:
        k8s_store_replace_add(inf->store, obj);
        obj = NULL;
        break;
    case K8S_WATCHER_RESTART_DONE:
        k8s_store_replace_commit(inf->store, on_store_change, inf);
        inf->synced = true;
        if (inf->h.on_synced && !inf->stopping)
            inf->h.on_synced(inf, inf->h.data);
        break;
    case K8S_WATCHER_ADDED:
        k8s_store_apply(inf->store, K8S_WATCH_ADDED, obj, on_store_change, inf);
        obj = NULL;
        break;
    case K8S_WATCHER_MODIFIED:
        k8s_store_apply(inf->store, K8S_WATCH_MODIFIED, obj, on_store_change, inf);
        obj = NULL;
        break;
    case K8S_WATCHER_DELETED:
        k8s_store_apply(inf->store, K8S_WATCH_DELETED, obj, on_store_change, inf);
        obj = NULL;
        break;
    }
    cJSON_Delete(obj);
}

static void on_watcher_error(k8s_watcher *w, const k8s_error *err, void *data)
{
    k8s_informer *inf = data;
    if (inf->h.on_error && !inf->stopping)
        inf->h.on_error(inf, err, inf->h.data);
}

static int resync_one(void *data, const char *key, const cJSON *obj)
{
    k8s_informer *inf = data;
    if (inf->stopping)
        return 1;
    inf->h.on_update(inf, key, obj, obj, inf->h.data);
    return 0;
}

static void on_resync_timer(uv_timer_t *t)
{
    k8s_informer *inf = t->data;
    if (inf->synced && inf->h.on_update)
        k8s_store_foreach(inf->store, resync_one, inf);
}

int k8s_informer_new(k8s_client *c, const k8s_informer_opts *opts, k8s_informer **out)
{
    *out = NULL;
    if (!c || !opts)
        return -EINVAL;
    k8s_informer *inf = calloc(1, sizeof(*inf));
    if (!inf)
        return -ENOMEM;
    inf->store = k8s_store_new();
    if (!inf->store) {
        free(inf);
        return -ENOMEM;
    }
    inf->h = opts->handlers;
    inf->resync_ms = opts->resync_ms;
    inf->drop_fields = opts->drop_fields;
    inf->transform = opts->transform;
    inf->transform_data = opts->transform_data;
    inf->loop = k8s_client_loop(c);
    k8s_watcher_opts wo = opts->watch;
    wo.on_event = on_watcher_event;
    wo.on_error = on_watcher_error;
    wo.data = inf;
    int rc = k8s_watcher_new(c, &wo, &inf->watcher);
    if (rc != 0) {
        k8s_store_free(inf->store);
        free(inf);
        return rc;
    }
    *out = inf;
    return 0;
}

int k8s_informer_start(k8s_informer *inf)
{
    if (inf->started)
        return -EINVAL;
    int rc = k8s_watcher_start(inf->watcher);
    if (rc != 0)
        return rc;
    inf->started = 1;
    inf->watcher_running = 1;
    if (inf->resync_ms) {
        uv_timer_init(inf->loop, &inf->resync);
        inf->resync.data = inf;
        inf->resync_open = 1;
        uv_timer_start(&inf->resync, on_resync_timer, inf->resync_ms, inf->resync_ms);
    }
    return 0;
}

static void maybe_finish_stop(k8s_informer *inf)
{
    if (inf->watcher_running || inf->resync_open)
        return;
    if (inf->stop_cb)
        inf->stop_cb(inf, inf->stop_data);
}

static void on_watcher_stopped(k8s_watcher *w, void *data)
{
    k8s_informer *inf = data;
    inf->watcher_running = 0;
    maybe_finish_stop(inf);
}

static void on_resync_closed(uv_handle_t *h)
{
    k8s_informer *inf = h->data;
    inf->resync_open = 0;
    maybe_finish_stop(inf);
}

void k8s_informer_close(k8s_informer *inf, void (*cb)(k8s_informer *inf, void *data), void *data)
{
    if (inf->stopping)
        return;
    inf->stopping = 1;
    inf->stop_cb = cb;
    inf->stop_data = data;
    if (!inf->started)
        return;
    k8s_watcher_close(inf->watcher, on_watcher_stopped, inf);
    if (inf->resync_open)
        uv_close((uv_handle_t *)&inf->resync, on_resync_closed);
}

void k8s_informer_free(k8s_informer *inf)
{
    if (!inf)
        return;
    k8s_watcher_free(inf->watcher);
    k8s_store_free(inf->store);
    free(inf);
}

bool k8s_informer_has_synced(const k8s_informer *inf)
{
    return inf->synced;
}

const k8s_store *k8s_informer_store(const k8s_informer *inf)
{
    return inf->store;
}

const k8s_watcher *k8s_informer_watcher(const k8s_informer *inf)
{
    return inf->watcher;
}
