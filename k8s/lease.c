/*
 * Leader election on a Lease; see lease.h.
 */
#include "k8s/lease.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "k8s/backoff.h"
#include "k8s/watch_parse.h"

typedef enum { L_NEW, L_RUNNING, L_RELEASING, L_STOPPING, L_STOPPED } l_state;

struct k8s_lease {
    k8s_client *client;
    uv_loop_t *loop;
    k8s_lease_opts opts;
    char *ns, *name, *identity;

    l_state state;
    k8s_request *req;
    uv_timer_t timer;
    int timer_open;
    bool leader;
    bool release_sent;

    cJSON *observed;      /* last seen Lease object (owned) */
    char *observed_spec;  /* its spec, printed, to detect changes */
    uint64_t observed_ms; /* our clock when the spec last changed */
    uint64_t last_renew_ms;
    uint64_t rng;

    void (*stop_cb)(k8s_lease *l, void *data);
    void *stop_data;
};

static const k8s_resource_ref lease_ref = {
    .group = "coordination.k8s.io", .version = "v1", .resource = "leases"};

static void schedule(k8s_lease *l, uint64_t ms);
static void maybe_finish_stop(k8s_lease *l);

void k8s_micro_time_now(char *buf, size_t len)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    time_t secs = tv.tv_sec;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06ldZ", base, (long)tv.tv_usec);
}

static void set_leader(k8s_lease *l, bool leader)
{
    if (l->leader == leader)
        return;
    l->leader = leader;
    if (leader && l->opts.on_started_leading)
        l->opts.on_started_leading(l, l->opts.data);
    else if (!leader && l->opts.on_stopped_leading)
        l->opts.on_stopped_leading(l, l->opts.data);
}

/* Remembers obj (taking ownership) and notes when its spec last changed, by our clock. */
static void observe(k8s_lease *l, cJSON *obj)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    char *printed = spec ? cJSON_PrintUnformatted(spec) : strdup("");
    if (!printed || !l->observed_spec || strcmp(printed, l->observed_spec) != 0)
        l->observed_ms = uv_now(l->loop);
    free(l->observed_spec);
    l->observed_spec = printed;
    cJSON_Delete(l->observed);
    l->observed = obj;
}

static const char *spec_string(const cJSON *lease, const char *field)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, field);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double spec_number(const cJSON *lease, const char *field)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, field);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/*
 * The Lease we want to write: held by us (or by nobody when releasing), based on the observed
 * one so that acquireTime and leaseTransitions carry over.
 */
static cJSON *desired_lease(k8s_lease *l, bool release)
{
    char now[40];
    k8s_micro_time_now(now, sizeof(now));
    const char *holder = l->observed ? spec_string(l->observed, "holderIdentity") : NULL;
    bool ours = holder && strcmp(holder, l->identity) == 0;
    double transitions = l->observed ? spec_number(l->observed, "leaseTransitions") : 0;
    const char *acquired = l->observed ? spec_string(l->observed, "acquireTime") : NULL;

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1");
    cJSON_AddStringToObject(o, "kind", "Lease");
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", l->name);
    cJSON_AddStringToObject(md, "namespace", l->ns);
    const char *rv = l->observed ? k8s_object_resource_version(l->observed) : NULL;
    if (rv)
        cJSON_AddStringToObject(md, "resourceVersion", rv);
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddStringToObject(spec, "holderIdentity", release ? "" : l->identity);
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds",
                            release ? 1 : (double)((l->opts.lease_duration_ms + 999) / 1000));
    cJSON_AddStringToObject(spec, "acquireTime", ours && acquired ? acquired : now);
    cJSON_AddStringToObject(spec, "renewTime", now);
    cJSON_AddNumberToObject(spec, "leaseTransitions",
                            ours || !holder || !holder[0] ? transitions : transitions + 1);
    return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void on_write_done(k8s_request *req, k8s_response *res, void *data);
static void on_get_done(k8s_request *req, k8s_response *res, void *data);

static int start(k8s_lease *l, k8s_verb verb, const cJSON *body, k8s_request_done_cb cb)
{
    k8s_request_opts o = {
        .verb = verb,
        .ref = lease_ref,
        .body = body,
        .max_attempts = 1, /* the retry period is our retry */
        .exempt = true,    /* renewals never wait behind a reconcile backlog */
        .timeout_ms = (long)l->opts.retry_period_ms * 2,
        .on_done = cb,
        .data = l,
    };
    o.ref.namespace = l->ns;
    o.ref.name = verb == K8S_VERB_CREATE ? NULL : l->name;
    return k8s_request_start(l->client, &o, &l->req);
}

