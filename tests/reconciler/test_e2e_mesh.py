"""End to end, with real processes: two "clusters" (test API servers with the Tailscale and
istiod simulators; with the argument "three", three of them, see three()), the same
MeshClusters applied to each with real kubectl, one meshclusterd per cluster. Proves that:
  - every object of the guide's Steps 4 and 6-9 appears with the guide's names and fields, the
    egress Services are handed to the Tailscale operator (it owns externalName), and every
    MeshCluster goes Ready (`kubectl wait`), with role and gateway address in status;
  - the steady state costs no write at all (request log over a few seconds), nor does a
    restart that finds everything in place;
  - drift is healed from watches: a deleted egress Service, edited remote-secret data, an edited
    meshNetworks key and a removed namespace label come back, and then writes stop again;
  - adding a MeshCluster adds its objects; renaming its network moves it in meshNetworks; one from another mesh is rejected (Accepted=False
    with reason and field) and touches nothing; deleting one removes its objects and network;
  - SIGTERM makes the daemon exit 0 within 5 s.
"""
import base64
import os
import sys
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402

TAILNET = "your-tailnet.ts.net"
ISTIO = "istio-system"
MANAGED = "app.kubernetes.io/managed-by=meshcluster-controller"


OTHER_MESH = """apiVersion: meshcluster.io/v1alpha1
kind: MeshCluster
metadata:
  name: cluster4
spec:
  meshID: mesh2
  tailscale:
    tailnet: your-tailnet.ts.net
"""


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def labels(o):
    return o["metadata"].get("labels") or {}


def annotations(o):
    return o["metadata"].get("annotations") or {}


def ports(svc):
    return sorted((p.get("name"), p["port"]) for p in svc["spec"].get("ports") or [])


def owned_by(obj, manager, field):
    for mf in obj["metadata"].get("managedFields") or []:
        if mf.get("manager") == manager and field in str(mf.get("fieldsV1")):
            return True
    return False


def check_remote_objects(c, r):
    """Objects local cluster c keeps for remote r (Steps 4, 6, 8)."""
    api = c.get("service", "%s-k8s-operator" % r, "tailscale")
    check(api is not None, "%s: tailscale/%s-k8s-operator missing" % (c.name, r))
    check(annotations(api).get("tailscale.com/tailnet-fqdn") == "%s-k8s-operator.%s" % (r, TAILNET),
          "api egress fqdn: %r" % annotations(api))
    check(api["spec"]["type"] == "ExternalName", "api egress type")
    check(ports(api) == [("https", 443)], "api egress ports %r" % ports(api))
    check(labels(api).get("meshcluster.io/cluster") == r, "api egress cluster label")
    # The Tailscale operator (simulated) rewrote externalName and owns it now.
    check(api["spec"]["externalName"] != "placeholder", "externalName not handed over")
    check(owned_by(api, "tailscale-operator", "f:externalName"), "operator does not own externalName")

    ts = c.get("service", "%s-istio-eastwestgateway-ts" % r, ISTIO)
    check(ts is not None, "%s: %s-istio-eastwestgateway-ts missing" % (c.name, r))
    check(annotations(ts).get("tailscale.com/tailnet-fqdn") == "%s-istio-eastwestgateway.%s" % (r, TAILNET),
          "gateway egress fqdn %r" % annotations(ts))
    check(annotations(ts).get("tailscale.com/proxy-class") == "common", "proxy class")
    check(ports(ts) == [("tls", 15443)], "gateway egress ports")

    alias = c.get("service", "%s-istio-eastwestgateway" % r, ISTIO)
    check(alias is not None, "alias missing")
    check(alias["spec"]["type"] == "ExternalName", "alias type")
    check(alias["spec"]["externalName"] == "%s-istio-eastwestgateway-ts.istio-system.svc.cluster.local" % r,
          "alias target %r" % alias["spec"].get("externalName"))

    sec = c.get("secret", "istio-remote-secret-%s" % r, ISTIO)
    check(sec is not None, "remote secret missing")
    check(labels(sec).get("istio/multiCluster") == "true", "multiCluster label")
    check(annotations(sec).get("networking.istio.io/cluster") == r, "cluster annotation")
    kc = yaml.safe_load(base64.b64decode(sec["data"][r]))
    check(kc["clusters"][0]["cluster"]["server"] == "https://%s-k8s-operator.%s" % (r, TAILNET),
          "kubeconfig server %r" % kc["clusters"][0])
    check(kc["users"][0]["user"] == {"token": "unused"}, "kubeconfig user %r" % kc["users"][0])


