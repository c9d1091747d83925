/*
 * Benchmark driver for the informer (see bench/watch/run).
 *
 *   mc_bench_watch produce N NAMESPACE   creates N ConfigMaps (64 requests in flight)
 *   mc_bench_watch consume N             list+watch all ConfigMaps into an informer until it
 *                                        holds at least N, then prints events/s and memory
 *
 * Talks to the server in $KUBECONFIG. Output lines are "key=value" for the run script.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "k8s/config.h"
#include "k8s/informer.h"
#include "k8s/request.h"

#define IN_FLIGHT 64

static k8s_client *make_client(uv_loop_t *loop)
{
    char err[256] = "";
    k8s_config *cfg = NULL;
    if (k8s_config_load(getenv("KUBECONFIG"), NULL, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "config: %s\n", err);
        exit(1);
    }
    k8s_client_opts o = {.qps = -1};
    k8s_client *c = NULL;
    if (k8s_client_new(loop, cfg, &o, &c) != 0) {
        fprintf(stderr, "cannot create a client\n");
        exit(1);
    }
    return c;
}

static long rss_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0)
            v = strtol(line + n, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* ---- produce ------------------------------------------------------------------------------ */

typedef struct {
    k8s_client *c;
    const char *ns;
    long next, total, done, failed, in_flight;
} producer;

static void produce_more(producer *p);

static void on_created(k8s_request *req, k8s_response *res, void *data)
{
    producer *p = data;
    p->in_flight--;
    p->done++;
    if (res->err.code != K8S_OK && res->err.code != K8S_ERR_ALREADY_EXISTS)
        p->failed++;
    produce_more(p);
}

static void produce_more(producer *p)
{
    while (p->in_flight < IN_FLIGHT && p->next < p->total) {
        char name[64], v[64];
        snprintf(name, sizeof(name), "bench-%07ld", p->next);
        snprintf(v, sizeof(v), "value-%ld", p->next);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "apiVersion", "v1");
        cJSON_AddStringToObject(o, "kind", "ConfigMap");
        cJSON *md = cJSON_AddObjectToObject(o, "metadata");
        cJSON_AddStringToObject(md, "name", name);
        cJSON_AddStringToObject(md, "namespace", p->ns);
        cJSON *labels = cJSON_AddObjectToObject(md, "labels");
        cJSON_AddStringToObject(labels, "app", "bench");
        cJSON *d = cJSON_AddObjectToObject(o, "data");
        cJSON_AddStringToObject(d, "key", v);
        cJSON_AddStringToObject(d, "config.yaml", "replicas: 3\nmode: bench\n");
        k8s_request_opts ro = {
            .verb = K8S_VERB_CREATE,
            .ref = {.version = "v1", .resource = "configmaps", .namespace = p->ns},
            .body = o,
            .on_done = on_created,
            .data = p};
        if (k8s_request_start(p->c, &ro, NULL) == 0)
            p->in_flight++;
        else
            p->failed++;
        cJSON_Delete(o);
        p->next++;
    }
}

static void on_ns_done(k8s_request *req, k8s_response *res, void *data)
{
    produce_more(data);
}

static int produce(long n, const char *ns)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    producer p = {.c = make_client(&loop), .ns = ns, .total = n};
    cJSON *nsobj = cJSON_CreateObject();
    cJSON_AddStringToObject(nsobj, "apiVersion", "v1");
    cJSON_AddStringToObject(nsobj, "kind", "Namespace");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(nsobj, "metadata"), "name", ns);
    k8s_request_opts ro = {.verb = K8S_VERB_CREATE,
                           .ref = {.version = "v1", .resource = "namespaces"},
                           .body = nsobj,
                           .on_done = on_ns_done,
                           .data = &p};
    k8s_request_start(p.c, &ro, NULL);
    cJSON_Delete(nsobj);
    uint64_t t0 = uv_hrtime();
    while (p.done < n)
        uv_run(&loop, UV_RUN_ONCE);
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    printf("produced=%ld failed=%ld seconds=%.2f\n", p.done, p.failed, secs);
    k8s_client_close(p.c, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return p.failed ? 1 : 0;
}

/* ---- consume ------------------------------------------------------------------------------ */

typedef struct {
    long want;
    bool done;
    uint64_t t_done;
    const k8s_store *store;
} consumer;

static void on_add(k8s_informer *inf, const char *key, const cJSON *obj, void *data)
{
    consumer *c = data;
    if (!c->done && (long)k8s_store_size(c->store) >= c->want) {
        c->done = true;
        c->t_done = uv_hrtime();
    }
}

static void on_synced(k8s_informer *inf, void *data)
{
    on_add(inf, NULL, NULL, data);
}

static void on_stopped(k8s_informer *inf, void *data)
{
    *(int *)data = 1;
}

static const char *const unread[] = {"metadata.managedFields", NULL};

static int consume(long n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    k8s_client *c = make_client(&loop);
    long base_kib = rss_kib("VmRSS:");
    consumer cons = {.want = n};
    k8s_informer_opts o = {
        .watch = {.ref = {.version = "v1", .resource = "configmaps"}},
        .drop_fields = unread,
        .handlers = {.on_add = on_add, .on_synced = on_synced, .data = &cons},
    };
    k8s_informer *inf = NULL;
    if (k8s_informer_new(c, &o, &inf) != 0)
        return 1;
    cons.store = k8s_informer_store(inf);
    uint64_t t0 = uv_hrtime();
    k8s_informer_start(inf);
    while (!cons.done)
        uv_run(&loop, UV_RUN_ONCE);
    double secs = (double)(cons.t_done - t0) / 1e9;
    long objects = (long)k8s_store_size(cons.store);
    long peak_kib = rss_kib("VmHWM:");
    printf("objects=%ld seconds=%.3f events_per_s=%.0f peak_rss_kib=%ld base_rss_kib=%ld "
           "kib_per_1000=%.1f\n",
           objects, secs, (double)objects / secs, peak_kib, base_kib,
           (double)(rss_kib("VmRSS:") - base_kib) * 1000.0 / (double)objects);
    int stopped = 0;
    k8s_informer_close(inf, on_stopped, &stopped);
    while (!stopped)
        uv_run(&loop, UV_RUN_ONCE);
    k8s_informer_free(inf);
    k8s_client_close(c, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "produce") == 0)
        return produce(atol(argv[2]), argv[3]);
    if (argc >= 3 && strcmp(argv[1], "consume") == 0)
        return consume(atol(argv[2]));
    fprintf(stderr, "usage: mc_bench_watch produce N NAMESPACE | consume N\n");
    return 2;
}
