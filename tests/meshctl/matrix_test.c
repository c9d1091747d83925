/*
 * Proves controller/matrix.c, table-driven: each row is what one cluster's daemon wrote on its
 * MeshClusters (cluster1 local, cluster2 remote), and the state the cluster1 -> cluster2 cell
 * must show, with the problem line it must print. Conditions of types the daemon does not write
 * today (PeerAPIReachable, IstiodSynced) count like any other, worst-of. Then: rows come from
 * status.role, columns from every cluster's set (a MeshCluster one cluster lacks is Missing), an
 * unreadable cluster is a whole row of Unreachable, and -o json has the documented shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/matrix.h"

#define OK_CONDS                                                                                   \
    "{\"type\":\"Accepted\",\"status\":\"True\",\"reason\":\"Valid\",\"observedGeneration\":1},"   \
    "{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Ready\",\"observedGeneration\":1}"

/* A list of two MeshClusters: cluster1 (local, healthy) and cluster2 with conditions remote
 * (JSON array body, without brackets; NULL: no status at all) at generation gen. */
static cJSON *list_of(const char *local, const char *remote_conds, int gen)
{
    char buf[4096];
    char status[3072];
    if (remote_conds)
        snprintf(status, sizeof(status), ",\"status\":{\"role\":\"remote\",\"conditions\":[%s]}",
                 remote_conds);
    else
        status[0] = '\0';
    snprintf(buf, sizeof(buf),
             "[{\"metadata\":{\"name\":\"cluster1\",\"generation\":1},\"status\":{\"role\":"
             "\"%s\",\"conditions\":[" OK_CONDS "]}},"
             "{\"metadata\":{\"name\":\"cluster2\",\"generation\":%d}%s}]",
             local, gen, status);
    cJSON *v = cJSON_Parse(buf);
    assert_non_null(v);
    return v;
}

struct row {
    const char *name;
    const char *conds; /* cluster2's conditions in cluster1 */
    int generation;
    enum mc_cell_state want;
    long latency;
    const char *problem; /* substring of the cell's first problem line, NULL: none */
};

static const struct row rows[] = {
    {"all True", OK_CONDS, 1, MC_CELL_OK, -1, NULL},
    {"egress not ready",
     OK_CONDS ",{\"type\":\"EgressReady\",\"status\":\"False\",\"reason\":\"ProxyNotReady\","
              "\"message\":\"proxy down\"}",
     1, MC_CELL_FAILED, -1, "EgressReady False ProxyNotReady proxy down"},
    {"unknown condition type, False (a later daemon's probe)",
     OK_CONDS ",{\"type\":\"PeerAPIReachable\",\"status\":\"False\",\"reason\":\"Timeout\","
              "\"message\":\"no answer\"}",
     1, MC_CELL_FAILED, -1, "PeerAPIReachable False Timeout"},
    {"Unknown status",
     OK_CONDS
     ",{\"type\":\"IstiodSynced\",\"status\":\"Unknown\",\"reason\":\"IstiodUnreachable\"}",
     1, MC_CELL_PENDING, -1, "IstiodSynced Unknown IstiodUnreachable"},
    {"False beats Unknown",
     "{\"type\":\"A\",\"status\":\"Unknown\",\"reason\":\"R1\"},"
     "{\"type\":\"B\",\"status\":\"False\",\"reason\":\"R2\"}",
     1, MC_CELL_FAILED, -1, "A Unknown R1"},
    {"stale generation", OK_CONDS, 2, MC_CELL_PENDING, -1, "Accepted True Stale"},
    {"no status yet", NULL, 1, MC_CELL_PENDING, -1, "NoStatus"},
    {"latency carried by a condition",
     OK_CONDS ",{\"type\":\"PeerGatewayReachable\",\"status\":\"True\",\"reason\":\"Reachable\","
              "\"message\":\"tls ok latency=12ms\",\"observedGeneration\":1},"
              "{\"type\":\"PeerAPIReachable\",\"status\":\"True\",\"reason\":\"Reachable\","
              "\"message\":\"latency=7ms\",\"observedGeneration\":1}",
     1, MC_CELL_OK, 12, NULL},
    {"only Ready False is still a line",
     "{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"Waiting\",\"message\":\"m\"}", 1,
     MC_CELL_FAILED, -1, "Ready False Waiting"},
};

/* "type status reason message" of the first problem of cell (row, col), or NULL. */
static const char *first_problem(const struct mc_matrix *m, size_t row, size_t col, char *buf,
                                 size_t size)
{
    for (size_t i = 0; i < m->nproblems; i++) {
        const struct mc_matrix_problem *p = &m->problems[i];
        if (p->row == row && p->col == col) {
            snprintf(buf, size, "%s %s %s %s", p->type, p->status, p->reason, p->message);
            return buf;
        }
    }
    return NULL;
}

