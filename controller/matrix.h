/*
 * The N×N health matrix of `meshctl status`, as a pure function of what each member cluster's
 * API server holds: its MeshClusters and the conditions its daemon wrote on them. Row = the
 * cluster whose daemon wrote the status ("from": the MeshCluster whose .status.role is
 * "local"), column = the MeshCluster the status is about ("to"). The diagonal is the local
 * cluster's own objects (gateway, meshNetworks). No I/O.
 *
 * Conditions are taken generically, worst-of, whatever their type: a condition type added by a
 * later daemon (peer probes, istiod sync) changes a cell without a change here. A condition
 * message may carry a latency as "latency=<N>ms" (any position); the cell shows the largest.
 */
#ifndef MC_MATRIX_H
#define MC_MATRIX_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* A cell's state, ordered from best to worst: the worst of a cell's conditions wins. */
enum mc_cell_state {
    MC_CELL_OK = 0,      /* every condition True and observed at the current generation */
    MC_CELL_PENDING,     /* some condition Unknown, stale (old observedGeneration) or none yet */
    MC_CELL_MISSING,     /* the "from" cluster has no MeshCluster for the "to" cluster */
    MC_CELL_FAILED,      /* some condition False */
    MC_CELL_UNREACHABLE, /* the "from" cluster's API server could not be read */
};

/* The stable word for a state ("Healthy", "Pending", "Missing", "Failed", "Unreachable"),
 * used by -o json and the problem lines. */
const char *mc_cell_state_name(enum mc_cell_state s);

/* What one cluster's API server answered; all borrowed for the duration of mc_matrix_build. */
struct mc_matrix_source {
    const char *source;        /* how the user named it: "kubeconfig[@context]" */
    const cJSON *meshclusters; /* a JSON array of MeshCluster objects, or NULL when unreadable */
    const char *error;         /* why it was unreadable (meshclusters NULL), else NULL */
    const char *hint;          /* names the row when no local MeshCluster does (e.g. the kubeconfig
                                * context); NULL or "": the source */
};

struct mc_matrix_cell {
    enum mc_cell_state state;
    long latency_ms; /* -1: no condition carries one */
};

/* One line under the matrix: a condition that is not True (or a whole row that is broken). */
struct mc_matrix_problem {
    size_t row, col; /* col == (size_t)-1: the whole row */
    enum mc_cell_state state;
    char type[64];   /* condition type, or "" for a row-level problem */
    char status[16]; /* "False", "Unknown", "" */
    char reason[128];
    char message[512];
};

struct mc_matrix {
    char **rows; /* "from" cluster names (the local MeshCluster's), one per source, in order;
                  * "?<hint or source>" when a source has no local MeshCluster or was
                  * unreadable */
    size_t nrows;
    const char **sources; /* the rows' sources (borrowed from the input; valid while it is) */
    char **cols;          /* every MeshCluster name seen, sorted */
    size_t ncols;
    struct mc_matrix_cell *cells; /* nrows * ncols, row-major */
    struct mc_matrix_problem *problems;
    size_t nproblems;
    bool healthy; /* every cell MC_CELL_OK and every row readable */
};

/* The name of the MeshCluster whose .status.role is "local" in a list of them (the daemon
 * marks the one it runs for so), or NULL. Borrowed from list. */
const char *mc_matrix_local_name(const cJSON *meshclusters);

/* Builds *out (caller frees with mc_matrix_free). Returns 0, -EINVAL, or -ENOMEM. */
int mc_matrix_build(const struct mc_matrix_source *src, size_t n, struct mc_matrix *out);

void mc_matrix_free(struct mc_matrix *m);

static inline const struct mc_matrix_cell *mc_matrix_at(const struct mc_matrix *m, size_t row,
                                                        size_t col)
{
    return &m->cells[row * m->ncols + col];
}

/*
 * The documented, stable -o json form (README "meshctl status"):
 *   {"healthy": bool, "clusters": [names], "sources": [{"source","cluster","error"?}],
 *    "pairs": [{"from","to","state","latencyMs"?}], "problems": [{"from","to"?,"state",
 *    "type"?,"status"?,"reason","message"}]}
 * New object owned by the caller, NULL on allocation failure.
 */
cJSON *mc_matrix_to_json(const struct mc_matrix *m);

#endif
