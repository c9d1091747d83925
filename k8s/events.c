/*
 * Aggregating core/v1 Event recorder; see events.h.
 */
#include "k8s/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s/defer.h"
#include "k8s/strmap.h"

typedef struct ev_entry {
    struct ev_entry *prev, *next; /* LRU list, most recent first */
    k8s_event_recorder *r;
    const char *key; /* the map's copy */
    char *proto;     /* the Event as first created, as JSON text: kept for re-creation */
    char *name, *ns;
    unsigned long count;   /* occurrences so far */
    unsigned long sending; /* count carried by the write in flight */
    int created;
    char *combined_message; /* for a combined Event: the latest message, sent with each write */
    char last_ts[32];
    k8s_request *req;
} ev_entry;

struct k8s_event_recorder {
    k8s_client *client;
    char *component, *instance;
    size_t max_cached;
    k8s_event_filter filter;
    k8s__strmap entries;
    ev_entry *head, *tail;
    size_t in_flight;
    unsigned long seq;
    int stopping;
    void (*stop_cb)(k8s_event_recorder *r, void *data);
    void *stop_data;
    k8s_event_stats stats;
};

static const k8s_resource_ref events_ref = {.version = "v1", .resource = "events"};

static void now_rfc3339(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *str_at(const cJSON *obj, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* ------------------------------------------------------------------------------------------ */
/* LRU bookkeeping                                                                             */
/* ------------------------------------------------------------------------------------------ */

static void lru_unlink(k8s_event_recorder *r, ev_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        r->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        r->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(k8s_event_recorder *r, ev_entry *e)
{
    e->prev = NULL;
    e->next = r->head;
    if (r->head)
        r->head->prev = e;
    r->head = e;
    if (!r->tail)
        r->tail = e;
}

static void entry_free(ev_entry *e)
{
    free(e->proto);
    free(e->combined_message);
    free(e->name);
    free(e->ns);
    free(e);
}

static void entry_forget(k8s_event_recorder *r, ev_entry *e)
{
    lru_unlink(r, e);
    k8s__strmap_remove(&r->entries, e->key);
    entry_free(e);
}

/* Forgets least recently used entries over the bound; entries with a write in flight stay. */
static void evict(k8s_event_recorder *r)
{
    ev_entry *e = r->tail;
    while (r->entries.count > r->max_cached && e) {
        ev_entry *prev = e->prev;
        if (!e->req) {
            entry_forget(r, e);
            r->stats.evicted++;
        }
        e = prev;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Writes                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void flush(ev_entry *e);

static void maybe_finish_stop(k8s_event_recorder *r)
{
    if (r->stopping && r->in_flight == 0 && r->stop_cb) {
        void (*cb)(k8s_event_recorder *, void *) = r->stop_cb;
        r->stop_cb = NULL;
        cb(r, r->stop_data);
    }
}

static void finish_stop_later(void *data)
{
    maybe_finish_stop(data);
}

static void on_write_done(k8s_request *req, k8s_response *res, void *data)
{
    ev_entry *e = data;
    k8s_event_recorder *r = e->r;
    e->req = NULL;
    r->in_flight--;
    if (r->stopping) {
        maybe_finish_stop(r);
        return;
    }
    unsigned long sent = e->sending;
    e->sending = 0;
    if (res->err.code == K8S_OK) {
        if (e->created)
            r->stats.patched++;
        else
            r->stats.created++;
        e->created = 1;
        if (e->count > sent)
            flush(e); /* repeats arrived while this write was in flight */
    } else if (e->created && res->err.code == K8S_ERR_NOT_FOUND) {
        e->created = 0; /* the Event expired server-side: create it again */
        flush(e);
    } else if (!e->created && res->err.code == K8S_ERR_ALREADY_EXISTS) {
        e->created = 1; /* a previous attempt did land */
        flush(e);
    } else {
        r->stats.failed++;
        if (e->count > sent)
            flush(e);
    }
    evict(r);
}

static void flush(ev_entry *e)
{
    k8s_event_recorder *r = e->r;
    if (e->req || r->stopping)
        return;
    cJSON *body;
    k8s_request_opts o = {.ref = events_ref,
                          .on_done = on_write_done,
                          .data = e,
                          .max_attempts = 3,
                          .events_budget = true};
    o.ref.namespace = e->ns;
    if (!e->created) {
        body = cJSON_Parse(e->proto);
        if (body) {
            cJSON_ReplaceItemInObjectCaseSensitive(body, "count",
                                                   cJSON_CreateNumber((double)e->count));
            cJSON_ReplaceItemInObjectCaseSensitive(body, "lastTimestamp",
                                                   cJSON_CreateString(e->last_ts));
            if (e->combined_message)
                cJSON_ReplaceItemInObjectCaseSensitive(body, "message",
                                                       cJSON_CreateString(e->combined_message));
        }
        o.verb = K8S_VERB_CREATE;
    } else {
        body = cJSON_CreateObject();
        if (body) {
            cJSON_AddNumberToObject(body, "count", (double)e->count);
            cJSON_AddStringToObject(body, "lastTimestamp", e->last_ts);
            if (e->combined_message)
                cJSON_AddStringToObject(body, "message", e->combined_message);
        }
        o.verb = K8S_VERB_PATCH;
        o.patch_type = K8S_PATCH_MERGE;
        o.ref.name = e->name;
    }
    if (!body) {
        r->stats.failed++;
        return;
    }
    o.body = body;
    e->sending = e->count;
    if (k8s_request_start(r->client, &o, &e->req) != 0) {
        e->req = NULL;
        e->sending = 0;
        r->stats.failed++;
    } else {
        r->in_flight++;
    }
    cJSON_Delete(body);
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static cJSON *make_proto(k8s_event_recorder *r, const cJSON *obj, const char *ns, const char *name,
                         const char *type, const char *reason, const char *message, const char *ts)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "apiVersion", "v1");
    cJSON_AddStringToObject(ev, "kind", "Event");
    cJSON *md = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(md, "name", name);
    cJSON_AddStringToObject(md, "namespace", ns);
    cJSON *inv = cJSON_AddObjectToObject(ev, "involvedObject");
    cJSON_AddStringToObject(inv, "apiVersion", str_at(obj, "apiVersion", NULL));
    cJSON_AddStringToObject(inv, "kind", str_at(obj, "kind", NULL));
    cJSON_AddStringToObject(inv, "name", str_at(obj, "metadata", "name"));
    const char *ons = str_at(obj, "metadata", "namespace");
    if (ons[0])
        cJSON_AddStringToObject(inv, "namespace", ons);
    const char *uid = str_at(obj, "metadata", "uid");
    if (uid[0])
        cJSON_AddStringToObject(inv, "uid", uid);
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddStringToObject(ev, "message", message);
    cJSON_AddNumberToObject(ev, "count", 1);
    cJSON_AddStringToObject(ev, "firstTimestamp", ts);
    cJSON_AddStringToObject(ev, "lastTimestamp", ts);
    cJSON *src = cJSON_AddObjectToObject(ev, "source");
    cJSON_AddStringToObject(src, "component", r->component);
    cJSON_AddStringToObject(ev, "reportingComponent", r->component);
    cJSON_AddStringToObject(ev, "reportingInstance", r->instance ? r->instance : "");
    return ev;
}

/* Joins parts with the unit separator into a new string (NULL when out of memory). */
static char *join_key(const char *const *parts, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(parts[i]) + 1;
    char *key = malloc(len), *p = key;
    if (!key)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(parts[i]);
        memcpy(p, parts[i], l);
        p += l;
        *p++ = '\x1f';
    }
    *p = '\0';
    return key;
}

/* A repeat of a cached Event: one more occurrence, sent with the next write. */
static void record_repeat(k8s_event_recorder *r, ev_entry *e, const char *ts, char *combined)
{
    e->count++;
    memcpy(e->last_ts, ts, sizeof(e->last_ts));
    if (combined) {
        free(e->combined_message);
        e->combined_message = combined;
    }
    lru_unlink(r, e);
    lru_push_front(r, e);
    r->stats.recorded++;
    flush(e); /* no-op while a write is in flight; its completion sends the new count */
}

/* A new Event; takes key and combined (the combined message, or NULL). */
static int record_new(k8s_event_recorder *r, const cJSON *obj, const char *ns, const char *type,
                      const char *reason, const char *message, const char *ts, char *key,
                      char *combined)
{
    ev_entry *e = calloc(1, sizeof(*e));
    char name[300];
    /* Unique per recorder and time, like client-go's "<object>.<hex nanoseconds>". */
    snprintf(name, sizeof(name), "%.200s.%llx%04lx", str_at(obj, "metadata", "name"),
             (unsigned long long)uv_hrtime(), (r->seq++) & 0xffff);
    if (e) {
        e->r = r;
        e->count = 1;
        memcpy(e->last_ts, ts, sizeof(e->last_ts));
        e->name = strdup(name);
        e->ns = strdup(ns);
        e->combined_message = combined;
        combined = NULL;
        /* Text: a cache of 256 recent Events holds about 128 KB, not 0.5 MB of cJSON nodes. */
        cJSON *proto = make_proto(r, obj, ns, name, type, reason,
                                  e->combined_message ? e->combined_message : message, ts);
        e->proto = proto ? cJSON_PrintUnformatted(proto) : NULL;
        cJSON_Delete(proto);
    }
    free(combined);
    if (!e || !e->name || !e->ns || !e->proto ||
        k8s__strmap_put(&r->entries, key, e, &e->key) != 0) {
        if (e)
            entry_free(e);
        free(key);
        return -ENOMEM;
    }
    free(key);
    lru_push_front(r, e);
    r->stats.recorded++;
    flush(e);
    evict(r);
    return 0;
}

int k8s_event_record(k8s_event_recorder *r, const cJSON *obj, const char *type, const char *reason,
                     const char *message)
{
    if (r->stopping)
        return -ESHUTDOWN;
    const char *oname = str_at(obj, "metadata", "name");
    if (!oname[0] || !type || !reason || !message)
        return -EINVAL;
    const char *ons = str_at(obj, "metadata", "namespace");
    const char *ns = ons[0] ? ons : "default";
    const char *who[] = {str_at(obj, "apiVersion", NULL),
                         str_at(obj, "kind", NULL),
                         ns,
                         oname,
                         str_at(obj, "metadata", "uid"),
                         type};
    char *object_key = join_key(who, 6);
    if (!object_key)
        return -ENOMEM;
    uint64_t now = uv_now(k8s_client_loop(r->client));
    int verdict = k8s_event_filter_admit(&r->filter, now, object_key, reason, message);
    if (verdict == K8S_EVENT_DROP_SPAM) {
        free(object_key);
        r->stats.dropped_spam++;
        return 0;
    }
    /* Each message its own Event, or one combined Event per (object, type, reason). */
    int combine = verdict == K8S_EVENT_COMBINE;
    const char *what[] = {object_key, reason, combine ? K8S_EVENT_COMBINED_PREFIX : message};
    char *key = join_key(what, 3);
    free(object_key);
    char *combined = NULL;
    if (combine) {
        size_t len = strlen(K8S_EVENT_COMBINED_PREFIX) + strlen(message) + 1;
        if ((combined = malloc(len)))
            snprintf(combined, len, "%s%s", K8S_EVENT_COMBINED_PREFIX, message);
        r->stats.combined++;
    }
    if (!key || (combine && !combined)) {
        free(key);
        free(combined);
        return -ENOMEM;
    }
    char ts[32];
    now_rfc3339(ts, sizeof(ts));
    ev_entry *e = k8s__strmap_get(&r->entries, key);
    if (e) {
        free(key);
        record_repeat(r, e, ts, combined);
        return 0;
    }
    if (strcmp(type, "Normal") == 0 && !k8s_event_filter_take_normal(&r->filter, now)) {
        free(key);
        free(combined);
        r->stats.dropped_budget++;
        return 0;
    }
    return record_new(r, obj, ns, type, reason, message, ts, key, combined);
}

int k8s_event_recorder_new(k8s_client *c, const k8s_event_recorder_opts *opts,
                           k8s_event_recorder **out)
{
    *out = NULL;
    if (!c || !opts || !opts->component)
        return -EINVAL;
    k8s_event_recorder *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->client = c;
    r->max_cached = opts->max_cached ? opts->max_cached : 256;
    k8s_event_filter_init(&r->filter, &opts->filter);
    r->component = strdup(opts->component);
    r->instance = opts->instance ? strdup(opts->instance) : NULL;
    if (!r->component || (opts->instance && !r->instance)) {
        k8s_event_recorder_free(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

void k8s_event_recorder_close(k8s_event_recorder *r, void (*cb)(k8s_event_recorder *r, void *data),
                              void *data)
{
    if (r->stopping)
        return;
    r->stopping = 1;
    r->stop_cb = cb;
    r->stop_data = data;
    for (ev_entry *e = r->head; e; e = e->next)
        if (e->req)
            k8s_request_cancel(e->req);
    /* With nothing in flight (and none can start now) there is nothing to wait for; cb
     * still runs on a later turn, never from here. */
    if (r->in_flight == 0 && k8s_defer(k8s_client_loop(r->client), finish_stop_later, r) != 0)
        maybe_finish_stop(r); /* out of memory: late is impossible, so now */
}

static void free_entry_value(void *p)
{
    entry_free(p);
}

void k8s_event_recorder_free(k8s_event_recorder *r)
{
    if (!r)
        return;
    k8s__strmap_clear(&r->entries, free_entry_value);
    k8s_event_filter_clear(&r->filter);
    free(r->component);
    free(r->instance);
    free(r);
}

void k8s_event_recorder_get_stats(const k8s_event_recorder *r, k8s_event_stats *out)
{
    *out = r->stats;
}

size_t k8s_event_recorder_in_flight(const k8s_event_recorder *r)
{
    return r->in_flight;
}
