"""Proves kal.schema loads the real 1.32 OpenAPI documents and the real Istio/Tailscale CRDs,
validates objects with the reasons, fields and message texts a real kube-apiserver uses, applies
CRD defaults and pruning, reports merge metadata, and builds CRD OpenAPI v3 documents that
kubectl 1.29+ accept for server-side field validation."""
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from unit import support  # noqa: E402
from unit.support import clone  # noqa: E402
from kal.schema import SchemaRegistry, gvk_for  # noqa: E402

SVC = ("", "v1", "Service")
MC = ("meshcluster.io", "v1alpha1", "MeshCluster")
GW = ("networking.istio.io", "v1", "Gateway")
CRD = ("apiextensions.k8s.io", "v1", "CustomResourceDefinition")

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "eastwest", "labels": {"app": "x"}},
           "spec": {"type": "LoadBalancer", "selector": {"app": "x"},
                    "ports": [{"name": "tls", "port": 15443, "targetPort": 15443},
                              {"name": "status", "port": 15021, "targetPort": "status", "protocol": "TCP"}]}}
MESH = {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": "c1"},
        "spec": {"clusterName": "east", "network": "net1"}}
GATEWAY = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
           "metadata": {"name": "cross-network-gateway", "namespace": "istio-system"},
           "spec": {"selector": {"istio": "eastwestgateway"},
                    "servers": [{"port": {"number": 15443, "name": "tls", "protocol": "TLS"},
                                 "tls": {"mode": "AUTO_PASSTHROUGH"}, "hosts": ["*.local"]}]}}


def cause(reason, field, message):
    return {"reason": reason, "field": field, "message": message}


def with_(obj, path, value):
    """Copy of obj with value set at a dotted path (int steps index lists); value DEL deletes."""
    out = clone(obj)
    cur = out
    steps = [int(s) if s.isdigit() else s for s in path.split(".")]
    for s in steps[:-1]:
        cur = cur[s]
    if value is DEL:
        del cur[steps[-1]]
    else:
        cur[steps[-1]] = value
    return out


DEL = object()


