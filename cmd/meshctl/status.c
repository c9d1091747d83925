/*
 * meshctl status: reads every named cluster's MeshClusters and prints the from×to matrix the
 * daemons' conditions add up to (controller/matrix.h), with one line per problem. Exit 0 when
 * every pair is healthy, 1 when not (or --wait timed out), 2 on a usage error.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/meshctl/clusters.h"
#include "cmd/meshctl/commands.h"
#include "controller/matrix.h"
#include "controller/meshcluster.h"

#define STATUS_CELL_WIDTH 12 /* 12 + 5 x 12 = 72: five clusters fit 80 columns */
#define STATUS_POLL_S     2

static void status_usage(FILE *f)
{
    fprintf(f, "Usage: meshctl status [--kubeconfig F]... [--context C]... [options]\n\n"
               "Reads the MeshClusters of every named cluster and prints a matrix: a row per\n"
               "cluster (whose daemon wrote the status), a column per MeshCluster, each cell\n"
               "the worst of its conditions; then one line per problem.\n\n"
               "Options:\n"
               "  --kubeconfig F      a cluster's kubeconfig (repeat for each cluster)\n"
               "  --context C         a context (repeat; pairs with --kubeconfig)\n"
               "  -o, --output FMT    table (default) or json\n"
               "  --wait              poll until every pair is healthy\n"
               "  --timeout D         with --wait: give up after D (default 5m)\n\n"
               "Exit status: 0 all healthy, 1 not healthy or timed out, 2 usage error.\n");
}

struct status_opts {
    struct meshctl_targets targets;
    bool json, wait;
    long timeout_s;
};

static int status_parse(int argc, char **argv, struct status_opts *o, FILE *out, FILE *err)
{
    memset(o, 0, sizeof(*o));
    o->timeout_s = 300;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = meshctl_targets_option(&o->targets, argc, argv, &i, "status", err);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            status_usage(out);
            return 0;
        } else if (!strcmp(a, "--wait")) {
            o->wait = true;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "json") && strcmp(v, "table")) {
                fprintf(err, "meshctl status: -o must be table or json, not \"%s\"\n", v);
                return 2;
            }
            o->json = !strcmp(v, "json");
        } else if (!strcmp(a, "--timeout") && i + 1 < argc) {
            o->timeout_s = meshctl_parse_seconds(argv[++i]);
            if (o->timeout_s < 0) {
                fprintf(err, "meshctl status: --timeout must be a duration like 90s or 5m\n");
                return 2;
            }
        } else {
            fprintf(err, "meshctl status: unknown option \"%s\" (see --help)\n", a);
            return 2;
        }
    }
    return meshctl_targets_resolve(&o->targets, "status", err) < 0 ? 2 : -1;
}

/* Reads every target's MeshClusters; an unreadable one keeps its reason in errs, and each its
 * kubeconfig context in hints (to name a row no local MeshCluster names). */
static void status_read(const struct meshctl_targets *ts, cJSON **lists, char (*errs)[512],
                        char (*hints)[128])
{
    for (size_t i = 0; i < ts->n; i++) {
        lists[i] = NULL;
        errs[i][0] = '\0';
        hints[i][0] = '\0';
        k8s_sync_client *c = meshctl_connect(&ts->t[i], errs[i], sizeof(errs[i]));
        if (!c)
            continue;
        const char *ctx = k8s_sync_client_config(c)->context;
        snprintf(hints[i], sizeof(hints[i]), "%s", ctx ? ctx : "");
        if (meshctl_fetch(c, MC_API_GROUP, "v1alpha1", "meshclusters", NULL, NULL, NULL, &lists[i],
                          errs[i], sizeof(errs[i])) == 0 &&
            !lists[i])
            snprintf(errs[i], sizeof(errs[i]), "the MeshCluster CRD is not installed");
        k8s_sync_client_free(c);
    }
}

static const char *cell_word(const struct mc_matrix_cell *c, char *buf, size_t size)
{
    static const char *const words[] = {"ok", "pending", "missing", "FAILED", "unreachable"};
    const char *w = (unsigned)c->state < 5 ? words[c->state] : "?";
    if (c->latency_ms >= 0 && c->state == MC_CELL_OK)
        snprintf(buf, size, "%s %ldms", w, c->latency_ms);
    else
        snprintf(buf, size, "%s", w);
    return buf;
}

