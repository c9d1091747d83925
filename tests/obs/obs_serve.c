/*
 * Test driver for test_metrics_parse.py: serves a registry filled with known values on
 * 127.0.0.1:0 and prints "PORT <n>" on stdout. Commands on stdin, one a line: "ready" makes
 * /readyz answer 200. End of stdin closes the server; the exit status is 0 only if uv_run then
 * returns with no handle left open (uv_loop_close() == 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "k8s/metrics.h"
#include "k8s/obs_server.h"

typedef struct {
    uv_loop_t loop;
    uv_pipe_t in;
    k8s_obs_server *srv;
    int ready;
    char line[256];
    size_t line_len;
    char rbuf[512];
} app;

static int is_ready(void *data, char *reason, size_t size)
{
    app *a = data;
    if (!a->ready)
        snprintf(reason, size, "informer meshclusters not synced");
    return a->ready;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    app *a = h->data;
    (void)suggested;
    *buf = uv_buf_init(a->rbuf, sizeof(a->rbuf));
}

static void on_command(app *a, const char *cmd)
{
    if (strcmp(cmd, "ready") == 0)
        a->ready = 1;
    printf("OK %s\n", cmd);
    fflush(stdout);
}

static void on_stdin_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    app *a = s->data;
    if (n < 0) {
        uv_close((uv_handle_t *)&a->in, NULL);
        k8s_obs_server_close(a->srv, NULL, NULL);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = buf->base[i];
        if (c == '\n') {
            a->line[a->line_len] = '\0';
            on_command(a, a->line);
            a->line_len = 0;
        } else if (a->line_len + 1 < sizeof(a->line)) {
            a->line[a->line_len++] = c;
        }
    }
}

static void fill(k8s_metrics *m)
{
    k8s_metrics_register_standard(m, "meshcluster", "0.1.0-test");
    k8s_metrics_register_workqueue(m, "meshcluster");
    k8s_metrics_register_controller(m, "meshcluster");

    const char *const ctl_ok[] = {"meshcluster", "success"};
    const char *const ctl_err[] = {"meshcluster", "error"};
    for (int i = 0; i < 3; i++)
        k8s_metric_inc(k8s_metrics_find(m, K8S_M_RECONCILE_TOTAL), ctl_ok);
    k8s_metric_inc(k8s_metrics_find(m, K8S_M_RECONCILE_TOTAL), ctl_err);
    k8s_metric_inc(k8s_metrics_find(m, K8S_M_RECONCILE_ERRORS), (const char *[]){"meshcluster"});
    k8s_metric *rt = k8s_metrics_find(m, K8S_M_RECONCILE_TIME);
    k8s_metric_observe(rt, (const char *[]){"meshcluster"}, 0.004);
    k8s_metric_observe(rt, (const char *[]){"meshcluster"}, 0.2);
    k8s_metric_observe(rt, (const char *[]){"meshcluster"}, 75);

    const char *const wq[] = {"meshcluster", "meshcluster"};
    k8s_metric_set(k8s_metrics_find(m, K8S_M_WORKQUEUE_DEPTH), wq, 2);
    k8s_metric_add(k8s_metrics_find(m, K8S_M_WORKQUEUE_ADDS), wq, 5);
    k8s_metric_inc(k8s_metrics_find(m, K8S_M_WORKQUEUE_RETRIES), wq);
    k8s_metric_observe(k8s_metrics_find(m, K8S_M_WORKQUEUE_QUEUE_DURATION), wq, 0.0005);

    k8s_metric *rest = k8s_metrics_find(m, K8S_M_REST_REQUESTS);
    k8s_metric_add(rest, (const char *[]){"200", "GET", "127.0.0.1:6443"}, 7);
    k8s_metric_inc(rest, (const char *[]){"409", "PATCH", "127.0.0.1:6443"});
    k8s_metric_observe(k8s_metrics_find(m, K8S_M_REST_DURATION),
                       (const char *[]){"GET", "127.0.0.1:6443"}, 0.03);
    k8s_metric_set(k8s_metrics_find(m, K8S_M_LEADER_STATUS), (const char *[]){"meshcluster"}, 1);
    k8s_metric_inc(k8s_metrics_find_own(m, K8S_M_WATCH_RESTARTS), (const char *[]){"services"});
    k8s_metric_inc(k8s_metrics_find_own(m, K8S_M_RELISTS), (const char *[]){"services"});
    k8s_metric *objs = k8s_metrics_find_own(m, K8S_M_MANAGED_OBJECTS);
    k8s_metric_set(objs, (const char *[]){"Service"}, 3);
    k8s_metric_set(objs, (const char *[]){"Secret"}, 1);
    /* A label value that needs every escape the format has. */
    k8s_metric_set(objs, (const char *[]){"we\"ird\\kind\nx"}, 42);
}

int main(void)
{
    app a;
    memset(&a, 0, sizeof(a));
    uv_loop_init(&a.loop);
    k8s_metrics *m = k8s_metrics_new();
    if (!m)
        return 2;
    fill(m);

    k8s_obs_server_opts o = {
        .addr = "127.0.0.1:0", .metrics = m, .ready = is_ready, .ready_data = &a};
    a.srv = k8s_obs_server_new(&a.loop, &o);
    int rc = a.srv ? k8s_obs_server_start(a.srv) : -1;
    if (rc != 0) {
        fprintf(stderr, "start: %s\n", uv_strerror(rc));
        return 2;
    }
    if (uv_guess_handle(0) != UV_NAMED_PIPE) {
        fprintf(stderr, "stdin must be a pipe\n");
        return 2;
    }
    uv_pipe_init(&a.loop, &a.in, 0);
    a.in.data = &a;
    if (uv_pipe_open(&a.in, 0) != 0 ||
        uv_read_start((uv_stream_t *)&a.in, on_alloc, on_stdin_read) != 0) {
        fprintf(stderr, "stdin must be a pipe\n");
        return 2;
    }
    printf("PORT %d\n", k8s_obs_server_port(a.srv));
    fflush(stdout);

    uv_run(&a.loop, UV_RUN_DEFAULT);
    k8s_obs_server_free(a.srv);
    k8s_metrics_free(m);
    rc = uv_loop_close(&a.loop);
    if (rc != 0) {
        fprintf(stderr, "loop still has open handles after close: %s\n", uv_strerror(rc));
        return 3;
    }
    printf("CLEAN\n");
    return 0;
}
