/*
 * Work queue of keys: dirty/processing sets, delayed adds, per-key backoff, token bucket,
 * optional libuv driver. See queue.h.
 */
#include "k8s/queue.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s/strmap.h"

/*
 * One record per key that is in any state (queued, processing, delayed, or with failures);
 * freed when it is in none.
 */
typedef struct item {
    const char *key; /* the map's copy */
    unsigned dirty : 1;
    unsigned processing : 1;
    unsigned queued : 1; /* in the FIFO */
    uint32_t failures;
    uint64_t ready_at;   /* when waiting in the heap */
    uint64_t queued_at;  /* when it last became dirty: the start of its queue duration */
    uint64_t started_at; /* when it was last handed out: the start of its work duration */
    size_t heap_idx;     /* SIZE_MAX when not waiting */
} item;

struct k8s_queue {
    k8s_queue_opts opts;
    k8s__strmap items;
    char *metrics_name;               /* opts.metrics_name's copy */
    k8s_metric *queue_dur, *work_dur; /* NULL without metrics */

    item **fifo; /* ring buffer */
    size_t fifo_head, fifo_len, fifo_cap;

    item **heap; /* min-heap on ready_at */
    size_t heap_len, heap_cap;

    size_t nprocessing;
    k8s_backoff backoff; /* only its parameters and rng are used; the attempt is per key */

    double tokens; /* may go negative: each reservation waits for its own token */
    uint64_t tokens_at;

    int shutting_down;
    k8s_queue_cb drained_cb;
    void *drained_data;
    int drained_reported;

    /* libuv driver */
    uv_loop_t *loop;
    uv_timer_t kick;  /* zero-delay: hands out keys on the next loop turn */
    uv_timer_t delay; /* fires when the earliest delayed key comes due */
    unsigned max_workers;
    k8s_queue_work_cb work_cb;
    void *work_data;
    int closing;
    int handles_open;
    k8s_queue_cb close_cb;
    void *close_data;
};

static uint64_t now_ms(const k8s_queue *q)
{
    if (q->opts.now)
        return q->opts.now(q->opts.now_ctx);
    if (q->loop)
        return uv_now(q->loop);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void schedule(k8s_queue *q);
static void on_delay_timer(uv_timer_t *t);

/* ------------------------------------------------------------------------------------------ */
/* Items, FIFO and heap                                                                        */
/* ------------------------------------------------------------------------------------------ */

static item *item_get(k8s_queue *q, const char *key, int create)
{
    item *it = k8s__strmap_get(&q->items, key);
    if (it || !create)
        return it;
    it = calloc(1, sizeof(*it));
    if (!it)
        return NULL;
    it->heap_idx = SIZE_MAX;
    if (k8s__strmap_put(&q->items, key, it, &it->key) != 0) {
        free(it);
        return NULL;
    }
    return it;
}

static void item_release_if_idle(k8s_queue *q, item *it)
{
    if (it->dirty || it->processing || it->queued || it->failures || it->heap_idx != SIZE_MAX)
        return;
    k8s__strmap_remove(&q->items, it->key);
    free(it);
}

static int fifo_push(k8s_queue *q, item *it)
{
    if (q->fifo_len == q->fifo_cap) {
        size_t cap = q->fifo_cap ? q->fifo_cap * 2 : 64;
        item **f = malloc(cap * sizeof(*f));
        if (!f)
            return -ENOMEM;
        for (size_t i = 0; i < q->fifo_len; i++)
            f[i] = q->fifo[(q->fifo_head + i) % q->fifo_cap];
        free(q->fifo);
        q->fifo = f;
        q->fifo_cap = cap;
        q->fifo_head = 0;
    }
    q->fifo[(q->fifo_head + q->fifo_len) % q->fifo_cap] = it;
    q->fifo_len++;
    it->queued = 1;
    return 0;
}

static item *fifo_pop(k8s_queue *q)
{
    if (q->fifo_len == 0)
        return NULL;
    item *it = q->fifo[q->fifo_head];
    q->fifo_head = (q->fifo_head + 1) % q->fifo_cap;
    q->fifo_len--;
    it->queued = 0;
    return it;
}

static void heap_swap(k8s_queue *q, size_t a, size_t b)
{
    item *t = q->heap[a];
    q->heap[a] = q->heap[b];
    q->heap[b] = t;
    q->heap[a]->heap_idx = a;
    q->heap[b]->heap_idx = b;
}

static void heap_up(k8s_queue *q, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (q->heap[p]->ready_at <= q->heap[i]->ready_at)
            break;
        heap_swap(q, p, i);
        i = p;
    }
}

