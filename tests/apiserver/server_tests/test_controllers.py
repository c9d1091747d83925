#!/usr/bin/python3
"""Proves the controllers the server emulates: namespace deletion (Terminating answered at once,
content removed afterwards, then the namespace; creating in it is 403; protected namespaces refuse), ownerReference garbage collection through the
API (background with a cluster-scoped owner), the Tailscale simulator (egress rewrite with
delay and failure modes, LoadBalancer ingress, cleanup on delete) and the istiod simulator
(istio-ca-root-cert in every namespace from cacerts, else a self-signed root; restored when
deleted)."""
import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import Server, wait_for  # noqa: E402

NS = "/api/v1/namespaces"


def obj(kind, name, ns=None, **extra):
    md = {"name": name}
    if ns:
        md["namespace"] = ns
    d = {"apiVersion": "v1", "kind": kind, "metadata": md}
    d.update(extra)
    return d


class Controllers(unittest.TestCase):
    def test_namespace_and_gc(self):
        with Server() as s:
            self.assertEqual(s.request("POST", NS, obj("Namespace", "tmp"))[0], 201)
            code, _, owner = s.request("POST", NS, obj("Namespace", "owner"))
            ref = {"apiVersion": "v1", "kind": "Namespace", "name": "owner", "uid": owner["metadata"]["uid"]}
            dep = obj("ConfigMap", "dep", "default")
            dep["metadata"]["ownerReferences"] = [ref]
            self.assertEqual(s.request("POST", NS + "/default/configmaps", dep)[0], 201)
            held = obj("ConfigMap", "held", "tmp")
            held["metadata"]["finalizers"] = ["example.com/x"]
            s.request("POST", NS + "/tmp/configmaps", held)
            s.request("POST", NS + "/tmp/secrets", obj("Secret", "s", "tmp"))
            s.request("POST", NS + "/tmp/secrets", obj("Secret", "s2", "tmp"))
            code, _, ns = s.request("DELETE", NS + "/tmp")
            self.assertEqual((code, ns["status"]["phase"], ns["spec"]["finalizers"]),
                             (200, "Terminating", ["kubernetes"]))
            self.assertTrue(ns["metadata"].get("deletionTimestamp"))
            # the namespace controller works after the answer: a client deleting the content
            # right after the namespace (kubectl delete -k) still finds it
            self.assertEqual(s.request("DELETE", NS + "/tmp/secrets/s2")[0], 200)
            code, _, st = s.request("POST", NS + "/tmp/configmaps", obj("ConfigMap", "late", "tmp"))
            self.assertEqual((code, st["reason"]), (403, "Forbidden"))
            self.assertEqual(st["message"], 'configmaps "late" is forbidden: unable to create new content '
                             "in namespace tmp because it is being terminated")
            wait_for(lambda: s.get(NS + "/tmp/secrets/s")[0] == 404, what="namespace content removed")
            self.assertEqual(s.get(NS + "/tmp")[0], 200, "held content keeps the namespace")
            s.request("PATCH", NS + "/tmp/configmaps/held", {"metadata": {"finalizers": None}},
                      ctype="application/merge-patch+json")
            wait_for(lambda: s.get(NS + "/tmp")[0] == 404, what="namespace removed")
            code, _, st = s.request("DELETE", NS + "/default")
            self.assertEqual((code, st["reason"]), (403, "Forbidden"))
            # cluster-scoped owner, namespaced dependent
            s.request("DELETE", NS + "/owner")
            wait_for(lambda: s.get(NS + "/default/configmaps/dep")[0] == 404, what="dependent collected")

    def test_tailscale(self):
        with Server("--simulate", "tailscale", "--tailscale-ready-delay", "0.5") as s:
            svc = obj("Service", "egress", "default", spec={"type": "ExternalName", "externalName": "placeholder"})
            svc["metadata"]["annotations"] = {"tailscale.com/tailnet-fqdn": "west.tail0000.ts.net"}
            s.request("POST", NS + "/default/services", svc)
            fin = wait_for(lambda: s.get(NS + "/default/services/egress")[2]["metadata"].get("finalizers"),
                           what="finalizer")
            self.assertEqual(fin, ["tailscale.com/finalizer"])
            got = wait_for(lambda: (lambda o: o if o["spec"]["externalName"] != "placeholder" else None)(
                s.get(NS + "/default/services/egress")[2]), what="rewrite")
            hs_name = got["spec"]["externalName"].split(".")[0]
            hs = s.get(NS + "/tailscale/services/" + hs_name)[2]
            self.assertEqual(hs["spec"]["clusterIP"], "None")
            self.assertEqual(hs["metadata"]["labels"]["tailscale.com/parent-resource"], "egress")
            ops = {(m["manager"], m["operation"]) for m in got["metadata"].get("managedFields", [])}
            self.assertIn(("tailscale-operator", "Update"), ops)
            s.request("DELETE", NS + "/default/services/egress")
            wait_for(lambda: s.get(NS + "/default/services/egress")[0] == 404, what="finalizer released")
            self.assertEqual(s.get(NS + "/tailscale/services/" + hs_name)[0], 404)

            lb = obj("Service", "ingress", "default",
                     spec={"type": "LoadBalancer", "loadBalancerClass": "tailscale", "ports": [{"port": 443}]})
            lb["metadata"]["annotations"] = {"tailscale.com/hostname": "east-gw"}
            s.request("POST", NS + "/default/services", lb)
            ing = wait_for(lambda: s.get(NS + "/default/services/ingress")[2]["status"]["loadBalancer"].get("ingress"),
                           what="LB ingress")
            self.assertEqual(ing[0], {"hostname": "east-gw.tail0000.ts.net"})
            a, b, _, _ = (int(x) for x in ing[1]["ip"].split("."))
            self.assertTrue(a == 100 and 64 <= b <= 127, ing)

            s.control("/tailscale", {"fail": True, "ready_delay": 0})
            bad = obj("Service", "bad", "default", spec={"type": "ExternalName", "externalName": "placeholder"})
            bad["metadata"]["annotations"] = {"tailscale.com/tailnet-fqdn": "x.tail0000.ts.net"}
            s.request("POST", NS + "/default/services", bad)
            cond = wait_for(lambda: s.get(NS + "/default/services/bad")[2].get("status", {}).get("conditions"),
                            what="failure condition")
            self.assertEqual((cond[0]["type"], cond[0]["status"]), ("TailscaleProxyReady", "False"))
            self.assertEqual(s.get(NS + "/default/services/bad")[2]["spec"]["externalName"], "placeholder")

    def test_istiod(self):
        with Server("--simulate", "istiod") as s:
            first = s.get(NS + "/istio-system/configmaps/istio-ca-root-cert")[2]["data"]["root-cert.pem"]
            self.assertIn("BEGIN CERTIFICATE", first)
            root = "-----BEGIN CERTIFICATE-----\nplugged-in-root\n-----END CERTIFICATE-----\n"
            sec = obj("Secret", "cacerts", "istio-system",
                      data={"root-cert.pem": base64.b64encode(root.encode()).decode()})
            self.assertEqual(s.request("POST", NS + "/istio-system/secrets", sec)[0], 201)
            self.assertEqual(s.get(NS + "/istio-system/configmaps/istio-ca-root-cert")[2]["data"]["root-cert.pem"],
                             first, "istiod reads cacerts only at start-up")
            s.request("POST", NS, obj("Namespace", "app"))
            wait_for(lambda: s.get(NS + "/app/configmaps/istio-ca-root-cert")[0] == 200, what="published to app")
            self.assertEqual(s.get(NS + "/app/configmaps/istio-ca-root-cert")[2]["data"]["root-cert.pem"], first)
            self.assertEqual(s.get(NS + "/kube-system/configmaps/istio-ca-root-cert")[0], 404)
            s.control("/istiod/restart")
            for ns in ("istio-system", "app", "default"):
                self.assertEqual(s.get(NS + "/%s/configmaps/istio-ca-root-cert" % ns)[2]["data"]["root-cert.pem"],
                                 root)
            s.request("DELETE", NS + "/app/configmaps/istio-ca-root-cert")
            wait_for(lambda: s.get(NS + "/app/configmaps/istio-ca-root-cert")[0] == 200, what="restored")

    def test_istiod_clusterz(self):
        """The simulator answers /debug/clusterz in istiod's shape (pkg/cluster DebugInfo):
        its own cluster first, then every cluster of every remote secret; only with a token."""
        import http.client
        import json

        def clusterz(token="t"):
            c = http.client.HTTPConnection("127.0.0.1", s.control_port, timeout=10)
            c.request("GET", "/istiod/debug/clusterz",
                      headers={"Authorization": "Bearer " + token} if token else {})
            r = c.getresponse()
            body = r.read()
            c.close()
            return r.status, json.loads(body)

        with Server("--simulate", "istiod") as s:
            self.assertEqual(clusterz(token=None)[0], 401)
            self.assertEqual(clusterz(), (200, [{"id": "Kubernetes", "secretName": "", "syncStatus": "synced"}]))
            for name, labels in (("istio-remote-secret-tokyo", {"istio/multiCluster": "true"}),
                                 ("unrelated", {})):
                sec = obj("Secret", name, "istio-system", data={"tokyo": "eA=="})
                sec["metadata"]["labels"] = labels
                self.assertEqual(s.request("POST", NS + "/istio-system/secrets", sec)[0], 201)
            s.control("/istiod", {"cluster_id": "paris", "sync_status": {"tokyo": "timeout"}})
            want = [{"id": "paris", "secretName": "", "syncStatus": "synced"},
                    {"id": "tokyo", "secretName": "istio-system/istio-remote-secret-tokyo", "syncStatus": "timeout"}]
            wait_for(lambda: clusterz()[1] == want, what="remote secret listed")
            s.control("/istiod", {"sync_status": {"tokyo": None}})
            self.assertEqual(clusterz()[1][1]["syncStatus"], "synced")


if __name__ == "__main__":
    unittest.main(verbosity=2)
