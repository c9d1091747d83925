#!/usr/bin/python3
"""Proves that real kubectl can create, apply (twice, client-side), patch and delete built-in
objects and custom resources from YAML against the test server, and that what the server
stores matches a real cluster: Secret stringData folded into data, Service defaults and a
cluster IP from 10.96.0.0/12, strategic merge for built-ins and merge patch for custom
resources (strategic merge on a custom resource is 415), owner-reference garbage collection
with background, orphan and foreground cascading, including a cluster-scoped owner."""
import base64
import ipaddress
import json
import unittest

import yaml

from common import MESHCLUSTER_CRD, MESHCLUSTER_SAMPLE, REAL, Server, kubectl_versions, main, validate_args, wait_for

APP_V1 = """apiVersion: v1
kind: ConfigMap
metadata:
  name: app
  namespace: demo
data:
  keep: "1"
  drop: "2"
---
apiVersion: v1
kind: Secret
metadata:
  name: app
  namespace: demo
stringData:
  password: s3cret
---
apiVersion: v1
kind: Service
metadata:
  name: app
  namespace: demo
spec:
  selector: {app: demo}
  ports:
  - name: http
    port: 80
    targetPort: 8080
"""

APP_V2 = APP_V1.replace('  drop: "2"\n', '  added: "3"\n').replace("port: 80\n", "port: 81\n")


