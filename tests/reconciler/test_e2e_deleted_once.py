"""End to end (lite server): an object is deleted once, not once per pass while the cache lags.

When a MeshCluster goes, the daemon deletes its objects; until their watch events arrive its
cache still shows them, and every pass in between sent the DELETE again (404 then) and recorded
another "Deleted" Event: seven DELETEs and seven Events for one Service in 3 s of a storm whose
Service watch was backing off after 503s (bench/storm, seed 5). Here the Services watch is held
off (503 on it, the lite server's /fail), cluster2 is deleted, and cluster3 is edited twice (two
more passes): each of cluster2's Services gets exactly one DELETE; once the watch is back they
are gone and the daemon goes quiet.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402
from edits_lib import ISTIO, check, running, wait_quiet  # noqa: E402

SERVICES = ["/api/v1/namespaces/%s/services/cluster2-istio-eastwestgateway" % ISTIO,
            "/api/v1/namespaces/%s/services/cluster2-istio-eastwestgateway-ts" % ISTIO,
            "/api/v1/namespaces/tailscale/services/cluster2-k8s-operator"]


def deletes(c):
    out = {}
    for r in c.daemon_writes():
        if r["method"] == "DELETE":
            p = r["path"].split("?")[0]
            out[p] = out.get(p, 0) + 1
    return out


def main():
    with running(names=("cluster1", "cluster2", "cluster3")) as c:
        wait_quiet(c)
        c.ctl("POST", "/fail", {"count": 100000, "code": 503, "path_regex": "/services$",
                                "query_regex": "(^|&)watch=true"})
        c.ctl("POST", "/drop-watches", {})
        time.sleep(1.0)
        c.clear_requests()
        c.kubectl("delete", "meshcluster", "cluster2")
        L.wait_for("cluster2's Services deleted", lambda: all(p in deletes(c) for p in SERVICES), 15)
        for region in ("eu-west", "us-east"):  # two more passes while the cache still has them
            c.kubectl("patch", "meshcluster", "cluster3", "--type=merge",
                      "-p", json.dumps({"spec": {"locality": {"region": region}}}))
            L.wait_for("cluster3's status at its generation", lambda: (
                c.get("meshcluster", "cluster3").get("status") or {}).get("observedGeneration") ==
                c.get("meshcluster", "cluster3")["metadata"]["generation"], 15)
        time.sleep(1.0)
        d = deletes(c)
        c.ctl("POST", "/fail", {"clear": True})
        check(all(d.get(p) == 1 for p in SERVICES), "DELETEs per Service while the cache lagged: %r" % d)
        L.wait_for("cluster2's Services gone", lambda: all(
            c.get("service", p.rsplit("/", 1)[1], p.split("/")[4]) is None for p in SERVICES), 40)
        wait_quiet(c)
        c.clear_requests()
        time.sleep(3.0)
        w = c.daemon_writes()
        check(not w, "writes once settled: %r" % w)
        print("one DELETE per Service while the Services watch was held off, then 0 writes")
    print("PASS")


if __name__ == "__main__":
    main()