class TestLoading(unittest.TestCase):
    def test_builtin_kinds_indexed_by_gvk(self):
        r = support.registry()
        for gvk in [("", "v1", "Namespace"), SVC, ("", "v1", "Secret"), ("", "v1", "ConfigMap"),
                    ("", "v1", "Event"), ("coordination.k8s.io", "v1", "Lease"), CRD,
                    ("events.k8s.io", "v1", "Event"), ("rbac.authorization.k8s.io", "v1", "Role"),
                    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"), ("apps", "v1", "Deployment")]:
            self.assertTrue(r.has_kind(gvk), gvk)
            self.assertFalse(r.is_crd(gvk), gvk)
        self.assertEqual(gvk_for(None, "v1", "Service"), SVC)

    def test_real_istio_and_tailscale_crds_are_valid_and_load(self):
        r = support.registry()
        crds = support.crds_from([support.ISTIO_CRDS] + support.TAILSCALE_CRDS)
        self.assertGreaterEqual(len(crds), 20)
        for crd in crds:
            res = r.validate(CRD, crd, True)
            self.assertEqual((res.causes, res.unknown_fields, res.decode_error), ([], [], None),
                             crd["metadata"]["name"])
            for ver in crd["spec"]["versions"]:
                self.assertTrue(r.is_crd((crd["spec"]["group"], ver["name"], crd["spec"]["names"]["kind"])))
        self.assertTrue(r.is_crd(("tailscale.com", "v1alpha1", "ProxyClass")))

    def test_remove_crd(self):
        r = SchemaRegistry()
        r.add_crd(clone(support.MESHCLUSTER_CRD))
        self.assertTrue(r.has_kind(MC))
        r.remove_crd("meshclusters.meshcluster.io")
        self.assertFalse(r.has_kind(MC))


class TestBuiltinValidation(unittest.TestCase):
    CASES = [
        ("valid", SERVICE, [], [], None),
        ("bad type", with_(SERVICE, "spec.type", "Foo"),
         [cause("FieldValueNotSupported", "spec.type",
                'Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"')],
         [], None),
        ("port out of range", with_(SERVICE, "spec.ports.0.port", 70000),
         [cause("FieldValueInvalid", "spec.ports[0].port", "Invalid value: 70000: must be between 1 and 65535, inclusive")],
         [], None),
        ("port missing", with_(SERVICE, "spec.ports.0.port", DEL),
         [cause("FieldValueInvalid", "spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive")],
         [], None),
        ("bad protocol", with_(SERVICE, "spec.ports.1.protocol", "ICMP"),
         [cause("FieldValueNotSupported", "spec.ports[1].protocol",
                'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"')], [], None),
        ("unnamed port among several", with_(SERVICE, "spec.ports.0.name", DEL),
         [cause("FieldValueRequired", "spec.ports[0].name", "Required value")], [], None),
        ("unknown fields", with_(with_(SERVICE, "spec.portz", []), "metadata.labelz", {}),
         [], ["metadata.labelz", "spec.portz"], None),
        ("unknown field in list item", with_(SERVICE, "spec.ports.1.nodeport", 1), [], ["spec.ports[1].nodeport"], None),
        ("wrong type is a decode error", with_(SERVICE, "spec.ports.0.port", "15443"),
         [cause("FieldValueTypeInvalid", "spec.ports[0].port",
                'Invalid value: "string": spec.ports[0].port in body must be of type integer: "string"')],
         [], 'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal string into Go '
             'struct field ServicePort.spec.ports.port of type int32'),
        ("externalName required", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "e"},
                                   "spec": {"type": "ExternalName"}},
         [cause("FieldValueRequired", "spec.externalName", "Required value")], [], None),
    ]

    def test_service(self):
        r = support.registry()
        for name, obj, causes, unknown, decode in self.CASES:
            with self.subTest(name):
                res = r.validate(SVC, obj, True)
                self.assertEqual(sorted(res.causes, key=json.dumps), sorted(causes, key=json.dumps))
                self.assertEqual(sorted(res.unknown_fields), unknown)
                self.assertEqual(res.decode_error, decode)

    def test_configmap_keys_and_secret_base64(self):
        r = support.registry()
        res = r.validate(("", "v1", "ConfigMap"), {"metadata": {"name": "c"}, "data": {"bad key": "v", "ok.k": "v"}}, True)
        self.assertEqual([c["field"] for c in res.causes], ["data[bad key]"])
        self.assertTrue(res.causes[0]["message"].startswith(
            'Invalid value: "bad key": a valid config key must consist of alphanumeric characters'))
        res = r.validate(("", "v1", "Secret"), {"metadata": {"name": "s"}, "data": {"k": "not base64!"}}, True)
        self.assertEqual(res.decode_error, "illegal base64 data at input byte 3")
        res = r.validate(("", "v1", "Secret"), {"metadata": {"name": "s"}, "data": {"k": "dmFsdWU="},
                                                "stringData": {"x": "y"}}, True)
        self.assertTrue(res.ok)

    def test_required_from_openapi(self):
        r = support.registry()
        res = r.validate(("apps", "v1", "Deployment"), {"metadata": {"name": "d"}, "spec": {}}, True)
        self.assertEqual(sorted(c["field"] for c in res.causes), ["spec.selector", "spec.template"])
        self.assertEqual({c["message"] for c in res.causes}, {"Required value"})
        res = r.validate(("events.k8s.io", "v1", "Event"), {"metadata": {"name": "e"}}, True)
        self.assertEqual(res.causes, [cause("FieldValueRequired", "eventTime", "Required value")])

    def test_builtin_prune_drops_unknown_and_nulls(self):
        r = support.registry()
        obj = with_(with_(SERVICE, "spec.bogus", 1), "metadata.annotations", None)
        self.assertEqual(r.apply_defaults_and_prune(SVC, obj), SERVICE)