static void heap_down(k8s_queue *q, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->heap_len && q->heap[l]->ready_at < q->heap[m]->ready_at)
            m = l;
        if (r < q->heap_len && q->heap[r]->ready_at < q->heap[m]->ready_at)
            m = r;
        if (m == i)
            return;
        heap_swap(q, i, m);
        i = m;
    }
}

static int heap_push(k8s_queue *q, item *it)
{
    if (q->heap_len == q->heap_cap) {
        size_t cap = q->heap_cap ? q->heap_cap * 2 : 16;
        item **h = realloc(q->heap, cap * sizeof(*h));
        if (!h)
            return -ENOMEM;
        q->heap = h;
        q->heap_cap = cap;
    }
    it->heap_idx = q->heap_len;
    q->heap[q->heap_len++] = it;
    heap_up(q, it->heap_idx);
    return 0;
}

static void heap_remove(k8s_queue *q, item *it)
{
    size_t i = it->heap_idx;
    q->heap_len--;
    if (i != q->heap_len) {
        q->heap[i] = q->heap[q->heap_len];
        q->heap[i]->heap_idx = i;
        heap_down(q, i);
        heap_up(q, i);
    }
    it->heap_idx = SIZE_MAX;
}

/* ------------------------------------------------------------------------------------------ */
/* Core                                                                                        */
/* ------------------------------------------------------------------------------------------ */

k8s_queue *k8s_queue_new(const k8s_queue_opts *opts)
{
    k8s_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    if (opts)
        q->opts = *opts;
    if (q->opts.base_delay_ms == 0)
        q->opts.base_delay_ms = 5;
    if (q->opts.max_delay_ms == 0)
        q->opts.max_delay_ms = 1000u * 1000u;
    if (q->opts.jitter == 0.0)
        q->opts.jitter = 0.1;
    else if (q->opts.jitter < 0.0)
        q->opts.jitter = 0.0;
    if (q->opts.qps == 0.0)
        q->opts.qps = 10.0;
    if (q->opts.burst == 0)
        q->opts.burst = 100;
    k8s_backoff_opts bo = {
        .base_ms = q->opts.base_delay_ms,
        .cap_ms = q->opts.max_delay_ms,
        .factor = 2.0,
        .jitter = q->opts.jitter,
        .rng = q->opts.rng,
        .rng_ctx = q->opts.rng_ctx,
        .seed = q->opts.seed,
    };
    k8s_backoff_init(&q->backoff, &bo);
    if (q->opts.metrics && q->opts.metrics_name) {
        q->metrics_name = strdup(q->opts.metrics_name);
        if (!q->metrics_name) {
            free(q);
            return NULL;
        }
        q->opts.metrics_name = q->metrics_name;
        q->queue_dur = k8s_metrics_find(q->opts.metrics, K8S_M_WORKQUEUE_QUEUE_DURATION);
        q->work_dur = k8s_metrics_find(q->opts.metrics, K8S_M_WORKQUEUE_WORK_DURATION);
    }
    q->tokens = q->opts.burst;
    q->tokens_at = UINT64_MAX; /* first reservation starts the clock */
    return q;
}

static void free_item(void *p)
{
    free(p);
}

void k8s_queue_free(k8s_queue *q)
{
    if (!q)
        return;
    k8s__strmap_clear(&q->items, free_item);
    free(q->fifo);
    free(q->heap);
    free(q->metrics_name);
    free(q);
}

/* Observes the seconds since since_ms into a workqueue histogram, when metrics are on. */
static void observe_since(const k8s_queue *q, k8s_metric *h, uint64_t since_ms)
{
    if (!h)
        return;
    uint64_t now = now_ms(q);
    double secs = now > since_ms ? (double)(now - since_ms) / 1000.0 : 0.0;
    k8s_metric_observe(h, (const char *[]){q->metrics_name, q->metrics_name}, secs);
}