static void write_lease(k8s_lease *l, bool release)
{
    if (release)
        l->release_sent = true;
    cJSON *body = desired_lease(l, release);
    int rc = body ? start(l, l->observed ? K8S_VERB_UPDATE : K8S_VERB_CREATE, body, on_write_done)
                  : -ENOMEM;
    cJSON_Delete(body);
    if (rc != 0) {
        l->req = NULL;
        if (l->state == L_RELEASING) {
            l->state = L_STOPPING;
            maybe_finish_stop(l);
        } else {
            schedule(l, l->opts.retry_period_ms);
        }
    }
}

static void try_acquire_or_renew(k8s_lease *l)
{
    if (l->leader && l->observed) {
        /* Renew straight from what we wrote last: PUT with its resourceVersion. */
        write_lease(l, false);
        return;
    }
    if (start(l, K8S_VERB_GET, NULL, on_get_done) != 0) {
        l->req = NULL;
        schedule(l, l->opts.retry_period_ms);
    }
}

/* Leadership ends when renewals kept failing for the renew deadline. */
static void check_deadline(k8s_lease *l)
{
    if (l->leader && uv_now(l->loop) - l->last_renew_ms >= l->opts.renew_deadline_ms)
        set_leader(l, false);
}

static uint64_t jittered_retry(k8s_lease *l)
{
    /* Candidates spread out over [1, 1.2) periods, like client-go's JitterUntil. */
    uint64_t p = l->opts.retry_period_ms;
    if (l->leader)
        return p;
    return p + k8s_backoff_xorshift(&l->rng) % (p / 5 + 1);
}

/*
 * A call finished while a release is pending: send the release now, based on the freshest
 * record (a renewal that just succeeded carries the resourceVersion the release must name).
 */
static void release_after(k8s_lease *l, k8s_response *res, bool was_write)
{
    if (was_write && res->err.code == K8S_OK && res->body) {
        observe(l, res->body);
        res->body = NULL;
    }
    l->release_sent = true;
    const char *holder = l->observed ? spec_string(l->observed, "holderIdentity") : NULL;
    if (!holder || strcmp(holder, l->identity) != 0) {
        /* Not ours (any more): releasing would clobber another holder's record. */
        l->state = L_STOPPING;
        maybe_finish_stop(l);
        return;
    }
    write_lease(l, true);
}

static void on_get_done(k8s_request *req, k8s_response *res, void *data)
{
    k8s_lease *l = data;
    l->req = NULL;
    if (l->state == L_RELEASING) {
        release_after(l, res, false);
        return;
    }
    if (l->state != L_RUNNING) {
        maybe_finish_stop(l);
        return;
    }
    if (res->err.code == K8S_ERR_NOT_FOUND) {
        cJSON_Delete(l->observed);
        l->observed = NULL;
        write_lease(l, false); /* create */
        return;
    }
    if (res->err.code != K8S_OK || !res->body) {
        check_deadline(l);
        schedule(l, jittered_retry(l));
        return;
    }
    cJSON *obj = res->body;
    res->body = NULL;
    observe(l, obj);
    const char *holder = spec_string(obj, "holderIdentity");
    /* An int32 in the API; clamped so that the conversion below stays defined. */
    double dur_s = spec_number(obj, "leaseDurationSeconds");
    if (!(dur_s > 0))
        dur_s = 0;
    else if (dur_s > 2147483647.0)
        dur_s = 2147483647.0;
    uint64_t now = uv_now(l->loop);
    bool held_by_other = holder && holder[0] && strcmp(holder, l->identity) != 0;
    uint64_t expires_ms = l->observed_ms + (uint64_t)(dur_s * 1000.0);
    if (held_by_other && now < expires_ms) {
        set_leader(l, false); /* someone else renewed it meanwhile */
        /* Look again when it would expire if that comes before the next retry: a holder
         * that died is replaced one lease duration after its last renewal we saw. */
        uint64_t next = jittered_retry(l);
        schedule(l, expires_ms - now < next ? expires_ms - now + 1 : next);
        return;
    }
    write_lease(l, false);
}

static void on_write_done(k8s_request *req, k8s_response *res, void *data)
{
    k8s_lease *l = data;
    l->req = NULL;
    if (l->state == L_RELEASING && !l->release_sent) {
        release_after(l, res, true);
        return;
    }
    if (l->state == L_RELEASING) {
        /* Whatever the outcome we are done; a failed release just lets the lease expire. */
        l->state = L_STOPPING;
        maybe_finish_stop(l);
        return;
    }
    if (l->state != L_RUNNING) {
        maybe_finish_stop(l);
        return;
    }
    if (res->err.code == K8S_OK && res->body) {
        cJSON *obj = res->body;
        res->body = NULL;
        observe(l, obj);
        l->last_renew_ms = uv_now(l->loop);
        set_leader(l, true);
    } else if (res->err.code == K8S_ERR_CONFLICT || res->err.code == K8S_ERR_ALREADY_EXISTS) {
        /* Someone else wrote the lease first: re-read it next time. */
        cJSON_Delete(l->observed);
        l->observed = NULL;
        set_leader(l, false);
    } else {
        check_deadline(l);
    }
    if (l->state == L_RUNNING)
        schedule(l, jittered_retry(l));
}

