"""End to end, with real processes: the gateway Service under foreign edits and MeshCluster
edits (issue 14 items 1-5). One "cluster" (a test API server with the Tailscale and istiod
simulators) and one meshclusterd; writes are counted in the server's request log.
  A. ports: a foreign JSON patch that renumbers our "tls" port leaves an entry that collides by
     name with ours: the Service converges to the desired port set in at most 2 writes, with one
     Warning Event, and then nothing is written (14.1); the status port targets the gateway
     pod's fixed 15021 and the others Istio's well-known pod ports (14.3);
  B. a MeshCluster port edit is applied once and then costs nothing, however many unrelated
     MeshCluster edits follow (14.2);
  C. a gateway Service installed by Helm (managed-by label owned by "helm") is adopted without
     taking Helm's fields (14.4);
  D. meshNetworks owned by another manager (a Helm upgrade, Argo CD) is not taken: a
     MeshNetworksConflict condition and one Warning Event name the manager, nothing is
     written again; --mesh-networks-force takes it (14.5).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402
from edits_lib import check, events, running, settle, wait_condition, writes_to  # noqa: E402

ISTIO = "istio-system"
GW_PATH = "/api/v1/namespaces/istio-system/services/istio-eastwestgateway"
POD_PORTS = {"status-port": 15021, "tls": 15443, "tls-istiod": 15012, "tls-webhook": 15017}


def gw_ports(c):
    svc = c.get("service", "istio-eastwestgateway", ISTIO)
    return sorted((p.get("name"), p["port"], p.get("targetPort")) for p in svc["spec"]["ports"])


def scenario_ports():
    with running() as c:
        # 14.3: targetPort is the pod's port, whatever the LB port.
        got = gw_ports(c)
        want = sorted((n, p, POD_PORTS[n]) for n, p in
                      (("status-port", 15021), ("tls", 15443), ("tls-istiod", 15012), ("tls-webhook", 15017)))
        check(got == want, "gateway ports %r, want %r" % (got, want))

        # 14.1: a foreign JSON patch renumbers our tls port (the entry keeps the name "tls").
        c.clear_requests()
        svc = c.get("service", "istio-eastwestgateway", ISTIO)
        idx = [p["name"] for p in svc["spec"]["ports"]].index("tls")
        c.kubectl("-n", ISTIO, "patch", "svc", "istio-eastwestgateway", "--type=json", "-p",
                  json.dumps([{"op": "replace", "path": "/spec/ports/%d/port" % idx, "value": 25443}]))
        L.wait_for("the desired port set back", lambda: gw_ports(c) == want, 10)
        # Let any trailing pass finish, then count.
        time.sleep(1.0)
        w = writes_to(c, GW_PATH)
        check(1 <= len(w) <= 2, "heal writes %d: %r" % (len(w), [(r["method"], r["code"]) for r in w]))
        check(all(r["code"] < 300 for r in w), "failed writes %r" % [(r["method"], r["code"]) for r in w])
        ev = events(c, "GatewayPortCollision")
        check(len(ev) == 1 and ev[0]["type"] == "Warning" and "kubectl-patch" in ev[0]["message"],
              "events %r" % [(e["type"], e["message"]) for e in ev])
        w = settle(c, 5)
        check(w == [], "writes after the heal: %r" % [(r["method"], r["path"]) for r in w])
        wait_condition(c, "cluster1", "Ready", "True")

        # A foreign entry that collides with nothing stays (it is another manager's field).
        c.kubectl("-n", ISTIO, "patch", "svc", "istio-eastwestgateway", "--type=json", "-p",
                  json.dumps([{"op": "add", "path": "/spec/ports/-",
                               "value": {"name": "extra", "port": 9999, "protocol": "TCP"}}]))
        w = settle(c, 3)
        check(all(GW_PATH not in r["path"] for r in w), "wrote for a foreign port %r" % w)
        check(("extra", 9999, 9999) in gw_ports(c), "foreign port removed")
        print("gateway ports under foreign edits: ok")


def scenario_cr_port_edit():
    with running() as c:
        c.kubectl("patch", "meshcluster", "cluster1", "--type=merge", "-p",
                  json.dumps({"spec": {"gateway": {"ports": {"status": 16022}}}}))
        L.wait_for("status port 16022", lambda: ("status-port", 16022) in [x[:2] for x in gw_ports(c)], 10)
        time.sleep(1.0)
        check(("status-port", 16022, 15021) in gw_ports(c), "status targetPort %r" % gw_ports(c))
        time.sleep(1.0)
        c.clear_requests()
        for i in range(5):
            c.kubectl("annotate", "meshcluster", "cluster2", "--overwrite", "edit=%d" % i)
            time.sleep(0.3)
        time.sleep(2.0)
        w = writes_to(c, GW_PATH)
        check(w == [], "gateway writes after unrelated edits: %d" % len(w))
        ev = [e for e in events(c, "Applied") if "istio-eastwestgateway" in e["message"]]
        check(all(e.get("count", 1) == 1 for e in ev) and len(ev) <= 1, "Applied events %r" % ev)
        w = settle(c, 5)
        check(w == [], "steady-state writes %r" % [(r["method"], r["path"]) for r in w])
        print("MeshCluster port edit, then quiet: ok")


HELM_ISTIO_CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  meshNetworks: |-
    networks: {}
"""
CM_PATH = "/api/v1/namespaces/istio-system/configmaps/istio"