def check_local_objects(c):
    """Objects cluster c keeps for itself (Step 7)."""
    gw = c.get("service", "istio-eastwestgateway", ISTIO)
    check(gw is not None, "gateway Service missing")
    check(gw["spec"]["type"] == "LoadBalancer" and gw["spec"].get("loadBalancerClass") == "tailscale",
          "gateway type/class")
    check(annotations(gw).get("tailscale.com/hostname") == "%s-istio-eastwestgateway" % c.name, "hostname")
    check(annotations(gw).get("tailscale.com/tags") == "tag:istio-eastwestgateway", "tags")
    check(labels(gw).get("topology.istio.io/network") == c.name, "network label on gateway")
    check(ports(gw) == sorted([("status-port", 15021), ("tls", 15443), ("tls-istiod", 15012),
                               ("tls-webhook", 15017)]), "gateway ports %r" % ports(gw))
    g = c.get("gateway.networking.istio.io", "cross-network-gateway", ISTIO)
    check(g is not None, "Istio Gateway missing")
    srv = g["spec"]["servers"][0]
    check(srv["port"]["number"] == 15443 and srv["tls"]["mode"] == "AUTO_PASSTHROUGH"
          and srv["hosts"] == ["*.local"], "Gateway server %r" % srv)
    ns = c.get("namespace", ISTIO)
    check(labels(ns).get("topology.istio.io/network") == c.name, "namespace network label")


def mesh_networks(c):
    cm = c.get("configmap", "istio", ISTIO)
    check(cm["data"].get("mesh") == "defaultConfig: {}", "istio ConfigMap's other keys touched")
    return yaml.safe_load(cm["data"].get("meshNetworks") or "{}").get("networks") or {}


def check_mesh_networks(c, members):
    nets = mesh_networks(c)
    check(sorted(nets) == sorted(members), "%s: networks %r" % (c.name, sorted(nets)))
    for m in members:
        want = "istio-eastwestgateway.istio-system.svc.cluster.local" if m == c.name \
            else "%s-istio-eastwestgateway.istio-system.svc.cluster.local" % m
        check(nets[m]["endpoints"] == [{"fromRegistry": m}], "endpoints of %s" % m)
        check(nets[m]["gateways"] == [{"address": want, "port": 15443}], "gateways of %s: %r" % (m, nets[m]))


def wait_ready(c, timeout=60):
    c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=%ds" % timeout)


def steady(c, seconds=3.0):
    c.clear_requests()
    time.sleep(seconds)
    w = c.daemon_writes()
    check(w == [], "%s: writes in steady state: %r" % (c.name, [(r["method"], r["path"]) for r in w]))


