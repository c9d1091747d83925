#!/usr/bin/python3
"""Proves that real kubectl (1.32 and 1.34 with default validation, 1.27 with --validate=false)
can install the real Istio and Tailscale CRDs and a MeshCluster CRD into the test server, that
the server marks them NamesAccepted/Established and serves them (discovery, `kubectl wait`,
printer columns in `kubectl get`), and
that custom resources are validated, defaulted and pruned the way a real server does it."""
import json
import subprocess
import unittest

from common import (ISTIO_CRDS, MESHCLUSTER_CRD, MESHCLUSTER_SAMPLE, REAL, TAILSCALE_CRDS, Server,
                    kubectl_versions, main, validate_args, wait_for)

BAD_MC = """apiVersion: meshcluster.io/v1alpha1
kind: MeshCluster
metadata:
  name: bad
spec:
  clusterName: Bad_Name
  role: boss
  gatewayPort: "x"
"""

UNKNOWN_MC = """apiVersion: meshcluster.io/v1alpha1
kind: MeshCluster
metadata:
  name: typo
spec:
  clusterName: typo
  network: n1
  netwrok: misspelled
"""


def count_docs(path):
    import glob
    import os
    files = sorted(glob.glob(os.path.join(path, "*.yaml"))) if os.path.isdir(path) else [path]
    n = 0
    for f in files:
        with open(f) as fh:
            n += sum(1 for line in fh if line.rstrip() == "kind: CustomResourceDefinition")
    return n


class CrdScenario(unittest.TestCase):
    def run_version(self, v):
        val = validate_args(v)
        with Server() as s:
            for path in (ISTIO_CRDS, TAILSCALE_CRDS, MESHCLUSTER_CRD):
                out = s.kubectl(v, "apply", *val, "-f", path, timeout=120).stdout
                self.assertEqual(out.count(" created"), count_docs(path), out)
            if REAL:
                # kube-apiserver establishes a CRD asynchronously (the lite server at once).
                s.kubectl(v, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
            code, _, lst = s.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
            self.assertEqual(code, 200)
            want = count_docs(ISTIO_CRDS) + count_docs(TAILSCALE_CRDS) + 1
            self.assertEqual(len(lst["items"]), want)
            for crd in lst["items"]:
                conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
                self.assertEqual(conds, {"NamesAccepted": "True", "Established": "True"}, crd["metadata"]["name"])
                self.assertEqual(crd["status"]["acceptedNames"]["kind"], crd["spec"]["names"]["kind"])
            out = s.kubectl(v, "wait", "--for=condition=Established", "--timeout=20s",
                            "crd/meshclusters.meshcluster.io", "crd/gateways.networking.istio.io").stdout
            self.assertIn("condition met", out)
            names = s.kubectl(v, "api-resources", "--api-group=networking.istio.io", "-o", "name").stdout.split()
            self.assertIn("gateways.networking.istio.io", names)
            names = s.kubectl(v, "api-resources", "--api-group=meshcluster.io", "-o", "name").stdout.split()
            self.assertEqual(names, ["meshclusters.meshcluster.io"])

            # a custom resource from YAML: stored with schema defaults, generation 1
            s.kubectl(v, "apply", *val, "-f", MESHCLUSTER_SAMPLE)
            code, _, mc = s.get("/apis/meshcluster.io/v1alpha1/meshclusters/east")
            self.assertEqual(code, 200)
            self.assertEqual(mc["spec"]["role"], "primary")
            self.assertEqual(mc["spec"]["gatewayPort"], 15443)
            self.assertEqual(mc["metadata"]["generation"], 1)
            self.assertIn("kubectl.kubernetes.io/last-applied-configuration", mc["metadata"]["annotations"])

            # invalid: 422 with one cause per broken field, nothing stored
            p = s.kubectl(v, "apply", *val, "-f", "-", input=BAD_MC, check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('The MeshCluster "bad" is invalid', p.stderr)
            self.assertIn("spec.network: Required value", p.stderr)
            self.assertIn('spec.role: Unsupported value: "boss": supported values: "primary", "remote"', p.stderr)
            self.assertIn("spec.gatewayPort: Invalid value", p.stderr)
            self.assertIn("spec.clusterName: Invalid value", p.stderr)
            self.assertEqual(s.get("/apis/meshcluster.io/v1alpha1/meshclusters/bad")[0], 404)

            # a misspelled field: rejected by server-side strict validation (kubectl >= 1.29);
            # with --validate=false (1.27) the server prunes it instead
            p = s.kubectl(v, "apply", *val, "-f", "-", input=UNKNOWN_MC, check=False)
            if v == "1.27":
                self.assertEqual(p.returncode, 0, p.stderr)
                code, _, typo = s.get("/apis/meshcluster.io/v1alpha1/meshclusters/typo")
                self.assertEqual(code, 200)
                self.assertNotIn("netwrok", typo["spec"])
            else:
                self.assertNotEqual(p.returncode, 0)
                self.assertIn('strict decoding error: unknown field "spec.netwrok"', p.stderr)
                self.assertEqual(s.get("/apis/meshcluster.io/v1alpha1/meshclusters/typo")[0], 404)
                reqs = s.control("/requests")
                posts = [r for r in reqs if r["method"] == "POST" and r["path"].endswith("/meshclusters")]
                self.assertTrue(all("fieldValidation=Strict" in r["query"] for r in posts), posts)

            # status subresource + kubectl wait --for=condition on a custom resource
            waiter = s.popen_kubectl(v, "wait", "--for=condition=Ready", "--timeout=30s", "meshcluster/east")
            status = {"status": {"observedGeneration": 1, "conditions": [{
                "type": "Ready", "status": "True", "reason": "Synced", "message": "ok",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
            s.kubectl(v, "patch", "meshcluster", "east", "--subresource=status", "--type=merge",
                      "-p", json.dumps(status))
            try:
                out, err = waiter.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                waiter.kill()
                raise
            self.assertEqual(waiter.returncode, 0, err)
            self.assertIn("condition met", out)
            mc = s.get("/apis/meshcluster.io/v1alpha1/meshclusters/east")[2]
            self.assertEqual(mc["metadata"]["generation"], 1, "a status write must not bump generation")
            self.assertEqual(mc["status"]["conditions"][0]["type"], "Ready")
            s.kubectl(v, "patch", "meshcluster", "east", "--type=merge", "-p", '{"spec":{"network":"n2"}}')
            mc = s.get("/apis/meshcluster.io/v1alpha1/meshclusters/east")[2]
            self.assertEqual(mc["metadata"]["generation"], 2)
            self.assertEqual(mc["status"]["conditions"][0]["status"], "True", "spec writes keep status")
            # kubectl get prints the CRD's printer columns from the server's Table
            lines = s.kubectl(v, "get", "meshclusters").stdout.splitlines()
            self.assertEqual(lines[0].split(), ["NAME", "NETWORK", "READY"])
            self.assertEqual(lines[1].split(), ["east", "n2", "True"])

            # deleting the CRD removes its resources from discovery and its objects
            s.kubectl(v, "delete", "-f", MESHCLUSTER_CRD, "--timeout=30s")
            wait_for(lambda: s.get("/apis/meshcluster.io/v1alpha1")[0] == 404, what="CRD unserved")

    def test_kubectl_versions(self):
        for v in kubectl_versions():
            with self.subTest(kubectl=v):
                self.run_version(v)


if __name__ == "__main__":
    main()
