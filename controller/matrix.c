/*
 * `meshctl status`'s matrix from the MeshClusters of every member cluster. See matrix.h.
 */
#include "controller/matrix.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/json_get.h"
#include "controller/status.h"

static const char *const state_names[] = {
    [MC_CELL_OK] = "Healthy",
    [MC_CELL_PENDING] = "Pending",
    [MC_CELL_MISSING] = "Missing",
    [MC_CELL_FAILED] = "Failed",
    [MC_CELL_UNREACHABLE] = "Unreachable",
};

const char *mc_cell_state_name(enum mc_cell_state s)
{
    return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "Unknown";
}

static const char *mc_name(const cJSON *mc)
{
    return mc_json_str(mc_json_obj(mc, "metadata"), "name");
}

/* The daemon marks the MeshCluster it runs for with .status.role "local"; that names the row. */
const char *mc_matrix_local_name(const cJSON *list)
{
    for (const cJSON *it = list ? list->child : NULL; it; it = it->next) {
        const char *role = mc_json_str(mc_json_obj(it, "status"), "role");
        if (role && strcmp(role, "local") == 0 && mc_name(it))
            return mc_name(it);
    }
    return NULL;
}

static int add_problem(struct mc_matrix *m, size_t *cap, size_t row, size_t col,
                       enum mc_cell_state state, const char *type, const char *status,
                       const char *reason, const char *message)
{
    if (m->nproblems == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct mc_matrix_problem *p = realloc(m->problems, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        m->problems = p;
        *cap = ncap;
    }
    struct mc_matrix_problem *p = &m->problems[m->nproblems++];
    p->row = row;
    p->col = col;
    p->state = state;
    snprintf(p->type, sizeof(p->type), "%s", type ? type : "");
    snprintf(p->status, sizeof(p->status), "%s", status ? status : "");
    snprintf(p->reason, sizeof(p->reason), "%s", reason ? reason : "");
    snprintf(p->message, sizeof(p->message), "%s", message ? message : "");
    return 0;
}

/* "latency=<N>ms" anywhere in a condition message: the probes' extension point. */
static long message_latency(const char *msg)
{
    const char *p = msg ? strstr(msg, "latency=") : NULL;
    if (!p)
        return -1;
    char *end;
    long v = strtol(p + 8, &end, 10);
    return end != p + 8 && strncmp(end, "ms", 2) == 0 && v >= 0 ? v : -1;
}

/* What one condition says of its cell; a True condition observed at an older generation is
 * not yet evidence for the current spec. */
static enum mc_cell_state condition_state(const cJSON *c, long long generation)
{
    const char *st = mc_json_str(c, "status");
    if (st && strcmp(st, "False") == 0)
        return MC_CELL_FAILED;
    if (!st || strcmp(st, "True") != 0)
        return MC_CELL_PENDING;
    return mc_json_num(c, "observedGeneration", generation) < generation ? MC_CELL_PENDING
                                                                         : MC_CELL_OK;
}

static bool is_ready(const cJSON *c)
{
    const char *t = mc_json_str(c, "type");
    return t && strcmp(t, MC_COND_READY) == 0;
}

/* Fills one cell from the MeshCluster `to` as cluster `row` holds it, adding its problems.
 * Ready only summarises the others, so it is a problem line only when nothing else is. */
static int eval_cell(struct mc_matrix *m, size_t *cap, size_t row, size_t col, const cJSON *mc)
{
    struct mc_matrix_cell *cell = &m->cells[row * m->ncols + col];
    cell->latency_ms = -1;
    if (!mc) {
        cell->state = MC_CELL_MISSING;
        return add_problem(m, cap, row, col, MC_CELL_MISSING, NULL, NULL, "MeshClusterMissing",
                           "this cluster has no MeshCluster for that one: apply the same set "
                           "of MeshClusters to every cluster");
    }
    long long gen = mc_json_num(mc_json_obj(mc, "metadata"), "generation", 0);
    const cJSON *conds = cJSON_GetObjectItemCaseSensitive(mc_json_obj(mc, "status"), "conditions");
    if (!cJSON_IsArray(conds) || !conds->child) {
        cell->state = MC_CELL_PENDING;
        return add_problem(m, cap, row, col, MC_CELL_PENDING, NULL, NULL, "NoStatus",
                           "no condition written yet: is meshclusterd running in this cluster?");
    }
    enum mc_cell_state worst = MC_CELL_OK;
    size_t others_bad = 0;
    for (const cJSON *c = conds->child; c; c = c->next) {
        enum mc_cell_state s = condition_state(c, gen);
        long lat = message_latency(mc_json_str(c, "message"));
        if (lat > cell->latency_ms)
            cell->latency_ms = lat;
        if (s > worst)
            worst = s;
        if (s != MC_CELL_OK && !is_ready(c))
            others_bad++;
    }
    cell->state = worst;
    for (const cJSON *c = conds->child; c; c = c->next) {
        enum mc_cell_state s = condition_state(c, gen);
        if (s == MC_CELL_OK || (is_ready(c) && others_bad))
            continue;
        const char *st = mc_json_str(c, "status");
        bool stale = st && strcmp(st, "True") == 0;
        int rc = add_problem(m, cap, row, col, s, mc_json_str(c, "type"), st,
                             stale ? "Stale" : mc_json_str(c, "reason"),
                             stale ? "the daemon has not yet observed the current generation"
                                   : mc_json_str(c, "message"));
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every MeshCluster name any readable source holds, sorted and unique. */
static int collect_cols(const struct mc_matrix_source *src, size_t n, struct mc_matrix *m)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += src[i].meshclusters ? (size_t)cJSON_GetArraySize(src[i].meshclusters) : 0;
    m->cols = calloc(total ? total : 1, sizeof(*m->cols));
    if (!m->cols)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (const cJSON *it = src[i].meshclusters ? src[i].meshclusters->child : NULL; it;
             it = it->next) {
            const char *name = mc_name(it);
            if (!name)
                continue;
            if (!(m->cols[m->ncols] = strdup(name)))
                return -ENOMEM;
            m->ncols++;
        }
    qsort(m->cols, m->ncols, sizeof(*m->cols), cmp_str);
    size_t w = 0;
    for (size_t r = 0; r < m->ncols; r++) {
        if (w && strcmp(m->cols[w - 1], m->cols[r]) == 0)
            free(m->cols[r]);
        else
            m->cols[w++] = m->cols[r];
    }
    m->ncols = w;
    return 0;
}

/* One source's row: its name and, unless it is unreadable or nameless, its cells. */
static int build_row(const struct mc_matrix_source *s, size_t row, struct mc_matrix *m, size_t *cap)
{
    const char *local = s->meshclusters ? mc_matrix_local_name(s->meshclusters) : NULL;
    char fallback[256];
    const char *hint = s->hint && s->hint[0] ? s->hint : s->source;
    snprintf(fallback, sizeof(fallback), "?%s", hint ? hint : "");
    if (!(m->rows[row] = strdup(local ? local : fallback)))
        return -ENOMEM;
    m->sources[row] = s->source;
    enum mc_cell_state whole = MC_CELL_OK;
    const char *reason = NULL, *msg = NULL;
    if (!s->meshclusters) {
        whole = MC_CELL_UNREACHABLE;
        reason = "Unreachable";
        msg = s->error ? s->error : "the API server could not be read";
    } else if (!local) {
        whole = MC_CELL_PENDING;
        reason = "NoLocalMeshCluster";
        msg = "no MeshCluster has status.role local: is meshclusterd running here, with a "
              "--cluster-name that names one of the MeshClusters?";
    }
    if (whole != MC_CELL_OK) {
        for (size_t c = 0; c < m->ncols; c++)
            m->cells[row * m->ncols + c] = (struct mc_matrix_cell){whole, -1};
        return add_problem(m, cap, row, (size_t)-1, whole, NULL, NULL, reason, msg);
    }
    for (size_t c = 0; c < m->ncols; c++) {
        int rc = eval_cell(m, cap, row, c, mc_json_find_named(s->meshclusters, NULL, m->cols[c]));
        if (rc < 0)
            return rc;
    }
    return 0;
}

int mc_matrix_build(const struct mc_matrix_source *src, size_t n, struct mc_matrix *out)
{
    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (n && !src)
        return -EINVAL;
    size_t cap = 0;
    int rc = collect_cols(src, n, out);
    if (rc == 0) {
        out->rows = calloc(n ? n : 1, sizeof(*out->rows));
        out->sources = calloc(n ? n : 1, sizeof(*out->sources));
        size_t ncells = n * out->ncols;
        out->cells = calloc(ncells ? ncells : 1, sizeof(*out->cells));
        rc = out->rows && out->sources && out->cells ? 0 : -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        out->nrows = i + 1;
        rc = build_row(&src[i], i, out, &cap);
    }
    if (rc < 0) {
        mc_matrix_free(out);
        return rc;
    }
    out->healthy = true;
    for (size_t i = 0; i < out->nrows * out->ncols; i++)
        if (out->cells[i].state != MC_CELL_OK)
            out->healthy = false;
    /* A row with no columns (no MeshCluster anywhere) still counts as broken if it said so. */
    if (out->nproblems)
        out->healthy = false;
    return 0;
}

void mc_matrix_free(struct mc_matrix *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->rows && i < m->nrows; i++)
        free(m->rows[i]);
    for (size_t i = 0; m->cols && i < m->ncols; i++)
        free(m->cols[i]);
    free(m->rows);
    free(m->sources);
    free(m->cols);
    free(m->cells);
    free(m->problems);
    memset(m, 0, sizeof(*m));
}

/* Adds s to o under key unless s is NULL or ""; false only on allocation failure. */
static bool add_opt_str(cJSON *o, const char *key, const char *s)
{
    return !s || !s[0] || cJSON_AddStringToObject(o, key, s);
}

static cJSON *problem_json(const struct mc_matrix *m, const struct mc_matrix_problem *p)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "from", m->rows[p->row]) &&
              (p->col == (size_t)-1 || cJSON_AddStringToObject(o, "to", m->cols[p->col])) &&
              cJSON_AddStringToObject(o, "state", mc_cell_state_name(p->state)) &&
              add_opt_str(o, "type", p->type) && add_opt_str(o, "status", p->status) &&
              cJSON_AddStringToObject(o, "reason", p->reason) &&
              cJSON_AddStringToObject(o, "message", p->message);
    if (!ok)
        cJSON_Delete(o);
    return ok ? o : NULL;
}

