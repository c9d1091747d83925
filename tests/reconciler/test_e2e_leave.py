"""End to end: a cluster leaving the mesh, and a daemon that must not mistake a typo for that.
One test API server (cluster1, with the Tailscale and istiod simulators), the example
MeshClusters cluster1 and cluster2 applied with real kubectl, meshclusterd for cluster1, with
Helm (as `helm install istiod` would) also owning a key in the istio ConfigMap. Proves that:
  - a daemon started with a mistyped --cluster-name on a converged cluster rejects every
    MeshCluster (UnknownLocalCluster) and deletes nothing, withdraws nothing;
  - `kubectl delete meshcluster cluster1` (the local one) removes every object the controller
    made (label-selected: none left), takes the meshNetworks key out of the istio ConfigMap
    while every other key, and Helm's ownership of it, stays, and takes the network label off
    the istio-system namespace while its other labels stay; then no further writes;
  - applying cluster1 again rebuilds the cluster's part of the mesh (Ready again).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402

ISTIO = "istio-system"
MANAGED = "app.kubernetes.io/managed-by=meshcluster-controller"
NET_LABEL = "topology.istio.io/network"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def owned_objects(c):
    out = []
    for kind, ns in (("services", ISTIO), ("services", "tailscale"), ("secrets", ISTIO),
                     ("configmaps", ISTIO), ("gateways.networking.istio.io", ISTIO)):
        out += ["%s %s/%s" % (kind, ns, o["metadata"]["name"]) for o in c.list(kind, ns, MANAGED)]
    return sorted(out)


def managers(obj):
    return sorted({m["manager"] for m in obj["metadata"].get("managedFields") or []})


def steady_writes(c, seconds=2.0):
    c.clear_requests()
    time.sleep(seconds)
    return ["%s %s" % (r["method"], r["path"]) for r in c.daemon_writes()]


def main():
    tmp, (c,) = L.mesh(["cluster1"])
    ok = False
    try:
        # Helm's part of the ConfigMap (an Update manager, as helm install writes it).
        c.kubectl("patch", "configmap", "istio", "-n", ISTIO, "--field-manager", "helm", "--type",
                  "merge", "-p", '{"data":{"values": "{}"}}')
        c.kubectl("label", "namespace", ISTIO, "istio-injection=disabled")
        c.apply_examples(["cluster1", "cluster2"])
        c.start_daemon()
        p = c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=60s", check=False)
        check(p.returncode == 0, "not Ready: %s%s" % (p.stdout, p.stderr))
        before = owned_objects(c)
        check(len(before) >= 6, "converged objects: %r" % before)
        check("meshNetworks" in c.get("configmap", "istio", ISTIO)["data"], "meshNetworks written")
        check(c.stop_daemon() == 0, "daemon exit after SIGTERM")

        # A typo in --cluster-name: everything rejected, nothing removed.
        c.clear_requests()
        c.start_daemon("--cluster-name", "clsuter1")
        L.wait_for("UnknownLocalCluster on cluster2", lambda: any(
            x.get("reason") == "UnknownLocalCluster"
            for x in ((c.get("meshcluster", "cluster2") or {}).get("status") or {}).get("conditions") or []), 30)
        time.sleep(1.0)
        # Status and Events (one Warning per rejected MeshCluster, issue 14.9) only.
        writes = [r for r in c.daemon_writes()
                  if not r["path"].endswith("/status") and not r["path"].endswith("/events")]
        check(not writes, "the mistyped daemon wrote objects: %r" % writes)
        check(owned_objects(c) == before, "objects changed under a mistyped --cluster-name")
        check("meshNetworks" in c.get("configmap", "istio", ISTIO)["data"], "meshNetworks kept")
        check(c.stop_daemon() == 0, "daemon exit after SIGTERM")

        # The local MeshCluster goes: the cluster leaves the mesh.
        c.start_daemon()
        p = c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=60s", check=False)
        check(p.returncode == 0, "not Ready again: %s%s" % (p.stdout, p.stderr))
        c.kubectl("delete", "meshcluster", "cluster1")
        L.wait_for("every owned object removed", lambda: not owned_objects(c), 30)
        L.wait_for("meshNetworks key withdrawn", lambda: "meshNetworks" not in
                   (c.get("configmap", "istio", ISTIO).get("data") or {}), 30)
        cm = c.get("configmap", "istio", ISTIO)
        check(cm["data"].get("mesh") == "defaultConfig: {}" and cm["data"].get("values") == "{}",
              "other keys of the istio ConfigMap kept: %r" % cm["data"])
        check("meshcluster-controller" not in managers(cm) and "helm" in managers(cm),
              "managers of the istio ConfigMap: %r" % managers(cm))
        L.wait_for("network label withdrawn", lambda: NET_LABEL not in
                   (c.get("namespace", ISTIO)["metadata"].get("labels") or {}), 30)
        ns_labels = c.get("namespace", ISTIO)["metadata"].get("labels") or {}
        check(ns_labels.get("istio-injection") == "disabled", "other namespace labels kept: %r" % ns_labels)
        check(c.get("meshcluster", "cluster2") is not None, "the remote MeshCluster itself is not touched")
        w = steady_writes(c)
        check(not [x for x in w if "/status" not in x], "writes after leaving: %r" % w)
        check(c.daemon.poll() is None, "daemon still running")

        # And back.
        c.apply_examples(["cluster1"])
        p = c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=60s", check=False)
        check(p.returncode == 0, "not Ready after rejoining: %s%s" % (p.stdout, p.stderr))
        L.wait_for("objects rebuilt", lambda: owned_objects(c) == before, 30)
        check(NET_LABEL in c.get("namespace", ISTIO)["metadata"]["labels"], "network label back")
        check(c.stop_daemon() == 0, "daemon exit after SIGTERM")
        ok = True
        print("ok: typo left everything; leaving removed %d objects, the key and the label; rejoined"
              % len(before))
    finally:
        if not ok:
            print("---- meshclusterd log (tail) ----\n%s" % c.daemon_log()[-8000:])
        c.close()
        L.cleanup(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
