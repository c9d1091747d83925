/*
 * The reconciler's side of probing: which remotes the prober checks and with what, taken from
 * the pass's desired state (so it probes exactly what the remote secrets and gateway aliases
 * say), and what of the prober's state a remote's status depends on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/reconcile_pass.h"
#include "k8s/base64.h"

static const char *token_for(const struct pass *p, const struct mc_meshcluster *m)
{
    if (m->auth == MC_AUTH_TAILSCALE)
        return "unused"; /* what the remote secret carries, and istiod sends */
    for (size_t i = 0; i < p->ntokens; i++)
        if (p->tokens[i].cluster && strcmp(p->tokens[i].cluster, m->name) == 0)
            return p->tokens[i].token;
    return NULL;
}

/* One remote's target; false when it cannot be probed yet (no token, no alias). Strings in
 * the target point into bufs (freed by the caller) or the pass. */
static bool target_of(const mc_reconciler *r, const struct pass *p,
                      const struct mc_cluster_result *cr, struct mc_probe_target *t, char **url,
                      unsigned char **ca, char *alias, size_t alias_len)
{
    const struct mc_meshcluster *m = mc__parsed(r, cr->name);
    long ai = cr->objects[MC_ROLE_GATEWAY_ALIAS];
    const char *token = m ? token_for(p, m) : NULL;
    if (!m || ai < 0 || !token)
        return false;
    const char *key = p->d.objects[ai].key, *slash = strchr(key, '/');
    snprintf(alias, alias_len, "%s.%s.svc.%s", slash ? slash + 1 : key, r->istio_ns,
             r->cluster_domain);
    size_t ca_len = 0;
    if (m->ca_bundle[0] && k8s_base64_decode(m->ca_bundle, 0, ca, &ca_len) != 0)
        return false;
    *url = mc_meshcluster_api_server_url(m);
    *t = (struct mc_probe_target){.cluster = cr->name,
                                  .api_url = *url,
                                  .ca_pem = (const char *)*ca,
                                  .ca_len = ca_len,
                                  .token = token,
                                  .gateway_host = alias,
                                  .gateway_tls_port = m->ports.tls,
                                  .gateway_status_port = m->ports.status};
    return *url != NULL;
}

void mc__probe_targets_update(mc_reconciler *r, const struct pass *p)
{
    /* The targets depend on the MeshClusters and tokens only: a pass that reused the cached
     * desired state (a drift repair, a status change) has nothing to tell the prober. */
    if (!r->prober || !p->desired_ok || p->desired_reused || mc__parsed_meshclusters(r) != 0)
        return;
    size_t n = p->d.nclusters, k = 0;
    struct mc_probe_target *t = calloc(n ? n : 1, sizeof(*t));
    char **urls = calloc(n ? n : 1, sizeof(*urls));
    unsigned char **cas = calloc(n ? n : 1, sizeof(*cas));
    char(*aliases)[256] = calloc(n ? n : 1, sizeof(*aliases));
    for (size_t i = 0; t && urls && cas && aliases && i < n; i++) {
        const struct mc_cluster_result *cr = &p->d.clusters[i];
        if (cr->accepted && !cr->local &&
            target_of(r, p, cr, &t[k], &urls[k], &cas[k], aliases[k], sizeof(aliases[k])))
            k++;
        else if (urls && cas) {
            free(urls[k]), free(cas[k]);
            urls[k] = NULL, cas[k] = NULL;
        }
    }
    /* Out of memory: the prober keeps its old targets, and the next pass tries again. */
    if (t && urls && cas && aliases)
        (void)mc_prober_set_targets(r->prober, t, k);
    for (size_t i = 0; urls && cas && i < n; i++)
        free(urls[i]), free(cas[i]);
    free(t);
    free(urls);
    free(cas);
    free(aliases);
}

enum mc_istiod_sync mc__istiod_verdict(const mc_reconciler *r, const char *cluster,
                                       const cJSON *secret)
{
    const char *created = jstr(jpath(secret, "metadata", NULL), "creationTimestamp");
    return mc_istiod_sync_of(mc_istiod_watch_clusters(r->istiod), cluster,
                             mc_istiod_age_ms(created, time(NULL)));
}

uint64_t mc__probe_fingerprint(const mc_reconciler *r, const char *cluster, const cJSON *secret)
{
    /* istiod's verdict for the cluster; NotLoaded turns late by the clock alone, which the
     * periodic resync (and every istiod answer) brings in. */
    uint64_t h = r->istiod ? (uint64_t)mc__istiod_verdict(r, cluster, secret) + 77 : 0;
    for (int k = 0; r->prober && k < MC_PROBE_NKINDS; k++) {
        const struct mc_probe_state *s = mc_prober_state(r->prober, cluster, k);
        /* Only what the condition shows: status and reason (the message holds what the state
         * held when it changed, which changes only with them). */
        uint64_t v = s ? (uint64_t)s->status * 16 + (uint64_t)s->reason + 1 : 0;
        h = (h ^ v) * 1099511628211u + (uint64_t)k;
    }
    return h;
}