def main():
    tmp, cs = L.mesh(["cluster1", "cluster2"])
    try:
        for c in cs:
            c.apply_examples(["cluster1", "cluster2"])
            c.start_daemon()
        for c in cs:
            wait_ready(c)
        c1, c2 = cs
        # The request log does see the daemon's writes (so "none" below means none).
        check(len(c1.daemon_writes()) >= 9, "daemon writes not seen in the request log")
        for c, other in ((c1, "cluster2"), (c2, "cluster1")):
            check_remote_objects(c, other)
            check_local_objects(c)
            check_mesh_networks(c, ["cluster1", "cluster2"])
            mine = c.get("meshcluster", c.name)
            check(mine["status"]["role"] == "local", "role local")
            check(mine["status"].get("gatewayAddress", "").endswith(".ts.net"), "gateway address")
            theirs = c.get("meshcluster", other)
            check(theirs["status"]["role"] == "remote", "role remote")
            conds = {x["type"]: x["status"] for x in theirs["status"]["conditions"]}
            for t in ("Accepted", "EgressReady", "RemoteSecretReady", "GatewayReady", "MeshNetworksReady"):
                check(conds.get(t) == "True", "%s condition %s: %r" % (other, t, conds))
        print("converged: objects and status as in the guide")

        for c in cs:
            steady(c)
        print("steady state: zero writes")

        # A restart finds everything in place: no write either (after a relist the cached
        # Services and Secrets come without apiVersion and kind, and must still match).
        check(c1.stop_daemon() == 0, "SIGTERM exit code")
        c1.clear_requests()
        c1.start_daemon()
        L.wait_for("restarted daemon reads", lambda: any(
            (r.get("user_agent") or "").startswith("meshcluster") for r in c1.requests()), 10)
        time.sleep(4.0)  # sync, then passes; the log still holds everything since the restart
        w = c1.daemon_writes()
        check(w == [], "writes after a restart: %r" % [(r["method"], r["path"]) for r in w])
        print("restart: zero writes")

        # Drift, healed by watches.
        old_uid = c1.get("service", "cluster2-k8s-operator", "tailscale")["metadata"]["uid"]
        c1.kubectl("delete", "service", "cluster2-k8s-operator", "-n", "tailscale", "--wait=false")
        L.wait_for("egress Service re-created", lambda: (
            (lambda s: s is not None and s["metadata"]["uid"] != old_uid and not s["metadata"].get("deletionTimestamp"))(
                c1.get("service", "cluster2-k8s-operator", "tailscale"))), 20)
        c1.kubectl("patch", "secret", "istio-remote-secret-cluster2", "-n", ISTIO, "--type=merge",
                   "-p", '{"data":{"cluster2":"%s"}}' % base64.b64encode(b"tampered").decode())
        L.wait_for("remote secret healed", lambda: b"tampered" not in base64.b64decode(
            c1.get("secret", "istio-remote-secret-cluster2", ISTIO)["data"]["cluster2"]), 20)
        c1.kubectl("patch", "configmap", "istio", "-n", ISTIO, "--type=merge",
                   "-p", '{"data":{"meshNetworks":"networks: {}"}}')
        L.wait_for("meshNetworks healed", lambda: len(mesh_networks(c1)) == 2, 20)
        c1.kubectl("label", "namespace", ISTIO, "topology.istio.io/network-")
        L.wait_for("namespace label healed", lambda: labels(c1.get("namespace", ISTIO)).get(
            "topology.istio.io/network") == "cluster1", 20)
        wait_ready(c1)
        check_remote_objects(c1, "cluster2")
        L.wait_for("status settles", lambda: c1.kubectl(
            "wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=1s", check=False).returncode == 0, 20)
        time.sleep(1.0)
        steady(c1)
        print("drift healed, then zero writes again")

        # Add a cluster, then remove one.
        c1.apply_examples(["cluster3"])
        L.wait_for("cluster3 objects", lambda: c1.get("secret", "istio-remote-secret-cluster3", ISTIO), 20)
        L.wait_for("cluster3 in meshNetworks", lambda: "cluster3" in mesh_networks(c1), 20)
        # Renaming a network moves the registry; status follows the new generation.
        c1.kubectl("patch", "meshcluster", "cluster3", "--type=merge", "-p", '{"spec":{"network":"net-c"}}')
        L.wait_for("network renamed", lambda: "net-c" in mesh_networks(c1) and "cluster3" not in mesh_networks(c1), 20)
        check(mesh_networks(c1)["net-c"]["endpoints"] == [{"fromRegistry": "cluster3"}], "renamed network")
        L.wait_for("observedGeneration follows", lambda: (lambda o: o["status"].get("observedGeneration")
                   == o["metadata"]["generation"] == 2)(c1.get("meshcluster", "cluster3")), 20)
        # Bad input: a MeshCluster from another mesh is rejected, gets nothing, stops nobody.
        c1.kubectl("apply", "-f", "-", input=OTHER_MESH)
        x = L.wait_for("cluster4 rejected", lambda: [
            k for k in (c1.get("meshcluster", "cluster4").get("status") or {}).get("conditions") or []
            if k["type"] == "Accepted" and k["status"] == "False"], 20)[0]
        check(x["reason"] == "MeshIDConflict" and "spec.meshID" in x["message"], "rejection %r" % x)
        check(c1.list("services", selector="meshcluster.io/cluster=cluster4") == [], "objects for a rejected cluster")
        check("cluster4" not in mesh_networks(c1), "rejected cluster in meshNetworks")
        c1.kubectl("wait", "--for=condition=Ready", "meshcluster", "cluster1", "cluster2", "cluster3",
                   "--timeout=30s")
        c1.kubectl("delete", "meshcluster", "cluster4")
        c1.kubectl("delete", "meshcluster", "cluster2")
        L.wait_for("cluster2 objects removed", lambda: not c1.list("services", selector="meshcluster.io/cluster=cluster2")
                   and not c1.list("secrets", selector="meshcluster.io/cluster=cluster2"), 30)
        L.wait_for("cluster2 out of meshNetworks", lambda: sorted(mesh_networks(c1)) == ["cluster1", "net-c"], 20)
        check(c1.get("meshcluster", "cluster2") is None, "MeshCluster cluster2 stuck in deletion")
        print("add and remove: done")

        for c in cs:
            t0 = time.monotonic()
            rc = c.stop_daemon()
            check(rc == 0, "%s: exit code %r after SIGTERM" % (c.name, rc))
            check(time.monotonic() - t0 < 5.0, "shutdown took more than 5 s")
        print("ok: all e2e mesh checks passed")
    except BaseException:
        for c in cs:
            sys.stderr.write("---- %s daemon log (tail)\n%s\n" % (c.name, c.daemon_log()[-4000:]))
        raise
    finally:
        for c in cs:
            c.close()
        L.cleanup(tmp)


