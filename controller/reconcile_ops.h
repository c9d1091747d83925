/*
 * Internal to the reconciler: one API request of a pass (struct op) and phase 1, which
 * compares each desired object with its cached copy and applies, deletes or heals it. A
 * request's trouble becomes its pass's note (reported by phase 2's conditions); its end is
 * told through pass->op_done. Depends on reconcile_pass.h only.
 */
#ifndef MC_RECONCILE_OPS_H
#define MC_RECONCILE_OPS_H

#include "controller/reconcile_pass.h"

enum op_stage {
    OP_GET,
    OP_APPLY,
    OP_DELETE,
    OP_REPLACE_DELETE,
    OP_STATUS,
    OP_WITHDRAW,
    OP_HEAL /* removing foreign list entries that make our apply invalid */
};

struct op {
    struct pass *p;
    enum op_stage stage;
    long idx; /* desired object, or -1 */
    const struct kind_info *ki;
    char ns[64];
    char name[256];
    char cluster[64];
    bool existed;
    bool ours;    /* the object already carries our managed-by label */
    bool forced;  /* re-sent with force after a manual edit (see on_op_done) */
    bool reread;  /* read again to find who set a colliding entry (see heal_collisions) */
    bool foreign; /* existing is managed by another tool: adopted without our managed-by */
    char base_rv[MATCHED_RV_LEN]; /* the cached version this op was decided on ("": none) */
    char heal_rv[MATCHED_RV_LEN]; /* the version our heal_collisions patch made ("": none) */
    int inf;                      /* a deletion's informer (see mc__deletion_sent), else -1 */
    char uid[MC_UID_LEN];         /* a deletion's precondition uid ("": none) */
};

/* Requests (reconcile_ops.c). An op belongs to its pass and is freed when done; every op
 * started counts in pass->pending (the caller increments it before starting). */
struct op *mc__op_new(struct pass *p, const cJSON *obj, const char *kind, long idx);
void mc__op_apply(struct op *op, const cJSON *body, bool force, const char *subresource);
/* Applies an empty body for obj: server-side apply drops the fields only we owned. */
void mc__op_withdraw(struct op *op, const cJSON *obj);
void mc__op_delete(struct op *op, const char *uid, enum op_stage stage);
void mc__reconcile_object(struct pass *p, long idx);

/* Keeps the first trouble of a pass under the condition op's object reports to. */
void mc__note(struct pass *p, const struct op *op, enum mc_reason reason, const char *detail);

#endif