class TestCrdValidation(unittest.TestCase):
    CASES = [
        ("valid", MESH, [], []),
        ("missing required", with_(MESH, "spec.network", DEL),
         [cause("FieldValueRequired", "spec.network", "Required value")], []),
        ("wrong type", with_(MESH, "spec.replicas", "three"),
         [cause("FieldValueTypeInvalid", "spec.replicas",
                'Invalid value: "string": spec.replicas in body must be of type integer: "string"')], []),
        ("enum", with_(MESH, "spec.mode", "x"),
         [cause("FieldValueNotSupported", "spec.mode", 'Unsupported value: "x": supported values: "primary", "remote"')], []),
        ("too long", with_(MESH, "spec.clusterName", "abcdefghij"),
         [cause("FieldValueTooLong", "spec.clusterName", "Too long: may not be more than 8 bytes")], []),
        ("pattern", with_(MESH, "spec.clusterName", "9east"),
         [cause("FieldValueInvalid", "spec.clusterName",
                "Invalid value: \"9east\": spec.clusterName in body should match '^[a-z][-a-z0-9]*$'")], []),
        ("minimum", with_(MESH, "spec.replicas", 0),
         [cause("FieldValueInvalid", "spec.replicas",
                "Invalid value: 0: spec.replicas in body should be greater than or equal to 1")], []),
        ("int-or-string int", with_(MESH, "spec.port", 15443), [], []),
        ("int-or-string string", with_(MESH, "spec.port", "tls"), [], []),
        ("int-or-string bool", with_(MESH, "spec.port", True),
         [cause("FieldValueTypeInvalid", "spec.port",
                'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"')], []),
        ("preserve unknown", with_(MESH, "spec.extra", {"any": {"thing": [1]}}), [], []),
        ("embedded resource", with_(MESH, "spec.template", {"apiVersion": "v1", "kind": "X",
                                                            "metadata": {"name": "n", "bogus": 1},
                                                            "spec": {"a": "b", "c": 1}}),
         [], ["spec.template.metadata.bogus", "spec.template.spec.c"]),
        ("unknown field", with_(with_(MESH, "spec.networks", "n"), "metadata.labelz", {}), [],
         ["metadata.labelz", "spec.networks"]),
        ("list map duplicate", with_(MESH, "spec.peers", [{"name": "a"}, {"name": "a"}]),
         [cause("FieldValueDuplicate", "spec.peers[1]", 'Duplicate value: {"name":"a"}')], []),
        ("set duplicate", with_(MESH, "spec.tags", ["x", "x"]),
         [cause("FieldValueDuplicate", "spec.tags[1]", 'Duplicate value: "x"')], []),
        ("item required", with_(MESH, "spec.peers", [{"address": "1.2.3.4"}]),
         [cause("FieldValueRequired", "spec.peers[0].name", "Required value")], []),
        ("null of a non-nullable field is pruned, then defaulted", with_(MESH, "spec.replicas", None), [], []),
        ("null where a value is required", with_(MESH, "spec.network", None),
         [cause("FieldValueRequired", "spec.network", "Required value")], []),
        ("managedFields fieldsV1 is opaque", with_(MESH, "metadata.managedFields", [{
            "manager": "m", "operation": "Apply", "apiVersion": "meshcluster.io/v1alpha1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:clusterName": {}}}}]), [], []),
        ("but a managedFields entry is typed", with_(MESH, "metadata.managedFields", [{"managerz": "m"}]),
         [], ["metadata.managedFields[0].managerz"]),
        ("metadata typed as ObjectMeta", with_(MESH, "metadata.labels", {"a": 1}),
         [cause("FieldValueTypeInvalid", "metadata.labels[a]",
                'Invalid value: "integer": metadata.labels[a] in body must be of type string: "integer"')], []),
    ]

    def test_meshcluster(self):
        r = support.registry()
        for name, obj, causes, unknown in self.CASES:
            with self.subTest(name):
                res = r.validate(MC, obj, True)
                self.assertEqual(res.causes, causes)
                self.assertEqual(sorted(res.unknown_fields), unknown)
                self.assertIsNone(res.decode_error)

    def test_required_field_with_default_is_satisfied_by_defaulting(self):
        r = SchemaRegistry()
        crd = clone(support.MESHCLUSTER_CRD)
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["required"].append("mode")
        r.add_crd(crd)
        self.assertEqual(r.validate(MC, MESH, True).causes, [])

    def test_istio_gateway(self):
        r = support.registry()
        res = r.validate(GW, GATEWAY, True)
        self.assertEqual((res.causes, res.unknown_fields), ([], []))
        bad = with_(with_(with_(GATEWAY, "spec.servers.0.port.number", "x"), "spec.servers.0.tls.mode", "NOPE"),
                    "spec.server", [])
        res = r.validate(GW, bad, True)
        self.assertEqual(res.unknown_fields, ["spec.server"])
        self.assertEqual(res.causes, [
            cause("FieldValueTypeInvalid", "spec.servers[0].port.number",
                  'Invalid value: "string": spec.servers[0].port.number in body must be of type integer: "string"'),
            cause("FieldValueNotSupported", "spec.servers[0].tls.mode",
                  'Unsupported value: "NOPE": supported values: "PASSTHROUGH", "SIMPLE", "MUTUAL", '
                  '"AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"')])

    def test_defaults_and_pruning(self):
        r = support.registry()
        obj = with_(with_(with_(with_(MESH, "spec.peers", [{"name": "a", "junk": 1}]), "spec.bogus", 1),
                          "spec.extra", {"kept": True}), "metadata.bogus", "x")
        obj = with_(obj, "spec.template", {"apiVersion": "v1", "kind": "X", "metadata": {"name": "n", "z": 1},
                                           "spec": {"a": "b", "c": 1}})
        out = r.apply_defaults_and_prune(MC, obj)
        self.assertEqual(out, {
            "apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": "c1"},
            "spec": {"clusterName": "east", "network": "net1", "replicas": 1, "mode": "primary",
                     "peers": [{"name": "a", "weight": 10}], "extra": {"kept": True},
                     "template": {"apiVersion": "v1", "kind": "X", "metadata": {"name": "n"},
                                  "spec": {"a": "b"}}}})
        self.assertIn("bogus", obj["spec"], "input must not be modified")