static void test_cell_rows(void **state)
{
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        cJSON *l = list_of("local", rows[r].conds, rows[r].generation);
        struct mc_matrix_source src = {"kc1", l, NULL, NULL};
        struct mc_matrix m;
        assert_int_equal(mc_matrix_build(&src, 1, &m), 0);
        assert_int_equal(m.nrows, 1);
        assert_int_equal(m.ncols, 2);
        assert_string_equal(m.rows[0], "cluster1");
        assert_string_equal(m.cols[1], "cluster2");
        const struct mc_matrix_cell *c = mc_matrix_at(&m, 0, 1);
        char buf[1024];
        const char *p = first_problem(&m, 0, 1, buf, sizeof(buf));
        if (c->state != rows[r].want || c->latency_ms != rows[r].latency)
            fail_msg("row \"%s\": cell %s latency %ld, want %s %ld", rows[r].name,
                     mc_cell_state_name(c->state), c->latency_ms, mc_cell_state_name(rows[r].want),
                     rows[r].latency);
        if (rows[r].problem ? !p || !strstr(p, rows[r].problem) : p != NULL)
            fail_msg("row \"%s\": problem \"%s\", want \"%s\"", rows[r].name, p ? p : "(none)",
                     rows[r].problem ? rows[r].problem : "(none)");
        assert_int_equal(mc_matrix_at(&m, 0, 0)->state, MC_CELL_OK);
        assert_int_equal(m.healthy, rows[r].want == MC_CELL_OK);
        mc_matrix_free(&m);
        cJSON_Delete(l);
    }
}

/* When other conditions explain it, Ready=False adds no line of its own. */
static void test_ready_summary_not_repeated(void **state)
{
    cJSON *l = list_of("local",
                       "{\"type\":\"GatewayReady\",\"status\":\"False\",\"reason\":\"X\"},"
                       "{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"NotReady\"}",
                       1);
    struct mc_matrix_source src = {"kc1", l, NULL, NULL};
    struct mc_matrix m;
    assert_int_equal(mc_matrix_build(&src, 1, &m), 0);
    assert_int_equal(m.nproblems, 1);
    assert_string_equal(m.problems[0].type, "GatewayReady");
    mc_matrix_free(&m);
    cJSON_Delete(l);
}

/* Three sources: cluster1, cluster2 (lacking cluster3's MeshCluster... and having it), an
 * unreachable one, and one whose daemon never marked a local MeshCluster. */
static void test_rows_columns_and_json(void **state)
{
    cJSON *a = list_of("local", OK_CONDS, 1);
    cJSON *b = cJSON_Parse("[{\"metadata\":{\"name\":\"cluster2\",\"generation\":1},\"status\":"
                           "{\"role\":\"local\",\"conditions\":[" OK_CONDS "]}},"
                           "{\"metadata\":{\"name\":\"cluster1\",\"generation\":1},\"status\":"
                           "{\"role\":\"remote\",\"conditions\":[" OK_CONDS "]}},"
                           "{\"metadata\":{\"name\":\"cluster3\",\"generation\":1},\"status\":"
                           "{\"role\":\"remote\",\"conditions\":[" OK_CONDS "]}}]");
    cJSON *d = list_of("remote", OK_CONDS, 1);
    struct mc_matrix_source src[] = {{"kc1", a, NULL, NULL},
                                     {"kc2", b, NULL, NULL},
                                     {"kc3", NULL, "connection refused", "kind-c3"},
                                     {"kc4", d, NULL, ""}};
    struct mc_matrix m;
    assert_int_equal(mc_matrix_build(src, 4, &m), 0);
    assert_int_equal(m.ncols, 3);
    assert_string_equal(m.rows[0], "cluster1");
    assert_string_equal(m.rows[1], "cluster2");
    assert_string_equal(m.rows[2], "?kind-c3"); /* the context names it */
    assert_string_equal(m.rows[3], "?kc4");
    assert_int_equal(mc_matrix_at(&m, 0, 2)->state, MC_CELL_MISSING); /* cluster1 -> cluster3 */
    assert_int_equal(mc_matrix_at(&m, 1, 0)->state, MC_CELL_OK);
    assert_int_equal(mc_matrix_at(&m, 1, 2)->state, MC_CELL_OK);
    for (size_t c = 0; c < 3; c++) {
        assert_int_equal(mc_matrix_at(&m, 2, c)->state, MC_CELL_UNREACHABLE);
        assert_int_equal(mc_matrix_at(&m, 3, c)->state, MC_CELL_PENDING);
    }
    assert_false(m.healthy);

    cJSON *j = mc_matrix_to_json(&m);
    assert_non_null(j);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "healthy")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "clusters")), 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "pairs")), 12);
    const cJSON *s2 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sources"), 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(s2, "error")),
                        "connection refused");
    const cJSON *p2 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "pairs"), 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p2, "to")), "cluster3");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p2, "state")), "Missing");
    const cJSON *problems = cJSON_GetObjectItem(j, "problems");
    bool unreachable = false;
    for (const cJSON *p = problems->child; p; p = p->next)
        unreachable |=
            !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p, "reason")), "Unreachable") &&
            !cJSON_GetObjectItem(p, "to");
    assert_true(unreachable);
    cJSON_Delete(j);
    mc_matrix_free(&m);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cell_rows),
        cmocka_unit_test(test_ready_summary_not_repeated),
        cmocka_unit_test(test_rows_columns_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