static const char *cell_colour(enum mc_cell_state s)
{
    return s == MC_CELL_OK ? "\033[32m" : s == MC_CELL_PENDING ? "\033[33m" : "\033[31m";
}

/* One column: the text cut to fit (so five clusters stay within 80 columns), coloured, then
 * padded unless it ends the line (no trailing blanks). */
static void print_field(FILE *out, const char *s, const char *colour, bool last)
{
    int w = STATUS_CELL_WIDTH - 1;
    int len = (int)strlen(s);
    if (colour)
        fputs(colour, out);
    if (len > w)
        fprintf(out, "%.*s~", w - 1, s);
    else
        fputs(s, out);
    if (colour)
        fputs("\033[0m", out);
    if (!last)
        fprintf(out, "%*s", (len > w ? 0 : w - len) + 1, "");
}

static void status_table(const struct mc_matrix *m, FILE *out)
{
    bool colour = meshctl_use_colour(out);
    print_field(out, "FROM\\TO", NULL, m->ncols == 0);
    for (size_t c = 0; c < m->ncols; c++)
        print_field(out, m->cols[c], NULL, c + 1 == m->ncols);
    fputc('\n', out);
    for (size_t r = 0; r < m->nrows; r++) {
        print_field(out, m->rows[r], NULL, m->ncols == 0);
        for (size_t c = 0; c < m->ncols; c++) {
            char buf[32];
            const struct mc_matrix_cell *cell = mc_matrix_at(m, r, c);
            print_field(out, cell_word(cell, buf, sizeof(buf)),
                        colour ? cell_colour(cell->state) : NULL, c + 1 == m->ncols);
        }
        fputc('\n', out);
    }
    if (m->nproblems)
        fprintf(out, "\n%zu problem%s:\n", m->nproblems, m->nproblems == 1 ? "" : "s");
    for (size_t i = 0; i < m->nproblems; i++) {
        const struct mc_matrix_problem *p = &m->problems[i];
        fprintf(out, "  %s", m->rows[p->row]);
        if (p->col != (size_t)-1)
            fprintf(out, " -> %s", m->cols[p->col]);
        if (p->type[0])
            fprintf(out, ": %s=%s", p->type, p->status[0] ? p->status : "?");
        fprintf(out, " %s: %s\n", p->reason, p->message);
    }
    fprintf(out, "\n%s\n", m->healthy ? "All pairs healthy." : "Not healthy.");
}

/* One read of every cluster, printed; returns the exit code, or -1 to poll again. */
static int status_once(const struct status_opts *o, bool last, FILE *out, FILE *err)
{
    cJSON *lists[MESHCTL_MAX_CLUSTERS];
    char errs[MESHCTL_MAX_CLUSTERS][512];
    char hints[MESHCTL_MAX_CLUSTERS][128];
    struct mc_matrix_source src[MESHCTL_MAX_CLUSTERS];
    status_read(&o->targets, lists, errs, hints);
    for (size_t i = 0; i < o->targets.n; i++)
        src[i] = (struct mc_matrix_source){o->targets.t[i].label, lists[i],
                                           errs[i][0] ? errs[i] : NULL, hints[i]};
    struct mc_matrix m;
    int rc = mc_matrix_build(src, o->targets.n, &m);
    for (size_t i = 0; i < o->targets.n; i++)
        cJSON_Delete(lists[i]);
    if (rc < 0) {
        fprintf(err, "meshctl status: out of memory\n");
        return 1;
    }
    int code = m.healthy ? 0 : 1;
    bool done = code == 0 || last;
    if (done) {
        if (o->json) {
            if (meshctl_print_json(mc_matrix_to_json(&m), "status", out, err) < 0)
                code = 1;
        } else {
            status_table(&m, out);
        }
    }
    mc_matrix_free(&m);
    return done ? code : -1;
}

int meshctl_cmd_status(int argc, char **argv, FILE *out, FILE *err)
{
    struct status_opts o;
    int rc = status_parse(argc, argv, &o, out, err);
    if (rc >= 0)
        return rc;
    time_t deadline = time(NULL) + o.timeout_s;
    for (;;) {
        bool last = !o.wait || time(NULL) + STATUS_POLL_S > deadline;
        rc = status_once(&o, last, out, err);
        if (rc >= 0)
            return rc;
        sleep(STATUS_POLL_S);
    }
}
