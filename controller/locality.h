/*
 * Locality failover from the MeshCluster set (issue 16 §2): the mesh-wide
 * meshConfig.localityLbSetting that makes istiod send a region's traffic to another region of
 * the set when its own endpoints fail. Pure: no I/O, no globals, no clock.
 *
 * The rule (README "Locality failover"):
 *  - only accepted MeshClusters with spec.locality.region take part; fewer than two distinct
 *    regions give no setting at all (NULL): failover within one region is Istio's default;
 *  - the set's order is its clusters sorted by name (a set read from the API has no other
 *    order, and the daemon and `meshctl render` must agree whatever order they read it in);
 *    regions are ordered by their first cluster in that order;
 *  - each region R gets exactly one pair {from: R, to: T} (Istio refuses a second pair with
 *    the same from). T is the first region named by spec.locality.failover of R's clusters, in
 *    that order, that is a region of the set and not R; without one, the region after R in
 *    the set's order, wrapping around (a ring, so that one failing region's traffic does not
 *    all land on the same fallback when there are three or more).
 * A preference naming a region the set does not have is skipped, not refused: refusing it
 * would cut a cluster out of the mesh because another cluster was deleted or is not applied
 * yet; `meshctl doctor` (locality-failover) names such entries instead.
 */
#ifndef MC_LOCALITY_H
#define MC_LOCALITY_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "controller/meshcluster.h"

/* spec.locality.failover holds at most this many regions (the CRD states it too). */
#define MC_MAX_FAILOVER 8

/*
 * The localityLbSetting for the accepted clusters set[0..n) (sorted by name; borrowed):
 * {"enabled": true, "failover": [{"from": R, "to": T}, ...]} as a new tree the caller owns,
 * or NULL when they span fewer than two regions. Sets *oom (and returns NULL) when out of
 * memory.
 */
cJSON *mc_locality_lb_setting(const struct mc_meshcluster *const *set, size_t n, int *oom);

/*
 * The first entry of c's spec.locality.failover that names none of the regions of
 * set[0..n), or NULL when every entry does (doctor reports such entries; see above).
 */
const char *mc_locality_unknown_preference(const struct mc_meshcluster *c,
                                           const struct mc_meshcluster *const *set, size_t n);

#endif