class TestMergeInfo(unittest.TestCase):
    def test_table(self):
        r = support.registry()
        dep = ("apps", "v1", "Deployment")
        cases = [
            (SVC, "spec.ports", {"patch_strategy": "merge", "patch_merge_key": "port", "list_type": "map",
                                 "list_map_keys": ["port", "protocol"]}),
            (dep, ["spec", "template", "spec", "containers"],
             {"patch_strategy": "merge", "patch_merge_key": "name", "list_type": "map", "list_map_keys": ["name"]}),
            (dep, "spec.template.spec.containers.ports",
             {"patch_merge_key": "containerPort", "list_map_keys": ["containerPort", "protocol"]}),
            (SVC, "metadata.finalizers", {"patch_strategy": "merge", "list_type": "set", "patch_merge_key": None}),
            (SVC, "spec.selector", {"map_type": "atomic", "type": "object"}),
            (SVC, "spec.clusterIPs", {"list_type": "atomic", "patch_strategy": None}),
            (MC, "spec.peers", {"list_type": "map", "list_map_keys": ["name"], "patch_strategy": None}),
            (MC, "spec.tags", {"list_type": "set"}),
            (MC, "spec.args", {"list_type": "atomic"}),
            (MC, "metadata.ownerReferences", {"list_type": "map", "list_map_keys": ["uid"]}),
        ]
        for gvk, path, want in cases:
            with self.subTest(path=path):
                got = r.merge_info(gvk, path)
                self.assertIsNotNone(got)
                self.assertEqual({k: got.get(k) for k in want}, want)
        self.assertIsNone(r.merge_info(SVC, "spec.nope"))
        self.assertIsNone(r.merge_info(("x", "v1", "Nope"), "spec"))


class TestCrdOpenAPI(unittest.TestCase):
    def test_document_shape(self):
        r = support.registry()
        doc = r.openapi_v3_doc_for_crd_group_version("meshcluster.io", "v1alpha1")
        self.assertTrue(doc["openapi"].startswith("3.0"))
        schemas = doc["components"]["schemas"]
        s = schemas["io.meshcluster.v1alpha1.MeshCluster"]
        self.assertEqual(s["x-kubernetes-group-version-kind"],
                         [{"group": "meshcluster.io", "kind": "MeshCluster", "version": "v1alpha1"}])
        self.assertEqual(s["properties"]["metadata"]["allOf"],
                         [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}])
        self.assertIn("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", schemas)
        self.assertIn("io.meshcluster.v1alpha1.MeshClusterList", schemas)
        # every reference resolves inside the document
        for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(doc))):
            self.assertIn(ref, schemas)
        item = doc["paths"]["/apis/meshcluster.io/v1alpha1/meshclusters/{name}"]
        for verb in ("get", "put", "patch", "delete"):
            self.assertEqual(item[verb]["x-kubernetes-group-version-kind"]["kind"], "MeshCluster")
        names = {p["name"] for p in item["patch"]["parameters"]}
        self.assertTrue({"fieldValidation", "dryRun", "fieldManager", "force"} <= names)
        self.assertIn("post", doc["paths"]["/apis/meshcluster.io/v1alpha1/meshclusters"])
        self.assertIn("/apis/meshcluster.io/v1alpha1/meshclusters/{name}/status", doc["paths"])
        self.assertNotIn("application/strategic-merge-patch+json", item["patch"]["requestBody"]["content"])

    def test_namespaced_istio_group(self):
        r = support.registry()
        doc = r.openapi_v3_doc_for_crd_group_version("networking.istio.io", "v1")
        self.assertIn("io.istio.networking.v1.Gateway", doc["components"]["schemas"])
        self.assertIn("/apis/networking.istio.io/v1/namespaces/{namespace}/gateways/{name}", doc["paths"])
        self.assertIn("/apis/networking.istio.io/v1/gateways", doc["paths"])
        self.assertEqual(r.openapi_v3_doc_for_crd_group_version("nope.io", "v1")["paths"], {})


if __name__ == "__main__":
    unittest.main()