static cJSON *pair_json(const struct mc_matrix *m, size_t r, size_t c)
{
    const struct mc_matrix_cell *cell = mc_matrix_at(m, r, c);
    cJSON *o = cJSON_CreateObject();
    bool ok =
        o && cJSON_AddStringToObject(o, "from", m->rows[r]) &&
        cJSON_AddStringToObject(o, "to", m->cols[c]) &&
        cJSON_AddStringToObject(o, "state", mc_cell_state_name(cell->state)) &&
        (cell->latency_ms < 0 || cJSON_AddNumberToObject(o, "latencyMs", (double)cell->latency_ms));
    if (!ok)
        cJSON_Delete(o);
    return ok ? o : NULL;
}

static cJSON *source_json(const struct mc_matrix *m, size_t r)
{
    const struct mc_matrix_problem *row_problem = NULL;
    for (size_t i = 0; i < m->nproblems; i++)
        if (m->problems[i].row == r && m->problems[i].col == (size_t)-1)
            row_problem = &m->problems[i];
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "source", m->sources[r] ? m->sources[r] : "") &&
              cJSON_AddStringToObject(o, "cluster", m->rows[r]) &&
              (!row_problem || cJSON_AddStringToObject(o, "error", row_problem->message));
    if (!ok)
        cJSON_Delete(o);
    return ok ? o : NULL;
}

cJSON *mc_matrix_to_json(const struct mc_matrix *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *clusters = cJSON_AddArrayToObject(o, "clusters");
    cJSON *sources = cJSON_AddArrayToObject(o, "sources");
    cJSON *pairs = cJSON_AddArrayToObject(o, "pairs");
    cJSON *problems = cJSON_AddArrayToObject(o, "problems");
    bool ok = o && clusters && sources && pairs && problems &&
              cJSON_AddBoolToObject(o, "healthy", m->healthy);
    for (size_t c = 0; ok && c < m->ncols; c++)
        ok = cJSON_AddItemToArray(clusters, cJSON_CreateString(m->cols[c]));
    for (size_t r = 0; ok && r < m->nrows; r++) {
        ok = cJSON_AddItemToArray(sources, source_json(m, r));
        for (size_t c = 0; ok && c < m->ncols; c++)
            ok = cJSON_AddItemToArray(pairs, pair_json(m, r, c));
    }
    for (size_t i = 0; ok && i < m->nproblems; i++)
        ok = cJSON_AddItemToArray(problems, problem_json(m, &m->problems[i]));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
