"""End to end (lite server): a status write that fails is retried, not forgotten.

The daemon remembered every status write it sent as "in flight" (so that it would not write
again before the write's own watch event came back), and kept that memory when the write
failed: the retry pass that followed the error skipped the status as in flight, finished
without an error, and the status stayed stale until some other event came (found by the storm
harness, bench/storm). Here one MeshCluster's status PATCH is refused once (the lite server's
/fail), after an edit that changes nothing but that status (spec.locality drives no object):
the status must still catch up, and then the daemon goes quiet.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402
from edits_lib import check, running, wait_quiet  # noqa: E402

STATUS_PATH = "/apis/meshcluster.io/v1alpha1/meshclusters/cluster2/status"


def observed(c):
    o = c.get("meshcluster", "cluster2")
    return o["metadata"]["generation"], (o.get("status") or {}).get("observedGeneration")


def main():
    with running() as c:
        wait_quiet(c)
        c.clear_requests()
        c.ctl("POST", "/fail", {"count": 1, "code": 403, "path_regex": "^%s$" % STATUS_PATH})
        c.kubectl("patch", "meshcluster", "cluster2", "--type=merge",
                  "-p", json.dumps({"spec": {"locality": {"region": "eu-west"}}}))
        gen = observed(c)[0]
        refused = lambda: [r for r in c.requests() if r["path"].split("?")[0] == STATUS_PATH
                           and r["method"] == "PATCH" and r["code"] == 403]
        L.wait_for("the status PATCH refused", refused, 10)
        L.wait_for("cluster2's status at generation %d after a refused write" % gen,
                   lambda: observed(c)[1] == gen, 15)
        wait_quiet(c)
        c.clear_requests()
        time.sleep(3.0)
        w = c.daemon_writes()
        check(not w, "writes after the status caught up: %r" % w)
        print("status retried after a refused write: observedGeneration %d, then 0 writes" % gen)
    print("PASS")


if __name__ == "__main__":
    main()
