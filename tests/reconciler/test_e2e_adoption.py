"""End to end, with real processes, the situations around existing state:
  A. adoption: objects made by hand from the guide (Step 4 egress Service, already handed to
     the Tailscale operator, and the Step 6 remote secret) are taken over in place: same uid,
     our labels added, the secret's contents replaced by ours, externalName left to the
     operator; meanwhile meshclusterd is killed with SIGKILL mid-convergence and restarted:
     afterwards there are no duplicates (one egress proxy per egress Service) and all is Ready;
  B. the istio ConfigMap does not exist: it is not created, MeshNetworksReady=False says so,
     and meshNetworks is written once it appears; a gateway Service of another
     loadBalancerClass is neither deleted nor changed (GatewayReady=False,
     LoadBalancerClassImmutable) unless the daemon runs with --allow-gateway-replacement,
     which replaces it with the right one;
  C. a remote whose remote secret uses a token from a Secret waits (TokenPending) until the
     Secret exists, then gets a kubeconfig with that token, which never reaches the logs.
"""
import base64
import os
import signal
import sys
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402

ISTIO = "istio-system"

GUIDE_STEP4 = """apiVersion: v1
kind: Service
metadata:
  name: cluster2-k8s-operator
  namespace: tailscale
  annotations:
    tailscale.com/tailnet-fqdn: cluster2-k8s-operator.your-tailnet.ts.net
spec:
  externalName: placeholder
  type: ExternalName
  ports:
  - name: https
    port: 443
    protocol: TCP
"""

GUIDE_STEP6 = """apiVersion: v1
kind: Secret
metadata:
  name: istio-remote-secret-cluster2
  namespace: istio-system
  annotations:
    networking.istio.io/cluster: cluster2
  labels:
    istio/multiCluster: "true"
type: Opaque
stringData:
  cluster2: |
    apiVersion: v1
    clusters:
    - cluster:
        server: https://cluster2-k8s-operator.your-tailnet.ts.net
      name: cluster2
    contexts:
    - context:
        cluster: cluster2
        user: tailscale-auth
      name: cluster2
    current-context: cluster2
    kind: Config
    users:
    - name: tailscale-auth
      user:
        token: unused
"""

OTHER_CLASS_GATEWAY = """apiVersion: v1
kind: Service
metadata:
  name: istio-eastwestgateway
  namespace: istio-system
spec:
  type: LoadBalancer
  loadBalancerClass: example.com/other
  selector:
    istio: eastwestgateway
  ports:
  - name: tls
    port: 15443
"""


TOKEN = "e2e-remote-token-4f9c2a"
TOKEN_REMOTE = """apiVersion: meshcluster.io/v1alpha1
kind: MeshCluster
metadata:
  name: cluster5
spec:
  meshID: mesh1
  tailscale:
    tailnet: your-tailnet.ts.net
  remoteSecret:
    auth: secret
    secretRef:
      name: cluster5-token
"""


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def condition(c, mc, type_):
    o = c.get("meshcluster", mc)
    for x in (o.get("status") or {}).get("conditions") or []:
        if x["type"] == type_:
            return x
    return None


def wait_condition(c, mc, type_, status, reason=None, timeout=30):
    def ok():
        x = condition(c, mc, type_)
        return x is not None and x["status"] == status and (reason is None or x["reason"] == reason)
    L.wait_for("%s %s=%s %s" % (mc, type_, status, reason or ""), ok, timeout)
    return condition(c, mc, type_)


def scenario_adoption():
    tmp, (c,) = L.mesh(["cluster1"])
    try:
        c.apply_examples(["cluster1", "cluster2"])
        c.kubectl("apply", "-f", "-", input=GUIDE_STEP4)
        c.kubectl("apply", "-f", "-", input=GUIDE_STEP6)
        L.wait_for("operator takes the hand-made egress Service", lambda: c.get(
            "service", "cluster2-k8s-operator", "tailscale")["spec"]["externalName"] != "placeholder", 20)
        uid_svc = c.get("service", "cluster2-k8s-operator", "tailscale")["metadata"]["uid"]
        uid_sec = c.get("secret", "istio-remote-secret-cluster2", ISTIO)["metadata"]["uid"]

        # Killed mid-convergence, then restarted.
        c.start_daemon()
        time.sleep(0.3)
        c.stop_daemon(sig=signal.SIGKILL)
        c.start_daemon()
        c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=60s")

        svc = c.get("service", "cluster2-k8s-operator", "tailscale")
        sec = c.get("secret", "istio-remote-secret-cluster2", ISTIO)
        check(svc["metadata"]["uid"] == uid_svc, "egress Service was re-created, not adopted")
        check(sec["metadata"]["uid"] == uid_sec, "remote secret was re-created, not adopted")
        check(svc["metadata"]["labels"].get("app.kubernetes.io/managed-by") == "meshcluster-controller",
              "adopted Service not labelled")
        check(svc["spec"]["externalName"] != "placeholder", "externalName taken back from the operator")
        check(sec["metadata"]["labels"].get("meshcluster.io/cluster") == "cluster2", "secret not labelled")
        kc = yaml.safe_load(base64.b64decode(sec["data"]["cluster2"]))
        check(kc["users"][0]["user"] == {"token": "unused"}, "secret contents")

        # No duplicates: one egress proxy per egress Service, one object per name.
        proxies = [s["metadata"]["labels"].get("tailscale.com/parent-resource")
                   for s in c.list("services", ns="tailscale", selector="tailscale.com/managed=true")]
        check(sorted(proxies) == ["cluster2-istio-eastwestgateway-ts", "cluster2-k8s-operator"],
              "egress proxies: %r" % proxies)
        owned = sorted("%s/%s" % (k, o["metadata"]["name"])
                       for k, kind in (("Service", "services"), ("Secret", "secrets"), ("ConfigMap", "configmaps"))
                       for o in c.list(kind, selector=L_MANAGED))
        check(owned == sorted(["Service/cluster2-k8s-operator", "Service/cluster2-istio-eastwestgateway-ts",
                               "Service/cluster2-istio-eastwestgateway", "Service/istio-eastwestgateway",
                               "Secret/istio-remote-secret-cluster2", "ConfigMap/meshcluster-istiod-values"]),
              "owned objects: %r" % owned)
        rc = c.stop_daemon()
        check(rc == 0, "exit code %r" % rc)
        print("adoption and kill -9: ok")
    except BaseException:
        sys.stderr.write("---- daemon log (tail)\n%s\n" % c.daemon_log()[-5000:])
        raise
    finally:
        c.close()
        L.cleanup(tmp)


