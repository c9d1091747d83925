#!/usr/bin/python3
"""Proves the server's request semantics over HTTPS: authentication (anonymous, bad token),
discovery and OpenAPI documents, Status objects for NotFound/AlreadyExists/Conflict/Invalid/
BadRequest/MethodNotAllowed/UnsupportedMediaType, resourceVersion and generation rules, no-op
writes, finalizers, Service and name validation, namespace existence, protobuf request bodies,
label/field selectors and dry-run; built-in decode errors are 400, allocated Service fields are
owned by nobody, Strict apply bodies with unknown fields are 400 before conflicts."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import Server  # noqa: E402

CMS = "/api/v1/namespaces/default/configmaps"
SVCS = "/api/v1/namespaces/default/services"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "required": ["size"], "properties": {
                                   "size": {"type": "integer"}}},
                               "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


class HttpSemantics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server()

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def status(self, resp, code, reason):
        c, h, st = resp
        self.assertEqual(c, code, st)
        self.assertEqual(st["kind"], "Status")
        self.assertEqual(st["apiVersion"], "v1")
        self.assertEqual(st["status"], "Failure")
        self.assertEqual(st["code"], code)
        self.assertEqual(st["reason"], reason)
        self.assertEqual(st["metadata"], {})
        return st

    def test_auth(self):
        s = self.s
        self.assertEqual(s.get("/version", token="")[0], 200)
        st = self.status(s.get("/api", token=""), 403, "Forbidden")
        self.assertEqual(st["message"], 'forbidden: User "system:anonymous" cannot get path "/api"')
        st = self.status(s.get(CMS, token="wrong"), 401, "Unauthorized")
        self.assertEqual(st["message"], "Unauthorized")

    def test_discovery_and_openapi(self):
        s = self.s
        self.assertEqual(s.get("/version")[2]["gitVersion"], "v1.32.0")
        self.assertEqual(s.get("/api")[2]["versions"], ["v1"])
        v1 = {r["name"]: r for r in s.get("/api/v1")[2]["resources"]}
        self.assertEqual(v1["services"]["shortNames"], ["svc"])
        self.assertEqual(v1["services/status"]["verbs"], ["get", "patch", "update"])
        self.assertTrue(v1["configmaps"]["namespaced"])
        self.assertFalse(v1["namespaces"]["namespaced"])
        groups = {g["name"] for g in s.get("/apis")[2]["groups"]}
        self.assertIn("coordination.k8s.io", groups)
        self.assertEqual(s.get("/openapi/v2")[0], 404)
        idx = s.get("/openapi/v3")[2]["paths"]
        self.assertIn("?hash=", idx["api/v1"]["serverRelativeURL"])
        doc = s.get(idx["api/v1"]["serverRelativeURL"])[2]
        self.assertIn("io.k8s.api.core.v1.Service", doc["components"]["schemas"])
        self.assertIn(s.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)[0], (201, 409))
        idx = s.get("/openapi/v3")[2]["paths"]
        self.assertIn("apis/example.com/v1", idx)
        doc = s.get(idx["apis/example.com/v1"]["serverRelativeURL"])[2]
        text = json.dumps(doc)
        self.assertIn("x-kubernetes-group-version-kind", text)
        self.assertIn("fieldValidation", text)
        res = {r["name"]: r for r in s.get("/apis/example.com/v1")[2]["resources"]}
        self.assertEqual(res["widgets"]["shortNames"], ["wd"])
        self.assertIn("widgets/status", res)

    def test_crud_status_shapes(self):
        s = self.s
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "crud"}, "data": {"a": "1"}}
        code, _, created = s.request("POST", CMS, cm)
        self.assertEqual(code, 201)
        md = created["metadata"]
        for k in ("uid", "resourceVersion", "creationTimestamp"):
            self.assertIn(k, md)
        st = self.status(s.request("POST", CMS, cm), 409, "AlreadyExists")
        self.assertEqual(st["message"], 'configmaps "crud" already exists')
        self.assertEqual(st["details"], {"name": "crud", "kind": "configmaps"})
        st = self.status(s.get(CMS + "/nope"), 404, "NotFound")
        self.assertEqual(st["message"], 'configmaps "nope" not found')
        # stale resourceVersion on PUT
        stale = dict(created, data={"a": "2"})
        self.assertEqual(s.request("PUT", CMS + "/crud", stale)[0], 200)
        st = self.status(s.request("PUT", CMS + "/crud", dict(created, data={"a": "3"})), 409, "Conflict")
        self.assertEqual(st["message"], 'Operation cannot be fulfilled on configmaps "crud": the object has been '
                         "modified; please apply your changes to the latest version and try again")
        # name mismatch
        st = self.status(s.request("PUT", CMS + "/other", dict(created)), 400, "BadRequest")
        self.assertIn("does not match the name on the URL", st["message"])
        # no-op update keeps the resourceVersion
        cur = s.get(CMS + "/crud")[2]
        again = s.request("PUT", CMS + "/crud", cur)[2]
        self.assertEqual(again["metadata"]["resourceVersion"], cur["metadata"]["resourceVersion"])
        # unsupported patch type, method not allowed
        self.status(s.request("PATCH", CMS + "/crud", "{}", ctype="text/plain"), 415, "UnsupportedMediaType")
        self.status(s.request("PUT", CMS, cur), 405, "MethodNotAllowed")
        # delete returns Status Success for configmaps
        code, _, st = s.request("DELETE", CMS + "/crud")
        self.assertEqual((code, st["status"], st["details"]["name"]), (200, "Success", "crud"))
        # dry run stores nothing
        code, _, _ = s.request("POST", CMS + "?dryRun=All", dict(cm, metadata={"name": "dry"}))
        self.assertEqual(code, 201)
        self.assertEqual(s.get(CMS + "/dry")[0], 404)

    def test_validation(self):
        s = self.s
        st = self.status(s.request("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": "Bad_Name"}}), 422, "Invalid")
        self.assertTrue(st["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: '
                                                 '"Bad_Name": a lowercase RFC 1123 subdomain'), st["message"])
        self.assertEqual(st["details"]["causes"][0]["field"], "metadata.name")
        st = self.status(s.request("POST", SVCS, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "en"},
                                                  "spec": {"type": "ExternalName"}}), 422, "Invalid")
        self.assertEqual(st["message"], 'Service "en" is invalid: spec.externalName: Required value')
        st = self.status(s.request("POST", "/api/v1/namespaces/missing/configmaps",
                                   {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
                         404, "NotFound")
        self.assertEqual(st["message"], 'namespaces "missing" not found')
        st = self.status(s.request("POST", CMS + "?fieldValidation=Strict",
                                   {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u"},
                                    "dta": {"a": "1"}}), 400, "BadRequest")
        self.assertEqual(st["message"], 'strict decoding error: unknown field "dta"')
        code, headers, _ = s.request("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap",
                                                   "metadata": {"name": "w"}, "dta": {"a": "1"}})
        self.assertEqual(code, 201)
        self.assertEqual(headers["Warning"], '299 - "unknown field \\"dta\\""')
        st = self.status(s.request("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "fin", "finalizers": ["unqualified"]}}), 422, "Invalid")
        self.assertEqual(st["details"]["causes"][0]["message"], 'Invalid value: "unqualified": name is neither a '
                         "standard finalizer name nor is it fully qualified")
        lb = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
              "spec": {"type": "LoadBalancer", "loadBalancerClass": "tailscale", "ports": [{"port": 80}]}}
        code, _, svc = s.request("POST", SVCS, lb)
        self.assertEqual(code, 201)
        self.assertTrue(svc["spec"]["ports"][0]["nodePort"] >= 30000)
        svc["spec"]["loadBalancerClass"] = "other"
        st = self.status(s.request("PUT", SVCS + "/lb", svc), 422, "Invalid")
        self.assertEqual(st["details"]["causes"][0]["field"], "spec.loadBalancerClass")

    def test_custom_resource_rules(self):
        s = self.s
        s.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
        base = "/apis/example.com/v1/namespaces/default/widgets"
        w = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"},
             "spec": {"size": 1}, "status": {"x": 1}}
        code, _, obj = s.request("POST", base, w)
        self.assertEqual(code, 201)
        self.assertNotIn("status", obj, "create drops status when it is a subresource")
        self.assertEqual(obj["metadata"]["generation"], 1)
        nov = dict(obj)
        nov["metadata"] = dict(obj["metadata"])
        del nov["metadata"]["resourceVersion"]
        st = self.status(s.request("PUT", base + "/w1", nov), 422, "Invalid")
        self.assertIn("metadata.resourceVersion", st["message"])
        st = self.status(s.request("POST", base, dict(w, metadata={"name": "w2"}, spec={"size": "big"})),
                         422, "Invalid")
        self.assertEqual(st["details"]["kind"], "Widget")
        self.assertEqual(st["details"]["group"], "example.com")
        code, headers, _ = s.request("POST", base, dict(w, metadata={"name": "w3", "finalizers": ["plain"]}))
        self.assertEqual(code, 201)
        self.assertIn("prefer a domain-qualified finalizer name", headers["Warning"])
        code, _, obj = s.request("PATCH", base + "/w1/status", {"status": {"ready": True}},
                                 ctype="application/merge-patch+json")
        self.assertEqual((code, obj["status"], obj["metadata"]["generation"]), (200, {"ready": True}, 1))
        code, _, obj = s.request("PATCH", base + "/w1", {"spec": {"size": 2}, "status": {"ready": False}},
                                 ctype="application/merge-patch+json")
        self.assertEqual((obj["metadata"]["generation"], obj["status"]), (2, {"ready": True}))
        self.status(s.request("PATCH", base + "/w1", {}, ctype="application/strategic-merge-patch+json"),
                    415, "UnsupportedMediaType")
        # finalizer: delete marks, removal completes, generation bumps on deletionTimestamp
        s.request("PATCH", base + "/w1", {"metadata": {"finalizers": ["example.com/f"]}},
                  ctype="application/merge-patch+json")
        code, _, obj = s.request("DELETE", base + "/w1")
        self.assertEqual(code, 200)
        self.assertIn("deletionTimestamp", obj["metadata"])
        self.assertEqual(obj["metadata"]["generation"], 3)
        s.request("PATCH", base + "/w1", {"metadata": {"finalizers": None}}, ctype="application/merge-patch+json")
        self.assertEqual(s.get(base + "/w1")[0], 404)

    def test_decode_errors_ownership_and_strict_apply(self):
        s = self.s
        # a wrong type in a built-in is a decode error: 400, not 422
        st = self.status(s.request("POST", SVCS, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "sp"},
                                                  "spec": {"ports": [{"port": "80"}]}}), 400, "BadRequest")
        self.assertEqual(st["message"], 'Service in version "v1" cannot be handled as a Service: json: cannot '
                         'unmarshal string into Go struct field ServicePort.spec.ports.port of type int32')
        st = self.status(s.request("POST", "/api/v1/namespaces/default/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b64"}, "data": {"k": "!!!!"}}),
            400, "BadRequest")
        self.assertTrue(st["message"].startswith('Secret in version "v1" cannot be handled as a Secret: '
                                                 "illegal base64 data"), st["message"])
        # each broken Service rule is reported once
        st = self.status(s.request("POST", SVCS, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "two"},
                                                  "spec": {"ports": [{"port": 0}, {"port": 81}]}}), 422, "Invalid")
        fields = [c["field"] for c in st["details"]["causes"]]
        self.assertEqual(sorted(fields), sorted(set(fields)), fields)
        self.assertIn("spec.ports[0].port", fields)
        # what the registry allocates is owned by nobody; what defaulting sets is the writer's
        code, _, svc = s.request("POST", SVCS + "?fieldManager=maker", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "owned"},
            "spec": {"type": "NodePort", "ports": [{"port": 80}]}})
        self.assertEqual(code, 201)
        self.assertTrue(svc["spec"]["clusterIP"] and svc["spec"]["ports"][0]["nodePort"])
        spec = svc["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
        for f in ("f:clusterIP", "f:clusterIPs", "f:ipFamilies", "f:ipFamilyPolicy"):
            self.assertNotIn(f, spec)
        self.assertIn("f:sessionAffinity", spec)
        self.assertNotIn("f:nodePort", json.dumps(spec))
        # Strict apply with an unknown field: 400 before any conflict is looked at
        s.request("PATCH", CMS + "/sa?fieldManager=one", {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "sa"}, "data": {"a": "1"}}, ctype="application/apply-patch+yaml")
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sa"}, "data": {"a": "2"}, "x": 1}
        st = self.status(s.request("PATCH", CMS + "/sa?fieldManager=two&fieldValidation=Strict", body,
                                   ctype="application/apply-patch+yaml"), 400, "BadRequest")
        self.assertTrue(st["message"].endswith(".x: field not declared in schema"), st["message"])
        del body["x"]
        self.status(s.request("PATCH", CMS + "/sa?fieldManager=two&fieldValidation=Strict", body,
                              ctype="application/apply-patch+yaml"), 409, "Conflict")
        # a custom resource sent back with its managedFields is no Strict error
        s.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
        base = "/apis/example.com/v1/namespaces/default/widgets"
        code, _, w = s.request("POST", base, {"apiVersion": "example.com/v1", "kind": "Widget",
                                              "metadata": {"name": "mf"}, "spec": {"size": 1}})
        self.assertEqual(code, 201)
        self.assertTrue(w["metadata"]["managedFields"])
        w["spec"]["size"] = 2
        code, headers, w = s.request("PUT", base + "/mf?fieldValidation=Strict", w)
        self.assertEqual(code, 200, w)
        self.assertNotIn("Warning", headers)

    def test_selectors_and_protobuf(self):
        s = self.s
        for name, env in (("sel-a", "prod"), ("sel-b", "dev"), ("sel-c", "prod")):
            s.request("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": name, "labels": {"env": env}}})
        names = lambda q: [i["metadata"]["name"] for i in s.get(CMS + "?" + q)[2]["items"]]  # noqa: E731
        self.assertEqual(names("labelSelector=env%3Dprod"), ["sel-a", "sel-c"])
        self.assertEqual(names("labelSelector=env+in+(dev)"), ["sel-b"])
        self.assertEqual(names("labelSelector=env%21%3Dprod,env"), ["sel-b"])
        self.assertEqual(names("fieldSelector=metadata.name%3Dsel-c"), ["sel-c"])
        st = self.status(s.get(CMS + "?fieldSelector=data.a%3D1"), 400, "BadRequest")
        self.assertEqual(st["message"], "field label not supported: data.a")
        lst = s.get(CMS)[2]
        self.assertEqual(lst["kind"], "ConfigMapList")
        self.assertNotIn("kind", lst["items"][0], "built-in list items carry no kind, like the real server")
        # protobuf body as typed clients send it: k8s\0 + Unknown{typeMeta, raw ConfigMap}

        def field(n, data):
            return bytes([n << 3 | 2, len(data)]) + data
        meta = field(1, b"proto-cm")
        entry = field(1, b"k") + field(2, b"v")
        raw = field(1, meta) + field(2, entry)
        body = b"k8s\x00" + field(1, field(1, b"v1") + field(2, b"ConfigMap")) + field(2, raw)
        code, _, obj = s.request("POST", CMS, body, ctype="application/vnd.kubernetes.protobuf")
        self.assertEqual(code, 201, obj)
        self.assertEqual((obj["metadata"]["name"], obj["data"]), ("proto-cm", {"k": "v"}))


class Authorization(unittest.TestCase):
    """Where the token allow-list must act like RBAC: an apply that creates needs `create`
    (a patch-only token gets 403 on a missing object, 200 on an existing one), and only the
    admin may impersonate (as a user with no rules, it is refused)."""

    def test_apply_create_needs_create_and_impersonation(self):
        patch_only = {"user": "patcher", "allow": [{"verbs": ["patch", "get"], "resources": ["configmaps"]}]}
        with Server(tokens={"patch-only": patch_only}) as s:
            body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ap"}})
            apply = "application/apply-patch+yaml"
            code, _, st = s.request("PATCH", CMS + "/ap?fieldManager=t", body, ctype=apply, token="patch-only")
            self.assertEqual((code, st["reason"]), (403, "Forbidden"), st)
            self.assertIn("cannot create resource", st["message"])
            self.assertEqual(s.request("PATCH", CMS + "/ap?fieldManager=t", body, ctype=apply)[0], 201)
            code, _, obj = s.request("PATCH", CMS + "/ap?fieldManager=t", body, ctype=apply, token="patch-only")
            self.assertEqual(code, 200, obj)
            code, _, st = s.get(CMS, headers={"Impersonate-User": "nobody"})
            self.assertEqual((code, st["reason"]), (403, "Forbidden"), st)
            self.assertIn('User "nobody" cannot list', st["message"])
            self.assertEqual(s.get(CMS + "/ap", headers={"Impersonate-User": "patcher"})[0], 200)
            code, _, st = s.get(CMS, headers={"Impersonate-User": "patcher"})
            self.assertEqual(code, 403, st)
            self.assertEqual(s.get(CMS, headers={"Impersonate-User": "x", "Impersonate-Group": "system:masters"})[0],
                             200)
            code, _, st = s.get(CMS, token="patch-only", headers={"Impersonate-User": "admin"})
            self.assertEqual(code, 403, st)
            self.assertIn("cannot impersonate", st["message"])


class RealServerRules(unittest.TestCase):
    """Rules measured on real kube-apiserver 1.34 (tests/differential) that the lite server
    keeps without a real cluster: Lease updates, size limits, MicroTime, a selector-leaving
    DELETED carrying the old object, node-port allocation, immutable ConfigMaps, and lists at
    resourceVersion=0 served whole."""

    def test_rules(self):
        leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                 "spec": {"holderIdentity": "a"}}
        with Server() as s:
            self.assertEqual(s.request("PUT", leases + "/l", lease)[0], 201)  # creates
            code, _, st = s.request("PUT", leases + "/l", lease)
            self.assertEqual((code, st["details"]["causes"][0]["field"]), (422, "metadata.resourceVersion"))
            bad = dict(lease, metadata={"name": "m"}, spec={"renewTime": "2020-01-01T00:00:00Z"})
            self.assertEqual(s.request("POST", leases, bad)[0], 400)  # MicroTime needs .000000
            big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                   "data": {"k": "x" * (1024 * 1024)}}
            code, _, st = s.request("POST", CMS, big)
            self.assertEqual((code, st["details"]["causes"][0]["reason"]), (422, "FieldValueTooLong"))
            big["data"] = {"k%d" % i: "x" * (512 * 1024) for i in range(7)}
            self.assertEqual(s.request("POST", CMS, big)[0], 413)
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sel", "labels": {"a": "in"}},
                  "data": {"k": "1"}}
            rv = s.request("POST", CMS, cm)[2]["metadata"]["resourceVersion"]
            cm["metadata"]["labels"] = {"a": "out"}
            cm["data"] = {"k": "2"}
            rv2 = s.request("PUT", CMS + "/sel", cm)[2]["metadata"]["resourceVersion"]
            evs = list(s.watch(CMS + "?watch=1&timeoutSeconds=1&labelSelector=a%3Din&resourceVersion=" + rv))
            self.assertEqual([(e["type"], e["object"]["metadata"]["labels"], e["object"]["data"],
                               e["object"]["metadata"]["resourceVersion"]) for e in evs],
                             [("DELETED", {"a": "in"}, {"k": "1"}, rv2)])

    def test_allocations_and_immutability(self):
        def svc(name, **port):
            return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                    "spec": {"type": "NodePort", "ports": [dict(port, port=80)]}}
        with Server() as s:
            self.assertEqual(s.request("POST", SVCS, svc("a", nodePort=30123))[0], 201)
            for name, port in (("b", 30123), ("c", 20000)):
                code, _, st = s.request("POST", SVCS, svc(name, nodePort=port))
                self.assertEqual((code, st["details"]["causes"][0]["field"]), (422, "spec.ports[0].nodePort"))
            self.assertEqual(s.request("DELETE", SVCS + "/a")[0], 200)
            self.assertEqual(s.request("POST", SVCS, svc("b", nodePort=30123))[0], 201)  # freed
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "im"}, "data": {"k": "1"},
                  "immutable": True}
            self.assertEqual(s.request("POST", CMS, cm)[0], 201)
            merge = "application/merge-patch+json"
            code, _, st = s.request("PATCH", CMS + "/im", {"data": {"k": "2"}}, ctype=merge)
            self.assertEqual((code, st["details"]["causes"][0]["field"]), (422, "data"))
            code, _, st = s.request("PATCH", CMS + "/im", {"immutable": False}, ctype=merge)
            self.assertEqual((code, st["details"]["causes"][0]["field"]), (422, "immutable"))
            for i in range(3):
                s.request("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p%d" % i}})
            got = s.get(CMS + "?limit=1&resourceVersion=0")[2]
            self.assertEqual((len(got["items"]) > 1, got["metadata"].get("continue")), (True, None))


if __name__ == "__main__":
    unittest.main(verbosity=2)
