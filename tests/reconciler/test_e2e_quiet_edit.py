"""End to end: one MeshCluster's edit costs writes only where something really changes.

Five MeshClusters, one meshclusterd. Editing a remote's network, then its tls port, rewrites
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


def edit_and_count(c, patch, wait_for_text):
    c.clear_requests()
    c.kubectl("patch", "mc", "cluster3", "--type=merge", "-p", patch)
    L.wait_for("meshNetworks to change", lambda: wait_for_text in
               c.get("configmap", "istio", "istio-system")["data"].get("meshNetworks", ""))
    settle(c)
    status = sorted(r["path"].split("/")[-2] for r in c.daemon_writes()
                    if r["path"].endswith("/status"))
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
        c.start_daemon()
        L.wait_for("every MeshCluster Ready", lambda: all(ready(c, n) for n in NAMES), 60)
        settle(c)
        edit_and_count(c, '{"spec":{"network":"moved-net"}}', "moved-net")
        edit_and_count(c, '{"spec":{"gateway":{"ports":{"tls":25443}}}}', "25443")
        print("ok: a network and a port edit wrote one status, the edited MeshCluster's")
        ok = True
    finally:
        if not ok:
            print(c.daemon_log()[-4000:])
        c.close()
        L.cleanup(tmp)


if __name__ == "__main__":
    main()