def helm_owns_mesh_networks(c):
    """What the istiod chart leaves: its manager owns data.meshNetworks."""
    c.kubectl("apply", "--server-side", "--field-manager=helm", "--force-conflicts", "-f", "-",
              input=HELM_ISTIO_CM)


def scenario_mesh_networks():
    with running(before_daemon=helm_owns_mesh_networks, ready=False) as c:
        x = wait_condition(c, "cluster1", "MeshNetworksReady", "False", "MeshNetworksConflict")
        check('"helm"' in x["message"] and "meshNetworks" in x["message"], "message %r" % x["message"])
        cm = c.get("configmap", "istio", ISTIO)
        check(cm["data"]["meshNetworks"] == "networks: {}", "meshNetworks taken: %r" % cm["data"])
        time.sleep(1.0)
        w = settle(c, 5)
        check(w == [], "writes while the conflict stands: %r" % [(r["method"], r["path"]) for r in w])
        ev = events(c, "MeshNetworksConflict")
        check(len(ev) == 1 and ev[0]["type"] == "Warning" and ev[0].get("count", 1) == 1,
              "events %r" % [(e["type"], e.get("count"), e["message"]) for e in ev])
        # The values ConfigMap for the istiod release is still written.
        check(c.get("configmap", "meshcluster-istiod-values", ISTIO) is not None, "no values ConfigMap")

        # Opt-in: the daemon takes the key.
        check(c.stop_daemon() == 0, "exit code after SIGTERM")
        c.start_daemon("--force-mesh-networks")
        wait_condition(c, "cluster1", "MeshNetworksReady", "True")
        cm = c.get("configmap", "istio", ISTIO)
        check("cluster2" in cm["data"]["meshNetworks"], "meshNetworks %r" % cm["data"])
        w = settle(c, 3)
        check(all(CM_PATH not in r["path"] for r in w), "writes after taking it %r" % w)
        print("meshNetworks owned by another manager: ok")