L_MANAGED = "app.kubernetes.io/managed-by=meshcluster-controller"


def scenario_missing_and_immutable():
    tmp, (c,) = L.mesh(["cluster1"])
    try:
        c.kubectl("delete", "configmap", "istio", "-n", ISTIO)
        c.kubectl("apply", "-f", "-", input=OTHER_CLASS_GATEWAY)
        uid_gw = c.get("service", "istio-eastwestgateway", ISTIO)["metadata"]["uid"]
        c.apply_examples(["cluster1", "cluster2"])
        c.start_daemon()
        x = wait_condition(c, "cluster1", "MeshNetworksReady", "False", "IstioConfigMapMissing")
        check("does not exist" in x["message"], "message: %r" % x["message"])
        x = wait_condition(c, "cluster1", "GatewayReady", "False", "LoadBalancerClassImmutable")
        check("example.com/other" in x["message"], "message: %r" % x["message"])
        wait_condition(c, "cluster1", "Ready", "False")
        check(c.get("configmap", "istio", ISTIO) is None, "the istio ConfigMap was created")
        gw = c.get("service", "istio-eastwestgateway", ISTIO)
        check(gw["metadata"]["uid"] == uid_gw and gw["spec"]["loadBalancerClass"] == "example.com/other",
              "gateway Service of another class was touched")

        c.kubectl("create", "configmap", "istio", "-n", ISTIO, "--from-literal=mesh=defaultConfig: {}")
        wait_condition(c, "cluster1", "MeshNetworksReady", "True")
        cm = c.get("configmap", "istio", ISTIO)
        nets = yaml.safe_load(cm["data"]["meshNetworks"])["networks"]
        check(sorted(nets) == ["cluster1", "cluster2"], "networks %r" % sorted(nets))

        # Only an explicit flag allows replacing it.
        check(c.stop_daemon() == 0, "exit code after SIGTERM")
        c.start_daemon("--allow-gateway-replacement")
        wait_condition(c, "cluster1", "GatewayReady", "True", timeout=60)
        gw = c.get("service", "istio-eastwestgateway", ISTIO)
        check(gw["spec"]["loadBalancerClass"] == "tailscale", "gateway class after replacement")
        check(gw["metadata"]["uid"] != uid_gw, "gateway Service was not replaced")
        c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=60s")
        print("missing istio ConfigMap and immutable loadBalancerClass: ok")

        # A remote authenticated by a token from a Secret: pending until the Secret exists,
        # then written into the kubeconfig, and never logged.
        c.kubectl("apply", "-f", "-", input=TOKEN_REMOTE)
        wait_condition(c, "cluster5", "RemoteSecretReady", "False", "TokenSecretMissing")
        check(c.get("secret", "istio-remote-secret-cluster5", ISTIO) is None, "secret without a token")
        c.kubectl("create", "secret", "generic", "cluster5-token", "-n", "tailscale",
                  "--from-literal=token=" + TOKEN)
        # Only a Secret that opted in is read (issue 18.3): until labelled, it is not seen.
        x = wait_condition(c, "cluster5", "RemoteSecretReady", "False", "TokenSecretMissing")
        check("tailscale/cluster5-token" in x["message"], "message: %r" % x["message"])
        c.kubectl("label", "secret", "cluster5-token", "-n", "tailscale",
                  "meshcluster.io/remote-token=true")
        wait_condition(c, "cluster5", "RemoteSecretReady", "True")
        sec = c.get("secret", "istio-remote-secret-cluster5", ISTIO)
        kc = yaml.safe_load(base64.b64decode(sec["data"]["cluster5"]))
        check(kc["users"][0]["user"] == {"token": TOKEN}, "token kubeconfig %r" % kc["users"][0]["user"])
        rc = c.stop_daemon()
        check(rc == 0, "exit code %r" % rc)
        check(TOKEN not in c.daemon_log(), "the remote token was logged")
        print("remote secret from a token Secret: ok")
    except BaseException:
        sys.stderr.write("---- daemon log (tail)\n%s\n" % c.daemon_log()[-5000:])
        raise
    finally:
        c.close()
        L.cleanup(tmp)


if __name__ == "__main__":
    scenario_adoption()
    scenario_missing_and_immutable()
