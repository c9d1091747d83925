#!/usr/bin/python3
"""Proves that `kubectl apply --server-side` against the test server behaves like a real
cluster: managedFields record each manager, a second manager changing an owned field gets the
409 field-manager conflict message kubectl shows against a real server, --force-conflicts takes
ownership, and the Tailscale simulator (an Update under `tailscale-operator` that rewrites
spec.externalName) makes our own apply conflict exactly as the real operator does."""
import json
import unittest

from common import Server, kubectl_versions, main, validate_args, wait_for

CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: shared
  namespace: default
data:
  key: %s
"""

EGRESS = """apiVersion: v1
kind: Service
metadata:
  name: west-gw
  namespace: default
  annotations:
    tailscale.com/tailnet-fqdn: west-gw.tail0000.ts.net
spec:
  type: ExternalName
  externalName: placeholder
"""


def managers(obj):
    return {(m["manager"], m["operation"]): m for m in obj["metadata"].get("managedFields", [])}


class SsaScenario(unittest.TestCase):
    def run_version(self, v):
        with Server("--simulate", "tailscale") as s:
            out = s.kubectl(v, "apply", *validate_args(v), "--server-side", "-f", "-", input=CM % "one").stdout
            self.assertIn("configmap/shared serverside-applied", out)
            cm = s.get("/api/v1/namespaces/default/configmaps/shared")[2]
            m = managers(cm)
            self.assertIn(("kubectl", "Apply"), m)
            self.assertEqual(m[("kubectl", "Apply")]["fieldsType"], "FieldsV1")
            self.assertIn("f:key", m[("kubectl", "Apply")]["fieldsV1"]["f:data"])

            # another manager, other value: conflict, nothing written
            p = s.kubectl(v, "apply", *validate_args(v), "--server-side", "--field-manager=other", "-f", "-",
                          input=CM % "two", check=False)
            self.assertNotEqual(p.returncode, 0)
            # an Apply manager is named alone; an Update manager "using <apiVersion>" (printManager)
            self.assertIn('Apply failed with 1 conflict: conflict with "kubectl": .data.key', p.stderr)
            self.assertEqual(s.get("/api/v1/namespaces/default/configmaps/shared")[2]["data"]["key"], "one")
            code, _, st = s.request("PATCH", "/api/v1/namespaces/default/configmaps/shared?fieldManager=other",
                                    body=CM % "two", ctype="application/apply-patch+yaml")
            self.assertEqual((code, st["reason"]), (409, "Conflict"))
            self.assertEqual(st["details"]["causes"][0]["reason"], "FieldManagerConflict")
            self.assertEqual(st["details"]["causes"][0]["field"], ".data.key")

            # same value: shared ownership, no conflict
            s.kubectl(v, "apply", *validate_args(v), "--server-side", "--field-manager=third", "-f", "-", input=CM % "one")
            m = managers(s.get("/api/v1/namespaces/default/configmaps/shared")[2])
            self.assertIn("f:key", m[("third", "Apply")]["fieldsV1"]["f:data"])
            self.assertIn("f:key", m[("kubectl", "Apply")]["fieldsV1"]["f:data"])

            # force takes the field
            s.kubectl(v, "apply", *validate_args(v), "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-",
                      input=CM % "two")
            cm = s.get("/api/v1/namespaces/default/configmaps/shared")[2]
            self.assertEqual(cm["data"]["key"], "two")
            m = managers(cm)
            self.assertIn("f:key", m[("other", "Apply")]["fieldsV1"]["f:data"])
            self.assertNotIn("f:key", m.get(("kubectl", "Apply"), {}).get("fieldsV1", {}).get("f:data", {}))

            # the Tailscale operator rewrites externalName with an Update; re-applying ours conflicts
            s.kubectl(v, "apply", *validate_args(v), "--server-side", "--field-manager=meshclusterd", "-f", "-", input=EGRESS)

            def rewritten():
                svc = s.get("/api/v1/namespaces/default/services/west-gw")[2]
                return svc if svc["spec"]["externalName"] != "placeholder" else None
            svc = wait_for(rewritten, what="tailscale simulator rewrite")
            self.assertRegex(svc["spec"]["externalName"], r"^ts-west-gw-[a-z]+\.tailscale\.svc\.cluster\.local$")
            self.assertIn("tailscale.com/finalizer", svc["metadata"]["finalizers"])
            self.assertIn(("tailscale-operator", "Update"), managers(svc))
            cond = wait_for(lambda: [c for c in s.get("/api/v1/namespaces/default/services/west-gw")[2]
                                     .get("status", {}).get("conditions", []) if c["type"] == "TailscaleProxyReady"],
                            what="TailscaleProxyReady")
            self.assertEqual(cond[0]["status"], "True")
            p = s.kubectl(v, "apply", *validate_args(v), "--server-side", "--field-manager=meshclusterd", "-f", "-",
                          input=EGRESS, check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('Apply failed with 1 conflict: conflict with "tailscale-operator" using v1: '
                          '.spec.externalName', p.stderr)

            # deleting waits for the operator's finalizer, which the simulator removes
            s.kubectl(v, "delete", "service", "west-gw", "--timeout=30s")
            self.assertEqual(s.get("/api/v1/namespaces/default/services/west-gw")[0], 404)
            headless = s.get("/api/v1/namespaces/tailscale/services")[2]["items"]
            self.assertEqual(headless, [], json.dumps(headless)[:300])

    def test_kubectl_versions(self):
        for v in kubectl_versions():
            with self.subTest(kubectl=v):
                self.run_version(v)


if __name__ == "__main__":
    main()
