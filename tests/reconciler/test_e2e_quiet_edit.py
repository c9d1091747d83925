"""End to end: a MeshCluster costs one status write on its way to Ready, and one MeshCluster's
edit or repair costs writes only where something really changes.

Five MeshClusters, one meshclusterd. Converging writes each MeshCluster's status exactly once
(issue 20: the local one used to be written with GatewayReady=False/AddressPending before the
Tailscale operator published its address, then again Ready; a status that only waits for
something already under way is now held back a moment, mc_conditions_settled). Deleting a
remote's egress Service, which the daemon re-creates at once, writes no status at all (it used
to flip that MeshCluster to Ready=False and back). Editing a remote's network, then its tls port, rewrites
meshNetworks, which every MeshCluster's MeshNetworksReady reflects; the daemon used to report
it Pending on every MeshCluster in the pass that wrote it and True again in the next (two status
writes per MeshCluster, and Ready=False across the fleet for a moment: issue 19). Now the only
status written is the edited MeshCluster's (its observedGeneration moved), and no other
MeshCluster's status is touched at all, so none can have passed through False.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402
from edits_lib import wait_quiet as settle  # noqa: E402

NAMES = ["cluster1", "cluster2", "cluster3", "cluster4", "cluster5"]


def mc(name):
    return ("apiVersion: meshcluster.io/v1alpha1\nkind: MeshCluster\nmetadata:\n  name: %s\n"
            "spec:\n  network: %s\n  meshID: mesh1\n  tailscale:\n    tailnet: quiet.ts.net\n"
            % (name, name))


def ready(c, name):
    o = c.get("mc", name) or {}
    return any(x.get("type") == "Ready" and x.get("status") == "True"
               for x in (o.get("status") or {}).get("conditions") or [])


def status_writes(c):
    """The MeshClusters whose status the daemon wrote since the last clear, one entry a write."""
    return sorted(r["path"].split("/")[-2] for r in c.daemon_writes()
                  if r["path"].endswith("/status"))


def converge_once(c):
    c.clear_requests()
    c.start_daemon()
    L.wait_for("every MeshCluster Ready", lambda: all(ready(c, n) for n in NAMES), 60)
    settle(c)
    got = status_writes(c)
    if got != sorted(NAMES):
        raise AssertionError("status writes on the way to Ready: %s (want one per MeshCluster)"
                             % got)


def repair_quietly(c):
    """A foreign delete of cluster2's egress Service: re-created, and no status written."""
    svcs = c.list("svc", selector="meshcluster.io/cluster=cluster2")
    if not svcs:
        raise AssertionError("no Service labelled for cluster2")
    md = svcs[0]["metadata"]
    c.clear_requests()
    c.kubectl("delete", "svc", md["name"], "-n", md["namespace"], "--wait=false")
    L.wait_for("%s re-created" % md["name"], lambda: (c.get("svc", md["name"], md["namespace"])
                                                      or {}).get("metadata", {}).get("uid")
               not in (None, md["uid"]))
    settle(c)
    if status_writes(c):
        raise AssertionError("repairing %s/%s wrote status: %s"
                             % (md["namespace"], md["name"], status_writes(c)))
    if not all(ready(c, n) for n in NAMES):
        raise AssertionError("not every MeshCluster is Ready after the repair")


def edit_and_count(c, patch, wait_for_text):
    c.clear_requests()
    c.kubectl("patch", "mc", "cluster3", "--type=merge", "-p", patch)
    L.wait_for("meshNetworks to change", lambda: wait_for_text in
               c.get("configmap", "istio", "istio-system")["data"].get("meshNetworks", ""))
    settle(c)
    status = status_writes(c)
    if status != ["cluster3"]:
        raise AssertionError("%s: status writes for %s (want only cluster3's)" % (patch, status))
    for n in NAMES:
        if not ready(c, n):
            raise AssertionError("%s is not Ready after %s" % (n, patch))


def main():
    tmp, (c,) = L.mesh(["cluster1"])
    ok = False
    try:
        c.kubectl("apply", "-f", "-", input="---\n".join(mc(n) for n in NAMES))
        converge_once(c)
        repair_quietly(c)
        edit_and_count(c, '{"spec":{"network":"moved-net"}}', "moved-net")
        edit_and_count(c, '{"spec":{"gateway":{"ports":{"tls":25443}}}}', "25443")
        print("ok: one status write per MeshCluster to Ready, none for a repair; a network and a "
              "port edit wrote one status, the edited MeshCluster's")
        ok = True
    finally:
        if not ok:
            print(c.daemon_log()[-4000:])
        c.close()
        L.cleanup(tmp)


if __name__ == "__main__":
    main()