HELM_GATEWAY = """apiVersion: v1
kind: Service
metadata:
  name: istio-eastwestgateway
  namespace: istio-system
  labels:
    app: istio-eastwestgateway
    istio: eastwestgateway
    topology.istio.io/network: cluster1
    app.kubernetes.io/managed-by: Helm
    helm.sh/chart: gateway-1.28.0
  annotations:
    meta.helm.sh/release-name: istio-eastwestgateway
spec:
  type: LoadBalancer
  loadBalancerClass: tailscale
  selector:
    app: istio-eastwestgateway
    istio: eastwestgateway
  ports:
  - {name: status-port, port: 15021, targetPort: 15021, protocol: TCP}
  - {name: tls, port: 15443, targetPort: 15443, protocol: TCP}
  - {name: tls-istiod, port: 15012, targetPort: 15012, protocol: TCP}
  - {name: tls-webhook, port: 15017, targetPort: 15017, protocol: TCP}
"""


def helm_gateway(c):
    """A gateway Service installed by Helm (istio/gateway chart): manager "helm", Update."""
    c.kubectl("create", "--field-manager=helm", "-f", "-", input=HELM_GATEWAY)


def managers(obj, field):
    return sorted(mf["manager"] for mf in obj["metadata"].get("managedFields") or []
                  if field in json.dumps(mf.get("fieldsV1")))


def scenario_helm_gateway():
    with running(before_daemon=helm_gateway) as c:
        svc = c.get("service", "istio-eastwestgateway", ISTIO)
        labels = svc["metadata"]["labels"]
        check(labels["app.kubernetes.io/managed-by"] == "Helm", "Helm's label taken: %r" % labels)
        check(labels.get("meshcluster.io/cluster") == "cluster1", "not adopted: %r" % labels)
        check(managers(svc, "app.kubernetes.io/managed-by") == ["helm"],
              "managed-by owners %r" % managers(svc, "app.kubernetes.io/managed-by"))
        check(svc["metadata"]["annotations"].get("tailscale.com/hostname") == "cluster1-istio-eastwestgateway",
              "our annotations missing")
        check(not events(c, "ApplyConflict"), "ApplyConflict reported")
        time.sleep(1.0)
        w = settle(c, 5)
        check(w == [], "steady-state writes %r" % [(r["method"], r["path"]) for r in w])

        # Leaving the mesh gives our fields back: Helm's Service stays.
        uid = svc["metadata"]["uid"]
        c.kubectl("delete", "meshcluster", "cluster1")
        L.wait_for("our fields withdrawn", lambda: "meshcluster.io/cluster" not in
                   c.get("service", "istio-eastwestgateway", ISTIO)["metadata"]["labels"], 20)
        svc = c.get("service", "istio-eastwestgateway", ISTIO)
        check(svc["metadata"]["uid"] == uid, "Helm's gateway Service deleted")
        check(svc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm", "labels %r" % svc)
        print("Helm-installed gateway Service adopted and given back: ok")


def scenario_unknown_local():
    """14.9: a --cluster-name typo is a warning in the log, and each rejected MeshCluster gets
    one Warning Event."""
    with running(flags=("--cluster-name", "clsuter1"), ready=False) as c:
        wait_condition(c, "cluster2", "Accepted", "False", "UnknownLocalCluster")
        L.wait_for("warn log", lambda: any("level=warn" in l and "clsuter1" in l
                                           for l in c.daemon_log().splitlines()), 10)
        time.sleep(1.0)
        settle(c, 2)
        for mc in ("cluster1", "cluster2"):
            ev = [e for e in events(c, "UnknownLocalCluster") if e["involvedObject"]["name"] == mc]
            check(len(ev) == 1 and ev[0]["type"] == "Warning" and ev[0].get("count", 1) == 1
                  and "clsuter1" in ev[0]["message"], "%s events %r" % (mc, ev))
        warns = [l for l in c.daemon_log().splitlines() if "level=warn" in l and "clsuter1" in l]
        check(len(warns) == 1, "warned %d times" % len(warns))
        print("--cluster-name typo: warned, Events: ok")


if __name__ == "__main__":
    which = sys.argv[1:] or ["ports", "cr_port_edit", "mesh_networks", "helm_gateway", "unknown_local"]
    for name in which:
        globals()["scenario_" + name]()