static int add_now(k8s_queue *q, item *it)
{
    if (it->dirty)
        return 0;
    it->dirty = 1;
    it->queued_at = now_ms(q);
    if (it->processing)
        return 0; /* handed out again by k8s_queue_done */
    return fifo_push(q, it);
}

int k8s_queue_add(k8s_queue *q, const char *key)
{
    if (q->shutting_down)
        return -ESHUTDOWN;
    item *it = item_get(q, key, 1);
    if (!it)
        return -ENOMEM;
    int rc = add_now(q, it);
    item_release_if_idle(q, it);
    schedule(q);
    return rc;
}

int k8s_queue_add_after(k8s_queue *q, const char *key, uint64_t delay_ms)
{
    if (delay_ms == 0)
        return k8s_queue_add(q, key);
    if (q->shutting_down)
        return -ESHUTDOWN;
    item *it = item_get(q, key, 1);
    if (!it)
        return -ENOMEM;
    uint64_t at = now_ms(q) + delay_ms;
    int rc = 0;
    if (it->heap_idx == SIZE_MAX) {
        it->ready_at = at;
        rc = heap_push(q, it);
    } else if (at < it->ready_at) {
        it->ready_at = at;
        heap_up(q, it->heap_idx);
    }
    item_release_if_idle(q, it);
    schedule(q);
    return rc;
}

/*
 * Token bucket by reservation, like golang.org/x/time/rate's Reserve: taking a token always
 * succeeds, and the returned delay is how long until that token would have been there.
 */
static uint64_t bucket_reserve(k8s_queue *q)
{
    if (q->opts.qps < 0.0)
        return 0;
    uint64_t now = now_ms(q);
    if (q->tokens_at != UINT64_MAX && now > q->tokens_at) {
        q->tokens += (double)(now - q->tokens_at) * q->opts.qps / 1000.0;
        if (q->tokens > q->opts.burst)
            q->tokens = q->opts.burst;
    }
    q->tokens_at = now;
    q->tokens -= 1.0;
    if (q->tokens >= 0.0)
        return 0;
    return (uint64_t)ceil(-q->tokens * 1000.0 / q->opts.qps);
}

uint64_t k8s_queue_rate_limit_delay(k8s_queue *q, const char *key)
{
    item *it = item_get(q, key, 1);
    uint64_t per_key = 0;
    if (it) {
        q->backoff.attempt = it->failures;
        per_key = k8s_backoff_next(&q->backoff);
        if (it->failures < UINT32_MAX)
            it->failures++;
    }
    uint64_t global = bucket_reserve(q);
    return per_key > global ? per_key : global;
}

int k8s_queue_add_rate_limited(k8s_queue *q, const char *key)
{
    if (q->shutting_down)
        return -ESHUTDOWN;
    return k8s_queue_add_after(q, key, k8s_queue_rate_limit_delay(q, key));
}

void k8s_queue_forget(k8s_queue *q, const char *key)
{
    item *it = item_get(q, key, 0);
    if (!it)
        return;
    it->failures = 0;
    item_release_if_idle(q, it);
}

unsigned k8s_queue_requeues(const k8s_queue *q, const char *key)
{
    const item *it = k8s__strmap_get(&q->items, key);
    return it ? it->failures : 0;
}

int64_t k8s_queue_poll(k8s_queue *q)
{
    if (q->heap_len == 0)
        return -1;
    uint64_t now = now_ms(q);
    while (q->heap_len > 0 && q->heap[0]->ready_at <= now) {
        item *it = q->heap[0];
        heap_remove(q, it);
        if (!q->shutting_down)
            add_now(q, it); /* ENOMEM here loses only this key's retry */
        item_release_if_idle(q, it);
    }
    return q->heap_len ? (int64_t)(q->heap[0]->ready_at - now) : -1;
}

const char *k8s_queue_get(k8s_queue *q)
{
    k8s_queue_poll(q);
    item *it = fifo_pop(q);
    if (!it)
        return NULL;
    it->dirty = 0;
    it->processing = 1;
    q->nprocessing++;
    observe_since(q, q->queue_dur, it->queued_at);
    it->started_at = now_ms(q);
    return it->key;
}