/* ------------------------------------------------------------------------------------------ */
/* Lifecycle                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
    k8s_lease *l = t->data;
    if (l->state == L_RUNNING && !l->req)
        try_acquire_or_renew(l);
}

static void schedule(k8s_lease *l, uint64_t ms)
{
    if (l->timer_open && l->state == L_RUNNING)
        uv_timer_start(&l->timer, on_timer, ms, 0);
}

static char *make_identity(k8s_lease *l)
{
    char host[256] = "";
    const char *pod = getenv("POD_NAME");
    if (!pod || !pod[0]) {
        if (gethostname(host, sizeof(host) - 1) != 0)
            snprintf(host, sizeof(host), "unknown-host");
        pod = host;
    }
    char buf[320];
    snprintf(buf, sizeof(buf), "%s-%08llx", pod,
             (unsigned long long)(k8s_backoff_xorshift(&l->rng) & 0xffffffffu));
    return strdup(buf);
}

int k8s_lease_new(k8s_client *c, const k8s_lease_opts *opts, k8s_lease **out)
{
    *out = NULL;
    if (!c || !opts || !opts->namespace || !opts->name)
        return -EINVAL;
    k8s_lease *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->client = c;
    l->loop = k8s_client_loop(c);
    l->opts = *opts;
    if (!l->opts.lease_duration_ms)
        l->opts.lease_duration_ms = 15000;
    if (!l->opts.renew_deadline_ms)
        l->opts.renew_deadline_ms = 10000;
    if (!l->opts.retry_period_ms)
        l->opts.retry_period_ms = 2000;
    if (l->opts.renew_deadline_ms >= l->opts.lease_duration_ms ||
        l->opts.retry_period_ms >= l->opts.renew_deadline_ms) {
        free(l);
        return -EINVAL;
    }
    l->rng = opts->seed ? opts->seed : (uv_hrtime() ^ (uint64_t)(uintptr_t)l) | 1u;
    l->ns = strdup(opts->namespace);
    l->name = strdup(opts->name);
    l->identity = opts->identity ? strdup(opts->identity) : make_identity(l);
    if (!l->ns || !l->name || !l->identity) {
        k8s_lease_free(l);
        return -ENOMEM;
    }
    l->opts.namespace = l->ns;
    l->opts.name = l->name;
    l->opts.identity = l->identity;
    *out = l;
    return 0;
}

int k8s_lease_start(k8s_lease *l)
{
    if (l->state != L_NEW)
        return -EINVAL;
    int rc = uv_timer_init(l->loop, &l->timer);
    if (rc != 0)
        return rc;
    l->timer.data = l;
    l->timer_open = 1;
    l->state = L_RUNNING;
    uv_timer_start(&l->timer, on_timer, 0, 0);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    k8s_lease *l = h->data;
    l->timer_open = 0;
    maybe_finish_stop(l);
}

static void maybe_finish_stop(k8s_lease *l)
{
    if (l->state != L_STOPPING || l->req)
        return;
    if (l->timer_open) {
        if (!uv_is_closing((uv_handle_t *)&l->timer))
            uv_close((uv_handle_t *)&l->timer, on_timer_closed);
        return;
    }
    l->state = L_STOPPED;
    if (l->stop_cb)
        l->stop_cb(l, l->stop_data);
}

void k8s_lease_close(k8s_lease *l, bool release, void (*cb)(k8s_lease *l, void *data), void *data)
{
    if (l->state != L_RUNNING) {
        if (l->state == L_NEW)
            l->state = L_STOPPED;
        return;
    }
    l->stop_cb = cb;
    l->stop_data = data;
    uv_timer_stop(&l->timer);
    bool was_leader = l->leader;
    /* Stop believing first: once the release is written a standby may lead at once. */
    set_leader(l, false);
    if (release && was_leader && l->observed) {
        l->state = L_RELEASING;
        if (!l->req)
            write_lease(l, true);
        /* else the call in flight finishes first and its callback sends the release */
        return;
    }
    l->state = L_STOPPING;
    if (l->req)
        k8s_request_cancel(l->req);
    maybe_finish_stop(l);
}

void k8s_lease_free(k8s_lease *l)
{
    if (!l)
        return;
    cJSON_Delete(l->observed);
    free(l->observed_spec);
    free(l->ns);
    free(l->name);
    free(l->identity);
    free(l);
}

bool k8s_lease_is_leader(const k8s_lease *l)
{
    return l->leader;
}

const char *k8s_lease_identity(const k8s_lease *l)
{
    return l->identity;
}
