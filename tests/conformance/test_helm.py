#!/usr/bin/python3
"""Proves that helm (v4, from tools/) can install, upgrade and uninstall a small chart
(tests/conformance/charts/mini) against the test server: its typed-client release Secrets
(protobuf request bodies), its server-side apply of the chart's objects, its --wait, and that
the server stores what a real cluster would (folded stringData, helm release labels)."""
import base64
import os
import sys
import unittest

from common import HELM, HERE, Server, have, main, wait_for

CHART = os.path.join(HERE, "charts", "mini")


class HelmScenario(unittest.TestCase):
    def test_install_upgrade_uninstall(self):
        if not have(HELM):
            print("SKIP helm: %s is absent" % HELM, file=sys.stderr)
            self.skipTest("tools/helm absent")
        with Server() as s:
            out = s.run([HELM, "install", "demo", CHART, "--namespace", "default", "--wait", "--timeout", "60s"],
                        timeout=90).stdout
            self.assertIn("STATUS: deployed", out)
            cm = s.get("/api/v1/namespaces/default/configmaps/demo-config")[2]
            self.assertEqual(cm["data"], {"greeting": "hello"})
            self.assertEqual(cm["metadata"]["labels"]["app.kubernetes.io/instance"], "demo")
            self.assertIn("helm", {m["manager"] for m in cm["metadata"]["managedFields"]})
            sec = s.get("/api/v1/namespaces/default/secrets/demo-secret")[2]
            self.assertEqual(base64.b64decode(sec["data"]["token"]), b"not-a-real-secret")
            svc = s.get("/api/v1/namespaces/default/services/demo-svc")[2]
            self.assertEqual(svc["spec"]["ports"][0]["port"], 8080)
            rel = s.get("/api/v1/namespaces/default/secrets?labelSelector=owner%3Dhelm,name%3Ddemo")[2]["items"]
            self.assertEqual(len(rel), 1)
            self.assertEqual(rel[0]["metadata"]["labels"]["status"], "deployed")
            self.assertEqual(rel[0]["type"], "helm.sh/release.v1")

            out = s.run([HELM, "upgrade", "demo", CHART, "--set", "greeting=hi", "--wait", "--timeout", "60s"],
                        timeout=90).stdout
            self.assertIn("REVISION: 2", out)
            self.assertEqual(s.get("/api/v1/namespaces/default/configmaps/demo-config")[2]["data"], {"greeting": "hi"})
            listed = s.run([HELM, "list", "-o", "json"]).stdout
            self.assertIn('"revision":"2"', listed.replace(" ", ""))

            s.run([HELM, "uninstall", "demo", "--wait", "--timeout", "60s"], timeout=90)
            for path in ("configmaps/demo-config", "secrets/demo-secret", "services/demo-svc"):
                wait_for(lambda: s.get("/api/v1/namespaces/default/" + path)[0] == 404, what=path + " removed")
            rel = s.get("/api/v1/namespaces/default/secrets?labelSelector=owner%3Dhelm")[2]["items"]
            self.assertEqual(rel, [])


if __name__ == "__main__":
    main()