void k8s_queue_done(k8s_queue *q, const char *key)
{
    item *it = item_get(q, key, 0);
    if (!it || !it->processing)
        return;
    it->processing = 0;
    q->nprocessing--;
    observe_since(q, q->work_dur, it->started_at);
    if (it->dirty && fifo_push(q, it) != 0)
        it->dirty = 0; /* out of memory: the re-add is lost rather than the queue corrupted */
    item_release_if_idle(q, it);
    schedule(q);
}

size_t k8s_queue_len(const k8s_queue *q)
{
    return q->fifo_len;
}

size_t k8s_queue_processing(const k8s_queue *q)
{
    return q->nprocessing;
}

size_t k8s_queue_waiting(const k8s_queue *q)
{
    return q->heap_len;
}

void k8s_queue_shutdown(k8s_queue *q, k8s_queue_cb drained_cb, void *data)
{
    q->shutting_down = 1;
    q->drained_cb = drained_cb;
    q->drained_data = data;
    while (q->heap_len > 0) {
        item *it = q->heap[0];
        heap_remove(q, it);
        item_release_if_idle(q, it);
    }
    schedule(q);
}

int k8s_queue_shutting_down(const k8s_queue *q)
{
    return q->shutting_down;
}

int k8s_queue_drained(const k8s_queue *q)
{
    return q->shutting_down && q->fifo_len == 0 && q->nprocessing == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* libuv driver                                                                                */
/* ------------------------------------------------------------------------------------------ */

static void dispatch(k8s_queue *q);

static void on_delay_timer(uv_timer_t *t)
{
    dispatch(t->data);
}

static void dispatch(k8s_queue *q)
{
    k8s_queue_poll(q);
    while (!q->closing && q->nprocessing < q->max_workers && q->fifo_len > 0) {
        const char *key = k8s_queue_get(q);
        q->work_cb(q, key, q->work_data);
    }
    if (q->closing)
        return;
    int64_t next = k8s_queue_poll(q);
    if (q->fifo_len > 0 && q->nprocessing < q->max_workers)
        schedule(q); /* keys came due just now */
    if (next >= 0)
        uv_timer_start(&q->delay, on_delay_timer, (uint64_t)next, 0);
    else
        uv_timer_stop(&q->delay);
    if (k8s_queue_drained(q) && !q->drained_reported) {
        q->drained_reported = 1;
        if (q->drained_cb)
            q->drained_cb(q, q->drained_data);
    }
}

static void on_kick_timer(uv_timer_t *t)
{
    dispatch(t->data);
}

/* Never hands out keys inside the call that changed the queue: the next loop turn does. */
static void schedule(k8s_queue *q)
{
    if (q->loop && !q->closing)
        uv_timer_start(&q->kick, on_kick_timer, 0, 0);
}

int k8s_queue_start(k8s_queue *q, uv_loop_t *loop, unsigned max_workers, k8s_queue_work_cb work_cb,
                    void *data)
{
    if (q->loop || !work_cb)
        return -EINVAL;
    int rc = uv_timer_init(loop, &q->kick);
    if (rc != 0)
        return rc;
    rc = uv_timer_init(loop, &q->delay);
    if (rc != 0) {
        uv_close((uv_handle_t *)&q->kick, NULL);
        return rc;
    }
    q->kick.data = q;
    q->delay.data = q;
    q->handles_open = 2;
    q->loop = loop;
    q->max_workers = max_workers ? max_workers : 1;
    q->work_cb = work_cb;
    q->work_data = data;
    schedule(q);
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    k8s_queue *q = h->data;
    if (--q->handles_open == 0 && q->close_cb)
        q->close_cb(q, q->close_data);
}

void k8s_queue_close(k8s_queue *q, k8s_queue_cb close_cb, void *data)
{
    q->close_cb = close_cb;
    q->close_data = data;
    if (!q->loop || q->closing)
        return;
    q->closing = 1;
    uv_close((uv_handle_t *)&q->kick, on_handle_closed);
    uv_close((uv_handle_t *)&q->delay, on_handle_closed);
}
