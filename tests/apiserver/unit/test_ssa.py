"""Proves kal.ssa keeps managedFields the way a real kube-apiserver does: FieldsV1 encoding
(f:, k:{...} with ".", v:), apply merges and removes only fields nobody else owns, conflicts name
the other manager and field with the real message text, shared ownership, force, and ownership
transfer through non-apply updates (including the status subresource split)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from unit import support  # noqa: E402
from unit.support import clone  # noqa: E402
from kal import ssa  # noqa: E402
from kal.ssa import ApplyConflict  # noqa: E402

SVC = ("", "v1", "Service")
MC = ("meshcluster.io", "v1alpha1", "MeshCluster")
CM = ("", "v1", "ConfigMap")


def svc(spec, labels=None):
    o = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"}, "spec": spec}
    if labels:
        o["metadata"]["labels"] = labels
    return o


def managers(obj):
    return {(e["manager"], e["operation"], e.get("subresource", "")): e["fieldsV1"]
            for e in obj["metadata"].get("managedFields", [])}


def apply(live, cfg, mgr, force=False, gvk=SVC, now="2026-01-01T00:00:00Z", sub=None):
    before = clone(live) if live is not None else None
    out = ssa.apply(live, cfg, mgr, force, support.registry(), gvk, now, sub)
    if live is not None:
        assert live == before, "apply modified live"
    return out


def update(old, new, mgr, gvk=SVC, now="2026-01-01T00:00:01Z", sub=None):
    before = clone((old, new))
    out = ssa.record_update(old, new, mgr, "Update", support.registry(), gvk, now, sub)
    assert clone((old, new)) == before, "record_update modified its arguments"
    return out


EW = {"type": "ExternalName", "externalName": "a.example", "ports": [{"name": "tls", "port": 15443}]}


class TestFieldsV1(unittest.TestCase):
    def test_apply_creates_entry_in_real_shape(self):
        out = apply(None, svc(EW, {"app": "x"}), "meshcluster")
        self.assertEqual(out["metadata"]["managedFields"], [{
            "manager": "meshcluster", "operation": "Apply", "apiVersion": "v1", "time": "2026-01-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                         "f:spec": {"f:externalName": {}, "f:type": {},
                                    "f:ports": {'k:{"port":15443,"protocol":"TCP"}': {
                                        ".": {}, "f:name": {}, "f:port": {}}}}}}])
        self.assertEqual(out["spec"], EW)

    def test_sets_maps_and_atomic_lists_in_custom_resources(self):
        cr = {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": "c"},
              "spec": {"tags": ["a", "b"], "peers": [{"name": "p1", "address": "x"}], "args": ["-v"]}}
        out = apply(None, cr, "m", gvk=MC)
        self.assertEqual(managers(out)[("m", "Apply", "")], {"f:spec": {
            "f:args": {}, "f:peers": {'k:{"name":"p1"}': {".": {}, "f:address": {}, "f:name": {}}},
            "f:tags": {'v:"a"': {}, 'v:"b"': {}}}})

    def test_round_trip(self):
        fields = {"f:data": {"f:a": {}}, "f:spec": {"f:ports": {'k:{"port":1,"protocol":"TCP"}': {".": {}, "f:port": {}}}}}
        self.assertEqual(ssa.to_fields_v1(ssa.from_fields_v1(fields)), fields)


class TestApply(unittest.TestCase):
    def test_ownership_transfer_conflict_and_release(self):
        # A applies, an operator rewrites externalName with an Update (as Tailscale's does)
        a = apply(None, svc(EW), "A")
        b_obj = clone(a)
        b_obj["spec"]["externalName"] = "ts-egress.tailscale.svc.cluster.local"
        b = update(a, b_obj, "tailscale-operator")
        self.assertEqual(managers(b)[("tailscale-operator", "Update", "")], {"f:spec": {"f:externalName": {}}})
        self.assertNotIn("f:externalName", managers(b)[("A", "Apply", "")]["f:spec"])
        # A applying a different value conflicts with the operator
        cfg = svc(dict(EW, externalName="other.example"))
        with self.assertRaises(ApplyConflict) as cm:
            apply(b, cfg, "A")
        self.assertEqual(cm.exception.message,
                         'Apply failed with 1 conflict: conflict with "tailscale-operator" using v1: .spec.externalName')
        self.assertEqual(cm.exception.conflicts, [("tailscale-operator", ".spec.externalName")])
        self.assertEqual(cm.exception.causes(), [{"reason": "FieldManagerConflict",
                                                  "message": 'conflict with "tailscale-operator" using v1',
                                                  "field": ".spec.externalName"}])
        # ...the same value does not conflict (shared ownership)
        same = apply(b, svc(dict(EW, externalName="ts-egress.tailscale.svc.cluster.local")), "A")
        self.assertIn("f:externalName", managers(same)[("A", "Apply", "")]["f:spec"])
        self.assertIn("f:externalName", managers(same)[("tailscale-operator", "Update", "")]["f:spec"])
        # ...and leaving the field out neither conflicts nor removes the operator's value
        cfg = svc({k: v for k, v in EW.items() if k != "externalName"})
        c = apply(b, cfg, "A")
        self.assertEqual(c["spec"]["externalName"], "ts-egress.tailscale.svc.cluster.local")

    def test_noop_apply_keeps_time(self):
        a = apply(None, svc(EW), "A", now="T1")
        again = apply(a, svc(EW), "A", now="T2")
        self.assertEqual(again["metadata"]["managedFields"][0]["time"], "T1")
        changed = apply(a, svc(EW, {"l": "1"}), "A", now="T3")
        self.assertEqual(changed["metadata"]["managedFields"][0]["time"], "T3")

    def test_force_takes_ownership(self):
        a = apply(None, svc(EW), "A")
        b = update(a, dict(clone(a), spec=dict(EW, externalName="b.example")), "B")
        out = apply(b, svc(dict(EW, externalName="c.example")), "A", force=True)
        self.assertEqual(out["spec"]["externalName"], "c.example")
        self.assertNotIn(("B", "Update", ""), managers(out))  # its only field was taken: entry dropped
        self.assertIn("f:externalName", managers(out)[("A", "Apply", "")]["f:spec"])

    def test_removed_fields_are_deleted_unless_shared(self):
        a = apply(None, svc(EW, {"x": "1", "y": "2"}), "A")
        b = apply(a, svc(EW, {"y": "2"}), "B")  # same value: shared, no conflict
        out = apply(b, svc(EW, {"z": "3"}), "A")
        self.assertEqual(out["metadata"]["labels"], {"y": "2", "z": "3"})  # x gone, y kept for B
        out2 = apply(out, svc(EW), "B")
        self.assertEqual(out2["metadata"]["labels"], {"z": "3"})
        out3 = apply(out2, svc(EW), "A")
        self.assertNotIn("labels", out3["metadata"])  # built-ins omit the emptied map

    def test_removed_list_item(self):
        two = dict(EW, ports=[{"name": "tls", "port": 15443}, {"name": "st", "port": 15021}])
        a = apply(None, svc(two), "A")
        out = apply(a, svc(EW), "A")
        self.assertEqual(out["spec"]["ports"], [{"name": "tls", "port": 15443}])

    def test_list_map_item_merge_and_conflict_path(self):
        a = apply(None, svc(dict(EW, ports=[{"name": "tls", "port": 15443, "targetPort": 1}])), "A")
        with self.assertRaises(ApplyConflict) as cm:
            apply(a, svc({"ports": [{"name": "tls", "port": 15443, "targetPort": 2}]}), "B")
        self.assertEqual(cm.exception.message,
                         'Apply failed with 1 conflict: conflict with "A": .spec.ports[port=15443,protocol="TCP"].targetPort')
        ok = apply(a, svc({"ports": [{"port": 15021, "name": "st"}]}), "B")
        self.assertEqual([p["port"] for p in ok["spec"]["ports"]], [15443, 15021])

    def test_atomic_map_and_list_conflict_as_a_whole(self):
        a = apply(None, svc(dict(EW, selector={"app": "a"}, externalIPs=["1.1.1.1"])), "A")
        with self.assertRaises(ApplyConflict) as cm:
            apply(a, svc({"selector": {"app": "b"}, "externalIPs": ["1.1.1.1", "2.2.2.2"]}), "B")
        self.assertEqual(cm.exception.conflicts, [("A", ".spec.externalIPs"), ("A", ".spec.selector")])
        self.assertEqual(cm.exception.message,
                         'Apply failed with 2 conflicts: conflicts with "A":\n- .spec.externalIPs\n- .spec.selector')
        shared = apply(a, svc({"selector": {"app": "a"}}), "B")
        self.assertIn("f:selector", managers(shared)[("B", "Apply", "")]["f:spec"])

    def test_multiple_conflicts_message(self):
        a = apply(None, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                         "data": {"a": "1", "b": "1"}}, "m1", gvk=CM)
        with self.assertRaises(ApplyConflict) as cm:
            apply(a, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                      "data": {"a": "2", "b": "2"}}, "m2", gvk=CM)
        self.assertEqual(cm.exception.message,
                         'Apply failed with 2 conflicts: conflicts with "m1":\n- .data.a\n- .data.b')


class TestRecordUpdate(unittest.TestCase):
    def test_create_and_update_keyed_by_manager_operation_subresource(self):
        obj = svc(EW)
        obj["metadata"].update({"uid": "u", "resourceVersion": "5", "creationTimestamp": "t"})
        obj["metadata"]["labels"] = {"app": "x"}
        c = update(None, obj, "kubectl-create")
        # an Update that makes a map or associative list appear owns it too (".")
        self.assertEqual(managers(c), {("kubectl-create", "Update", ""): {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:externalName": {}, "f:type": {},
                       "f:ports": {".": {}, 'k:{"port":15443,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}}}}})
        more = clone(c)
        more["metadata"]["labels"]["b"] = "y"
        self.assertEqual(managers(update(c, more, "other"))[("other", "Update", "")],
                         {"f:metadata": {"f:labels": {"f:b": {}}}})
        # status changes on the main endpoint are not tracked; on /status only status is
        s_new = clone(c)
        s_new["status"] = {"loadBalancer": {"ingress": [{"hostname": "h"}]}}
        s_new["metadata"]["labels"] = {"l": "v"}
        st = update(c, s_new, "operator", sub="status")
        self.assertEqual(managers(st)[("operator", "Update", "status")],
                         {"f:status": {"f:loadBalancer": {"f:ingress": {}}}})
        self.assertEqual(st["metadata"]["managedFields"][-1]["subresource"], "status")
        main = update(c, s_new, "operator")
        self.assertEqual(managers(main)[("operator", "Update", "")], {"f:metadata": {"f:labels": {"f:l": {}}}})
        # app was dropped by that write; the first manager keeps only the labels map itself
        self.assertEqual(managers(main)[("kubectl-create", "Update", "")]["f:metadata"], {"f:labels": {}})

    def test_apply_on_status_subresource_and_main_endpoint(self):
        cr = {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": "c"},
              "spec": {"clusterName": "a"}}
        live = apply(None, cr, "user", gvk=MC)
        ignored = apply(live, dict(clone(cr), status={"phase": "X"}), "user", gvk=MC)
        self.assertNotIn("status", ignored)
        st = apply(live, dict(clone(cr), spec={"clusterName": "zzz"}, status={"phase": "Ready"}), "ctl",
                   gvk=MC, sub="status")
        self.assertEqual((st["spec"], st["status"]), ({"clusterName": "a"}, {"phase": "Ready"}))
        self.assertEqual(managers(st)[("ctl", "Apply", "status")], {"f:status": {"f:phase": {}}})

    def test_one_endpoint_keeps_the_other_sides_owners(self):
        cr = {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": "c"},
              "spec": {"clusterName": "a"}}
        live = apply(None, cr, "user", gvk=MC)
        spec_owner = managers(live)[("user", "Apply", "")]
        # an Update through /status leaves the main endpoint's owners alone
        st = update(live, dict(clone(live), status={"phase": "Ready"}), "ctl", gvk=MC, sub="status")
        self.assertEqual(managers(st)[("user", "Apply", "")], spec_owner)
        self.assertEqual(managers(st)[("ctl", "Update", "status")], {"f:status": {"f:phase": {}}})
        # an Update through the main endpoint leaves the status owners alone
        main = clone(st)
        main["spec"]["clusterName"] = "b"
        after = update(st, main, "editor", gvk=MC)
        self.assertEqual(managers(after)[("ctl", "Update", "status")], {"f:status": {"f:phase": {}}})
        self.assertEqual(managers(after)[("editor", "Update", "")], {"f:spec": {"f:clusterName": {}}})
        # and an apply through /status leaves them too
        sa = apply(after, {"apiVersion": cr["apiVersion"], "kind": "MeshCluster", "metadata": {"name": "c"},
                           "status": {"phase": "Ready"}}, "ctl2", gvk=MC, sub="status")
        self.assertEqual(managers(sa)[("editor", "Update", "")], {"f:spec": {"f:clusterName": {}}})
        self.assertIn(("ctl2", "Apply", "status"), managers(sa))

    def test_unchanged_write_takes_nothing_and_removed_fields_leave_every_manager(self):
        c = update(None, svc(EW, {"a": "1"}), "one")
        same = update(c, clone(c), "two")
        self.assertEqual(list(managers(same)), [("one", "Update", "")])
        gone = clone(c)
        del gone["metadata"]["labels"]
        out = update(c, gone, "two")
        self.assertNotIn("f:metadata", managers(out)[("one", "Update", "")])
        self.assertNotIn(("two", "Update", ""), managers(out))

    def test_apply_then_update_then_apply_time_and_api_version(self):
        a = apply(None, svc(EW), "A", now="T1")
        u = update(a, dict(clone(a), metadata=dict(a["metadata"], labels={"k": "v"})), "B", now="T2")
        entries = {e["manager"]: e for e in u["metadata"]["managedFields"]}
        # entries are written Apply before Update, then by time
        u0 = update(None, svc(EW, {"k": "v"}), "B", now="T0")
        a1 = apply(u0, svc(dict(EW, externalName="a.example")), "A", now="T1")
        self.assertEqual([e["manager"] for e in a1["metadata"]["managedFields"]], ["A", "B"])
        self.assertEqual((entries["A"]["time"], entries["B"]["time"]), ("T1", "T2"))
        self.assertEqual(entries["B"]["apiVersion"], "v1")


if __name__ == "__main__":
    unittest.main()
