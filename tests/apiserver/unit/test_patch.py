"""Proves kal.patch applies RFC 6902 JSON patches (every op, pointer escapes, `-`, failing
`test` as 422), RFC 7386 merge patches (the RFC's own examples) and Kubernetes strategic merge
patches with the documented list semantics and directives, without modifying its inputs."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from unit import support  # noqa: E402
from unit.support import clone  # noqa: E402
from kal.patch import PatchError, json_patch, merge_patch, strategic_merge_patch  # noqa: E402

DEP = ("apps", "v1", "Deployment")
SVC = ("", "v1", "Service")
MC = ("meshcluster.io", "v1alpha1", "MeshCluster")


class TestJsonPatch(unittest.TestCase):
    DOC = {"metadata": {"labels": {"a/b": "1", "m~n": "2"}}, "spec": {"list": [1, 2, 3], "x": {"y": 1}}}
    CASES = [
        ("add field", [{"op": "add", "path": "/spec/z", "value": 5}], {"z": 5}),
        ("add escaped", [{"op": "add", "path": "/metadata/labels/c~1d", "value": "3"}], None),
        ("remove escaped", [{"op": "remove", "path": "/metadata/labels/m~0n"}], None),
        ("append with -", [{"op": "add", "path": "/spec/list/-", "value": 4}], {"list": [1, 2, 3, 4]}),
        ("insert at index", [{"op": "add", "path": "/spec/list/0", "value": 0}], {"list": [0, 1, 2, 3]}),
        ("remove index", [{"op": "remove", "path": "/spec/list/1"}], {"list": [1, 3]}),
        ("replace", [{"op": "replace", "path": "/spec/x/y", "value": 2}], {"x": {"y": 2}}),
        ("move", [{"op": "move", "from": "/spec/x/y", "path": "/spec/w"}], {"x": {}, "w": 1}),
        ("copy", [{"op": "copy", "from": "/spec/x", "path": "/spec/w"}], {"w": {"y": 1}}),
        ("test ok then replace", [{"op": "test", "path": "/spec/x/y", "value": 1},
                                  {"op": "replace", "path": "/spec/x/y", "value": 9}], {"x": {"y": 9}}),
    ]

    def test_ops(self):
        for name, ops, spec_changes in self.CASES:
            with self.subTest(name):
                before = clone(self.DOC)
                out = json_patch(self.DOC, ops)
                self.assertEqual(self.DOC, before)
                if spec_changes is not None:
                    want = clone(self.DOC)
                    want["spec"].update(spec_changes)
                    self.assertEqual(out, want)
        out = json_patch(self.DOC, [{"op": "add", "path": "/metadata/labels/c~1d", "value": "3"},
                                    {"op": "remove", "path": "/metadata/labels/m~0n"}])
        self.assertEqual(out["metadata"]["labels"], {"a/b": "1", "c/d": "3"})
        self.assertEqual(json_patch(self.DOC, [{"op": "replace", "path": "", "value": {"a": 1}}]), {"a": 1})

    def test_failures(self):
        cases = [
            ([{"op": "test", "path": "/spec/x/y", "value": 2}], 422, "testing value /spec/x/y failed: test failed"),
            ([{"op": "remove", "path": "/spec/nope"}], 422, "Unable to remove nonexistent key: nope: missing value"),
            ([{"op": "replace", "path": "/spec/nope", "value": 1}], 422,
             "replace operation does not apply: doc is missing key: /spec/nope: missing value"),
            ([{"op": "add", "path": "/nope/deeper", "value": 1}], 422,
             'add operation does not apply: doc is missing path: "/nope/deeper": missing value'),
            ([{"op": "add", "path": "/spec/list/7", "value": 1}], 422, None),
            ([{"op": "frobnicate", "path": "/a"}], 400, "Unexpected kind: frobnicate"),
            ({"op": "add"}, 400, None),
        ]
        for ops, code, msg in cases:
            with self.subTest(ops=ops):
                with self.assertRaises(PatchError) as cm:
                    json_patch(self.DOC, ops)
                self.assertEqual(cm.exception.code, code)
                if msg is not None:
                    self.assertEqual(cm.exception.message, msg)


class TestMergePatch(unittest.TestCase):
    # RFC 7386 appendix A
    CASES = [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ]

    def test_rfc_examples(self):
        for doc, patch, want in self.CASES:
            with self.subTest(doc=doc, patch=patch):
                self.assertEqual(merge_patch(doc, patch), want)


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "patch-demo", "finalizers": ["a", "b"]},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "nginx"}},
             "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
             "template": {"metadata": {"labels": {"app": "nginx"}},
                          "spec": {"containers": [{"name": "patch-demo-ctr", "image": "nginx",
                                                   "ports": [{"containerPort": 80}]}],
                                   "tolerations": [{"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}]}}}}


def spec_of(obj):
    return obj["spec"]["template"]["spec"]


class TestStrategicMergePatch(unittest.TestCase):
    def smp(self, doc, patch, gvk=DEP):
        before = clone(doc)
        out = strategic_merge_patch(doc, patch, support.registry(), gvk)
        self.assertEqual(doc, before)
        return out

    def test_docs_containers_merged_tolerations_replaced(self):
        # kubernetes.io "Update API Objects in Place Using kubectl patch"
        out = self.smp(DEPLOYMENT, {"spec": {"template": {"spec": {
            "containers": [{"name": "patch-demo-ctr-2", "image": "redis"}],
            "tolerations": [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]}}}})
        self.assertEqual(spec_of(out)["containers"], [
            {"name": "patch-demo-ctr", "image": "nginx", "ports": [{"containerPort": 80}]},
            {"name": "patch-demo-ctr-2", "image": "redis"}])
        self.assertEqual(spec_of(out)["tolerations"], [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}])

    def test_merge_into_existing_item_and_nested_ports(self):
        out = self.smp(DEPLOYMENT, {"spec": {"template": {"spec": {"containers": [
            {"name": "patch-demo-ctr", "image": "nginx:2", "ports": [{"containerPort": 443}]}]}}}})
        self.assertEqual(spec_of(out)["containers"], [
            {"name": "patch-demo-ctr", "image": "nginx:2", "ports": [{"containerPort": 80}, {"containerPort": 443}]}])

    def test_patch_delete_list_item(self):
        out = self.smp(DEPLOYMENT, {"spec": {"template": {"spec": {"containers": [
            {"name": "patch-demo-ctr", "$patch": "delete"}]}}}})
        self.assertEqual(spec_of(out)["containers"], [])

    def test_patch_replace_list_and_map(self):
        out = self.smp(DEPLOYMENT, {"spec": {"template": {"spec": {"containers": [
            {"name": "only", "image": "x"}, {"$patch": "replace"}]}}}})
        self.assertEqual(spec_of(out)["containers"], [{"name": "only", "image": "x"}])
        out = self.smp(DEPLOYMENT, {"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}})
        self.assertEqual(out["spec"]["strategy"], {"type": "Recreate"})
        out = self.smp(DEPLOYMENT, {"spec": {"strategy": {"$patch": "delete"}}})
        self.assertNotIn("strategy", out["spec"])

    def test_retain_keys(self):
        # kubernetes.io docs: switching strategy type with $retainKeys drops rollingUpdate
        out = self.smp(DEPLOYMENT, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
        self.assertEqual(out["spec"]["strategy"], {"type": "Recreate"})

    def test_null_deletes_and_new_fields(self):
        out = self.smp(DEPLOYMENT, {"metadata": {"labels": {"x": "y"}}, "spec": {"replicas": None}})
        self.assertNotIn("replicas", out["spec"])
        self.assertEqual(out["metadata"]["labels"], {"x": "y"})

    def test_primitive_set_union_delete_and_order(self):
        out = self.smp(DEPLOYMENT, {"metadata": {"finalizers": ["c", "a"]}})
        self.assertEqual(out["metadata"]["finalizers"], ["a", "b", "c"])
        out = self.smp(DEPLOYMENT, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
        self.assertEqual(out["metadata"]["finalizers"], ["b"])
        out = self.smp(DEPLOYMENT, {"metadata": {"$setElementOrder/finalizers": ["b", "a"]}})
        self.assertEqual(out["metadata"]["finalizers"], ["b", "a"])

    def test_set_element_order_for_map_list(self):
        two = self.smp(DEPLOYMENT, {"spec": {"template": {"spec": {"containers": [{"name": "z", "image": "z"}]}}}})
        out = self.smp(two, {"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "z"}, {"name": "patch-demo-ctr"}],
            "containers": [{"name": "z", "image": "z2"}]}}}})
        self.assertEqual([c["name"] for c in spec_of(out)["containers"]], ["z", "patch-demo-ctr"])
        self.assertEqual(spec_of(out)["containers"][0]["image"], "z2")

    def test_service_ports_merge_on_port(self):
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"selector": {"app": "a", "tier": "b"},
                        "ports": [{"name": "tls", "port": 15443, "protocol": "TCP", "targetPort": 15443}]}}
        out = self.smp(svc, {"spec": {"ports": [{"name": "tls", "port": 15443, "targetPort": 8443},
                                                {"name": "st", "port": 15021}],
                                      "selector": {"app": "c"}}}, SVC)
        self.assertEqual(out["spec"]["ports"], [
            {"name": "tls", "port": 15443, "protocol": "TCP", "targetPort": 8443}, {"name": "st", "port": 15021}])
        # strategic merge merges maps even where apply treats them as atomic (selector)
        self.assertEqual(out["spec"]["selector"], {"app": "c", "tier": "b"})

    def test_missing_merge_key_is_bad_request(self):
        with self.assertRaises(PatchError) as cm:
            self.smp(DEPLOYMENT, {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}})
        self.assertEqual(cm.exception.code, 400)

    def test_custom_resource_lists_are_replaced(self):
        mc = {"spec": {"peers": [{"name": "a"}], "args": ["x"]}}
        out = self.smp(mc, {"spec": {"peers": [{"name": "b"}], "args": ["y"]}}, MC)
        self.assertEqual(out["spec"], {"peers": [{"name": "b"}], "args": ["y"]})


if __name__ == "__main__":
    unittest.main()