class ObjectsScenario(unittest.TestCase):
    def run_version(self, v):
        val = validate_args(v)
        with Server() as s:
            s.kubectl(v, "create", "namespace", "demo") if v != "1.27" else \
                s.kubectl(v, "apply", *val, "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n")
            self.assertEqual(s.get("/api/v1/namespaces/demo")[2]["status"]["phase"], "Active")
            out = s.kubectl(v, "apply", *val, "-f", "-", input=APP_V1).stdout
            self.assertEqual(out.count("created"), 3, out)

            sec = s.get("/api/v1/namespaces/demo/secrets/app")[2]
            self.assertNotIn("stringData", sec)
            self.assertEqual(base64.b64decode(sec["data"]["password"]), b"s3cret")
            self.assertEqual(sec["type"], "Opaque")
            svc = s.get("/api/v1/namespaces/demo/services/app")[2]
            ip = ipaddress.ip_address(svc["spec"]["clusterIP"])
            self.assertIn(ip, ipaddress.ip_network("10.96.0.0/12"))
            self.assertEqual(svc["spec"]["clusterIPs"], [svc["spec"]["clusterIP"]])
            self.assertEqual(svc["spec"]["type"], "ClusterIP")
            self.assertEqual(svc["spec"]["ports"][0]["protocol"], "TCP")
            self.assertEqual(svc["spec"]["sessionAffinity"], "None")
            cm = s.get("/api/v1/namespaces/demo/configmaps/app")[2]
            rv1 = cm["metadata"]["resourceVersion"]
            sec_rv = sec["metadata"]["resourceVersion"]

            # second client-side apply: strategic merge patch computed from last-applied
            s.control("/requests/clear")
            out = s.kubectl(v, "apply", *val, "-f", "-", input=APP_V2).stdout
            self.assertIn("configmap/app configured", out)
            # kubectl re-sends stringData (absent from the live object); the server folds it
            # into identical data, so the write is a no-op that keeps the resourceVersion
            self.assertIn("secret/app configured", out)
            self.assertEqual(s.get("/api/v1/namespaces/demo/secrets/app")[2]["metadata"]["resourceVersion"], sec_rv)
            cm = s.get("/api/v1/namespaces/demo/configmaps/app")[2]
            self.assertEqual(cm["data"], {"keep": "1", "added": "3"})
            self.assertGreater(int(cm["metadata"]["resourceVersion"]), int(rv1))
            svc2 = s.get("/api/v1/namespaces/demo/services/app")[2]
            self.assertEqual([p["port"] for p in svc2["spec"]["ports"]], [81])
            self.assertEqual(svc2["spec"]["clusterIP"], svc["spec"]["clusterIP"], "cluster IP is kept")
            patches = [r for r in s.control("/requests") if r["method"] == "PATCH"]
            if not REAL:  # an audit log does not show a request's Content-Type
                self.assertEqual({r["content_type"] for r in patches}, {"application/strategic-merge-patch+json"})
            self.assertEqual(len(patches), 3, patches)

            # kubectl patch: strategic merge adds a port (merge key port), JSON patch edits data
            s.kubectl(v, "patch", "-n", "demo", "service", "app", "-p",
                      '{"spec":{"ports":[{"name":"metrics","port":9090}]}}')
            ports = sorted(p["port"] for p in s.get("/api/v1/namespaces/demo/services/app")[2]["spec"]["ports"])
            self.assertEqual(ports, [81, 9090])
            s.kubectl(v, "patch", "-n", "demo", "configmap", "app", "--type=json",
                      "-p", '[{"op":"replace","path":"/data/keep","value":"one"}]')
            self.assertEqual(s.get("/api/v1/namespaces/demo/configmaps/app")[2]["data"]["keep"], "one")
            p = s.kubectl(v, "patch", "-n", "demo", "configmap", "app", "--type=json",
                          "-p", '[{"op":"test","path":"/data/keep","value":"nope"}]', check=False)
            self.assertNotEqual(p.returncode, 0)

            # custom resources: client-side apply uses merge patch; strategic merge is 415
            s.kubectl(v, "apply", *val, "-f", MESHCLUSTER_CRD)
            s.kubectl(v, "wait", "--for=condition=Established", "crd/meshclusters.meshcluster.io")
            s.kubectl(v, "apply", *val, "-f", MESHCLUSTER_SAMPLE)
            s.control("/requests/clear")
            with open(MESHCLUSTER_SAMPLE) as f:
                sample = f.read().replace("network-east", "network-x")
            s.kubectl(v, "apply", *val, "-f", "-", input=sample)
            patches = [r for r in s.control("/requests") if r["method"] == "PATCH"]
            self.assertEqual(len(patches), 1, patches)
            if not REAL:
                self.assertEqual([r["content_type"] for r in patches], ["application/merge-patch+json"])
            mc = s.get("/apis/meshcluster.io/v1alpha1/meshclusters/east")[2]
            self.assertEqual(mc["spec"]["network"], "network-x")
            self.assertEqual(mc["metadata"]["generation"], 2)
            p = s.kubectl(v, "patch", "meshcluster", "east", "--type=strategic", "-p", '{"spec":{"network":"y"}}',
                          check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("UnsupportedMediaType", s.request("PATCH", "/apis/meshcluster.io/v1alpha1/meshclusters/east",
                          body="{}", ctype="application/strategic-merge-patch+json")[2]["reason"])
            self.gc(s, v, mc)

            # delete from YAML
            out = s.kubectl(v, "delete", "-f", "-", input=APP_V2).stdout
            self.assertEqual(out.count("deleted"), 3, out)
            for kind in ("configmaps", "secrets", "services"):
                code, _, st = s.get("/api/v1/namespaces/demo/%s/app" % kind)
                self.assertEqual(code, 404)
                self.assertEqual((st["reason"], st["details"]["kind"]), ("NotFound", kind))

    def gc(self, s, v, owner):
        """A cluster-scoped owner (the MeshCluster) with namespaced dependents."""
        ref = {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "name": "east",
               "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True}

        def dependent(name):
            return {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "demo", "ownerReferences": [ref]}}
        docs = "---\n".join(yaml.safe_dump(dependent(n)) for n in ("dep-a", "dep-b"))
        s.kubectl(v, "create", *validate_args(v), "-f", "-", input=docs)
        s.kubectl(v, "delete", "meshcluster", "east", "--cascade=orphan")
        code, _, a = s.get("/api/v1/namespaces/demo/configmaps/dep-a")
        self.assertEqual(code, 200)
        self.assertNotIn("ownerReferences", a["metadata"])

        # background: the owner goes at once, the garbage collector removes dependents after
        s.kubectl(v, "apply", *validate_args(v), "-f", MESHCLUSTER_SAMPLE)
        owner = s.get("/apis/meshcluster.io/v1alpha1/meshclusters/east")[2]
        ref["uid"] = owner["metadata"]["uid"]
        s.kubectl(v, "create", *validate_args(v), "-f", "-", input=json.dumps(dependent("dep-c")))
        s.kubectl(v, "delete", "meshcluster", "east")
        wait_for(lambda: s.get("/api/v1/namespaces/demo/configmaps/dep-c")[0] == 404, what="background GC")

        # foreground: the owner waits (deletionTimestamp + foregroundDeletion) for a blocking
        # dependent, which here holds a finalizer
        s.kubectl(v, "apply", *validate_args(v), "-f", MESHCLUSTER_SAMPLE)
        owner = s.get("/apis/meshcluster.io/v1alpha1/meshclusters/east")[2]
        ref["uid"] = owner["metadata"]["uid"]
        d = dependent("dep-d")
        d["metadata"]["finalizers"] = ["example.com/hold"]
        s.kubectl(v, "create", *validate_args(v), "-f", "-", input=json.dumps(d))
        s.kubectl(v, "delete", "meshcluster", "east", "--cascade=foreground", "--wait=false")
        o = s.get("/apis/meshcluster.io/v1alpha1/meshclusters/east")[2]
        self.assertIn("foregroundDeletion", o["metadata"]["finalizers"])
        self.assertIn("deletionTimestamp", o["metadata"])
        wait_for(lambda: "deletionTimestamp" in s.get("/api/v1/namespaces/demo/configmaps/dep-d")[2]["metadata"],
                 what="dependent marked for deletion")
        self.assertEqual(s.get("/apis/meshcluster.io/v1alpha1/meshclusters/east")[0], 200)
        s.kubectl(v, "patch", "-n", "demo", "configmap", "dep-d", "--type=merge", "-p",
                  '{"metadata":{"finalizers":null}}')
        wait_for(lambda: s.get("/apis/meshcluster.io/v1alpha1/meshclusters/east")[0] == 404, what="foreground GC")
        self.assertEqual(s.get("/api/v1/namespaces/demo/configmaps/dep-d")[0], 404)

    def test_kubectl_versions(self):
        for v in kubectl_versions():
            with self.subTest(kubectl=v):
                self.run_version(v)


if __name__ == "__main__":
    main()
