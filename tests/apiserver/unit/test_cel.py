"""kal.cel: the CEL subset for CRD x-kubernetes-validations, and what it leaves unjudged."""
import unittest

from kal import cel
from kal.schema import SchemaRegistry


class Cel(unittest.TestCase):
    def test_rules_of_the_meshcluster_crd(self):
        rule = "!has(self.auth) || self.auth != 'secret' || has(self.secretRef)"
        self.assertIs(cel.evaluate(rule, {"auth": "secret"}), False)
        self.assertIs(cel.evaluate(rule, {"auth": "secret", "secretRef": {"name": "x"}}), True)
        self.assertIs(cel.evaluate(rule, {}), True)
        ports = ("self.status != self.tls && self.status != self.istiod && self.status != self.webhook && "
                 "self.tls != self.istiod && self.tls != self.webhook && self.istiod != self.webhook")
        self.assertIs(cel.evaluate(ports, {"status": 1, "tls": 2, "istiod": 3, "webhook": 4}), True)
        self.assertIs(cel.evaluate(ports, {"status": 1, "tls": 2, "istiod": 2, "webhook": 4}), False)

    def test_operators_macros_and_functions(self):
        ev = cel.evaluate
        self.assertIs(ev("self.a + 1 > 2 ? self.b.startsWith('x') : false", {"a": 2, "b": "xy"}), True)
        self.assertIs(ev("self.l.all(i, i > 0) && self.l.exists_one(i, i == 2) && size(self.l) == 3",
                         {"l": [1, 2, 3]}), True)
        self.assertIs(ev("'a' in self.m && self.s.matches('^[a-z]+$')", {"m": {"a": 1}, "s": "abc"}), True)
        self.assertIs(ev("self.l.filter(i, i > 1).size() == 2", {"l": [1, 2, 3]}), True)
        self.assertIs(ev("self.x == oldSelf.x", {"x": 1}, {"x": 1}, True), True)
        # every operator is computed only when asked for (a % 0 once broke a + b)
        self.assertIs(ev("self.a + self.b == 3 && self.a - self.b == -1 && self.a * self.b == 2",
                         {"a": 1, "b": 2}), True)
        self.assertIs(ev("self.n % 2 == 1 && -7 / 2 == -3 && -7 % 2 == -1", {"n": 3}), True)
        self.assertIsNone(ev("self.n % 0 == 1", {"n": 3}))
        self.assertIs(ev("self.s == 'é' && self.t == 'a\\'b'", {"s": "é", "t": "a'b"}), True)

    def test_unjudged(self):
        ev = cel.evaluate
        self.assertIsNone(ev("self.missing == 1", {}))  # evaluation error
        self.assertIsNone(ev("self.x.lowerAscii() == 'a'", {"x": "A"}))  # unknown function
        self.assertIsNone(ev("self.x == oldSelf.x", {"x": 1}))  # transition rule on create
        self.assertIsNone(ev("self.x ===", {"x": 1}))  # cannot parse
        # error || true is true in CEL
        self.assertIs(ev("self.missing == 1 || true", {}), True)

    def test_causes_field_paths_and_ratcheting(self):
        crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "ws.example.com"},
               "spec": {"group": "example.com", "names": {"kind": "W", "plural": "ws"}, "scope": "Namespaced",
                        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                            "type": "object", "properties": {"spec": {"type": "object", "properties": {
                                "remote": {"type": "object", "x-kubernetes-validations": [
                                    {"rule": "has(self.ref)", "message": "needs ref", "fieldPath": ".ref"}]},
                                "items": {"type": "array", "items": {"type": "object", "x-kubernetes-validations": [
                                    {"rule": "self.n > 0", "reason": "FieldValueForbidden"}]}}}}}}}}]}}
        reg = SchemaRegistry()
        reg.add_crd(crd)
        gvk = ("example.com", "v1", "W")
        obj = {"spec": {"remote": {}, "items": [{"n": 1}, {"n": 0}]}}
        got = reg.cel_causes(gvk, obj)
        self.assertEqual(sorted((c["field"], c["reason"]) for c in got),
                         [("spec.items[1]", "FieldValueForbidden"), ("spec.remote.ref", "FieldValueInvalid")])
        self.assertEqual([c["message"] for c in got if c["field"] == "spec.remote.ref"],
                         ['Invalid value: "object": needs ref'])
        self.assertEqual(reg.cel_causes(gvk, obj, obj), [])  # unchanged: ratcheted

if __name__ == "__main__":
    unittest.main()
