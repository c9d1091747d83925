/*
 * meshctl doctor's "dns" check, the I/O half: asks a cluster's own DNS (the kube-dns Service's
 * ClusterIP, or --dns-server) for each MeshCluster's API-server name, over UDP, one query at a
 * time with a short timeout. From outside the cluster the ClusterIP is usually not reachable:
 * the first unanswered query turns the check into a SKIP ("cannot check from here") rather than
 * a FAIL. controller/doctor.c judges the answers.
 */
#ifndef MESHCTL_DOCTOR_DNS_H
#define MESHCTL_DOCTOR_DNS_H

#include <cjson/cJSON.h>

#include "controller/doctor.h"

struct doctor_dns {
    struct mc_doctor_lookup *lookups; /* owned, names too */
    size_t nlookups;
    char skip[256]; /* "" when asked */
};

/* server: "IP" or "IP:PORT" (port 53 by default), NULL/"" for none known (skip with why).
 * meshclusters: the cluster's MeshCluster array (borrowed). */
void doctor_dns_ask(const char *server, const char *why_none, const cJSON *meshclusters,
                    struct doctor_dns *out);
void doctor_dns_free(struct doctor_dns *d);

#endif
