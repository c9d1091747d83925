/* Whose fields an apply conflicted with; see conflict.h. */
#include "controller/conflict.h"

#include <string.h>

bool mc_is_kubectl_manager(const char *manager)
{
    return manager && strncmp(manager, "kubectl", 7) == 0;
}

bool mc_conflicts_only_with_kubectl(const k8s_error *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->ncauses; i++) {
        const k8s_status_cause *c = &e->causes[i];
        if (!c->reason || strcmp(c->reason, K8S_CAUSE_FIELD_MANAGER_CONFLICT) != 0)
            continue;
        n++;
        if (!mc_is_kubectl_manager(c->manager))
            return false;
    }
    return n > 0;
}

bool mc_conflicts_any(const k8s_error *e)
{
    for (size_t i = 0; i < e->ncauses; i++)
        if (e->causes[i].reason &&
            strcmp(e->causes[i].reason, K8S_CAUSE_FIELD_MANAGER_CONFLICT) == 0)
            return true;
    return false;
}
