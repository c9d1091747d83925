"""End to end (lite server): a MeshCluster deleted and created again, invalid, before the daemon
saw it gone does not keep what the deleted one had.

A rejected MeshCluster's objects are left as they were ("nothing is changed for that cluster
meanwhile"). The daemon told them apart from a deleted MeshCluster's by name only: when cluster2
was deleted and a new cluster2 that the controller rejects was created while the daemon was not
watching (a watch outage, a relist after 410, a slow pass), the first pass saw only the new,
rejected one and kept the deleted one's egress Services and remote secret forever (found by the
storm harness, bench/storm, seed 5). Here the daemon's watches are held off (503 on every watch,
the lite server's /fail), cluster2 is deleted and created again, rejected, the
history is compacted (410 on resume: a relist), and the watches are let back: the new cluster2
must be reported Accepted=False, the old one's objects removed, and then the daemon goes quiet.
The new cluster2 claims cluster1's network with another gateway port (NetworkConflict: the
CRD's own rules admit it, only the set is wrong).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402
from edits_lib import ISTIO, check, condition, running, wait_quiet  # noqa: E402

LEFT = [("secret", "istio-remote-secret-cluster2", ISTIO), ("service", "cluster2-istio-eastwestgateway", ISTIO),
        ("service", "cluster2-istio-eastwestgateway-ts", ISTIO), ("service", "cluster2-k8s-operator", "tailscale")]
INVALID = {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": "cluster2"},
           "spec": {"network": "cluster1", "meshID": "mesh1", "tailscale": {"tailnet": "your-tailnet.ts.net"},
                    "gateway": {"ports": {"tls": 25443}}}}


def main():
    with running() as c:
        for kind, name, ns in LEFT:
            check(c.get(kind, name, ns) is not None, "%s %s/%s was not made" % (kind, ns, name))
        wait_quiet(c)
        old_uid = c.get("meshcluster", "cluster2")["metadata"]["uid"]
        c.ctl("POST", "/fail", {"count": 100000, "code": 503, "query_regex": "(^|&)watch=true"})
        c.ctl("POST", "/drop-watches", {})
        c.kubectl("delete", "meshcluster", "cluster2", "--wait=true")
        c.kubectl("create", "-f", "-", input=json.dumps(INVALID))
        check(c.get("meshcluster", "cluster2")["metadata"]["uid"] != old_uid, "cluster2 was not created again")
        c.ctl("POST", "/compact", {})
        c.ctl("POST", "/fail", {"clear": True})

        def rejected():
            x = condition(c, "cluster2", "Accepted")
            return x and x["status"] == "False" and x["reason"] == "NetworkConflict" and \
                "spec.gateway.ports.tls" in x["message"]
        L.wait_for("the new cluster2 reported Accepted=False NetworkConflict", rejected, 30)
        L.wait_for("the deleted cluster2's objects removed",
                   lambda: all(c.get(kind, name, ns) is None for kind, name, ns in LEFT), 15)
        wait_quiet(c)
        c.clear_requests()
        time.sleep(3.0)
        w = c.daemon_writes()
        check(not w, "writes once settled: %r" % w)
        print("a MeshCluster created again, rejected: the deleted one's %d objects removed, then 0 writes"
              % len(LEFT))
    print("PASS")


if __name__ == "__main__":
    main()
