/*
 * What `meshctl status` and `meshctl doctor` share: naming several clusters on the command
 * line (--kubeconfig F / --context C, repeated) and reading objects from each one.
 */
#ifndef MESHCTL_CLUSTERS_H
#define MESHCTL_CLUSTERS_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "k8s/sync_client.h"

#define MESHCTL_MAX_CLUSTERS 64

/* One cluster as the user named it. Strings borrowed from argv. */
struct meshctl_target {
    const char *kubeconfig; /* NULL: $KUBECONFIG or ~/.kube/config */
    const char *context;    /* NULL: the kubeconfig's current-context */
    char label[256];        /* "kubeconfig[@context]" for messages and -o json */
};

struct meshctl_targets {
    const char *kubeconfigs[MESHCTL_MAX_CLUSTERS];
    size_t nkubeconfigs;
    const char *contexts[MESHCTL_MAX_CLUSTERS];
    size_t ncontexts;
    struct meshctl_target t[MESHCTL_MAX_CLUSTERS];
    size_t n;
};

/*
 * Consumes --kubeconfig/--context (as "--x V" or "--x=V") at argv[*i], advancing *i past a
 * separate value. Returns 1 when consumed, 0 when argv[*i] is another option, -1 (after a
 * message on err) when its value is missing or there are too many.
 */
int meshctl_targets_option(struct meshctl_targets *ts, int argc, char **argv, int *i,
                           const char *cmd, FILE *err);

/*
 * Pairs the options into clusters: N kubeconfigs and no context: each one's current context;
 * one (or no) kubeconfig and M contexts: each context of it; N of each: pairwise. Returns 0,
 * or -1 after a usage message on err.
 */
int meshctl_targets_resolve(struct meshctl_targets *ts, const char *cmd, FILE *err);

/* A blocking client for t, or NULL with the reason in errbuf. */
k8s_sync_client *meshctl_connect(const struct meshctl_target *t, char *errbuf, size_t errlen);

/*
 * GETs one object (name set) or LISTs a collection (its .items) into *out (caller owns).
 * A 404 is not an error: *out is then NULL (an absent object, or a resource the cluster does
 * not serve, which for a list means "none"). Returns 0, or -1 with the reason in errbuf.
 */
int meshctl_fetch(k8s_sync_client *c, const char *group, const char *version, const char *resource,
                  const char *ns, const char *name, const char *selector, cJSON **out, char *errbuf,
                  size_t errlen);

/* Prints j (owned, freed here; NULL means allocation failed) as indented JSON. Returns 0, or -1
 * after saying why on err. */
int meshctl_print_json(cJSON *j, const char *cmd, FILE *out, FILE *err);

/* Parses a duration "90", "90s", "5m", "1h" into seconds; -1 when invalid. */
long meshctl_parse_seconds(const char *s);

/* True when out is a terminal and NO_COLOR is unset: colour is for humans only. */
bool meshctl_use_colour(FILE *out);

#endif