def three():
    """Three clusters, each with its own server and daemon: every cluster keeps the objects of
    both remotes, every MeshCluster is Ready everywhere, and the steady state writes nothing."""
    names = ["cluster1", "cluster2", "cluster3"]
    tmp, cs = L.mesh(names)
    try:
        for c in cs:
            c.apply_examples(names)
            c.start_daemon()
        for c in cs:
            wait_ready(c)
        for c in cs:
            check_local_objects(c)
            for other in names:
                if other != c.name:
                    check_remote_objects(c, other)
            check_mesh_networks(c, names)
        time.sleep(1.0)
        for c in cs:
            steady(c)
        for c in cs:
            check(c.stop_daemon() == 0, "%s: exit code after SIGTERM" % c.name)
        print("ok: three-cluster mesh converged, zero steady-state writes")
    except BaseException:
        for c in cs:
            sys.stderr.write("---- %s daemon log (tail)\n%s\n" % (c.name, c.daemon_log()[-4000:]))
        raise
    finally:
        for c in cs:
            c.close()
        L.cleanup(tmp)


def wide(n=40):
    """One cluster of n: 4n+1 desired objects, more than a pass sends at once (PASS_WINDOW, 64),
    so phase 1 issues them in windows as requests finish. Every object is written exactly once,
    every MeshCluster goes Ready, deleting a remote's MeshCluster removes its four objects (the
    collection after the last window), and the steady state writes nothing."""
    names = ["cluster%d" % i for i in range(1, n + 1)]
    tmp, (c,) = L.mesh(["cluster1"])
    try:
        docs = [{"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": m},
                 "spec": {"network": m, "meshID": "mesh1", "tailscale": {"tailnet": TAILNET}}} for m in names]
        c.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
        c.start_daemon()
        wait_ready(c, 120)
        objects = [r["path"] for r in c.daemon_writes()
                   if not any(k in r["path"] for k in ("/meshclusters/", "/events", "/leases/"))]
        check(len(objects) == len(set(objects)), "objects written more than once: %r" % sorted(
            p for p in set(objects) if objects.count(p) > 1)[:5])
        check(len(objects) == 4 * n + 1, "%d objects written, want %d" % (len(objects), 4 * n + 1))
        for m in names[1:]:
            check_remote_objects(c, m)
        check_mesh_networks(c, names)
        time.sleep(1.0)
        steady(c)
        c.kubectl("delete", "meshcluster", names[-1])
        L.wait_for("objects of the deleted cluster removed", lambda: not c.list(
            "services,secrets", ns=ISTIO, selector="meshcluster.io/cluster=%s" % names[-1]) and not c.list(
            "services", ns="tailscale", selector="meshcluster.io/cluster=%s" % names[-1]), 30)
        L.wait_for("its network dropped", lambda: names[-1] not in mesh_networks(c), 30)
        time.sleep(1.0)
        steady(c)
        check(c.stop_daemon() == 0, "exit code after SIGTERM")
        print("ok: %d-cluster mesh converged in windows, one write per object, removal, zero "
              "steady-state writes" % n)
    except BaseException:
        sys.stderr.write("---- daemon log (tail)\n%s\n" % c.daemon_log()[-4000:])
        raise
    finally:
        c.close()
        L.cleanup(tmp)


if __name__ == "__main__":
    if sys.argv[1:] == ["three"]:
        three()
    elif sys.argv[1:] == ["wide"]:
        wide()
    else:
        main()
