/*
 * The comparison that makes the steady state cost nothing: a desired body is satisfied when
 * every field it sets is present in the current object with the same value. Fields others own
 * or the API server defaults (nodePort, clusterIP, extra labels, the externalName the Tailscale
 * operator writes) are therefore never a reason to write.
 */
#ifndef MC_SUBSET_H
#define MC_SUBSET_H

#include <cjson/cJSON.h>

/* 1 when every field of want is in have with the same value; lists must have the same length
 * and are compared item by item: in order for scalars, in any order for lists of objects
 * (list-maps such as ports), each wanted item matched by its own. A NULL want is satisfied by
 * anything. */
int mc_subset(const cJSON *want, const cJSON *have);

/*
 * mc_subset for a whole object body, without its apiVersion and kind: they are implied by the
 * cache the current object came from, and the API server leaves them out of the items of a
 * list of built-in kinds, which is how an informer's objects look after a relist.
 */
int mc_subset_body(const cJSON *want, const cJSON *have);
/* (With one more rule for a Service's spec.ports, a list-map that apply merges entry by entry:
 * extra entries are another writer's and no difference; see service_spec_subset.) */

#endif
