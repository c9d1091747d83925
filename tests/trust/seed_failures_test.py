"""Proves the controller's trust check catches both trust-federation seed failures, and sees
their fixes, against the real test API server (istiod simulator) with real kubectl and
`meshctl pki`:

  0. istiod started with no cacerts at all              -> TrustVerified False NoCacerts
  seed 2: cacerts created after istiod started          -> False IstiodRootStale
          POST /istiod/restart (istiod re-reads cacerts) -> True RootMatches
  seed 1: cluster1's cacerts from root A while the
          MeshClusters declare root B                   -> False RootMismatch (both fingerprints)
          cacerts from root B, istiod restarted         -> True RootMatches

The verdict comes from controller/trust.c through tests/trust/trust_eval_tool, fed with what
`kubectl get -o json` returns. Each observed condition is printed (for the closing note).

Usage: seed_failures_test.py TRUST_EVAL_TOOL   (re-runs itself under tests/support/with-apiserver
--simulate istiod when no test server is running).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("MC_SOURCE_DIR", os.path.join(HERE, "../.."))
BUILD = os.environ.get("MC_BUILD_DIR", os.path.join(SOURCE, "build"))
MESHCTL = os.path.abspath(os.path.join(BUILD, "meshctl"))
KUBECTL = "/usr/bin/kubectl"
TOOL = None  # from argv
NS = "istio-system"


def sh(*args, stdin=None, check=True):
    p = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def kubectl(*args, stdin=None):
    return sh(KUBECTL, *args, stdin=stdin)


class SeedFailures(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mc-trust-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def root(self, name):
        out = sh(MESHCTL, "pki", "root", "--out", self.path(name))
        fp = [l for l in out.splitlines() if l.startswith("sha256 Fingerprint=")]
        self.assertEqual(len(fp), 1, out)
        return fp[0].split("=", 1)[1]

    def intermediate(self, cluster, root, out):
        sh(MESHCTL, "pki", "intermediate", "--cluster", cluster, "--root", self.path(root),
           "--out", self.path(out))

    def apply_cacerts(self, cluster, folder):
        manifest = sh(MESHCTL, "pki", "cacerts-secret", "--cluster", cluster, "--dir",
                      self.path(folder))
        kubectl("apply", "-f", "-", stdin=manifest)

    def istio_ca_root(self):
        cm = kubectl("get", "configmap", "istio-ca-root-cert", "-n", NS, "-o", "json",
                     "--ignore-not-found")
        return json.loads(cm)["data"].get("root-cert.pem", "") if cm.strip() else ""

    def restart_istiod(self):
        before = self.istio_ca_root()
        url = os.environ["MC_APISERVER_CONTROL"].rstrip("/") + "/istiod/restart"
        req = urllib.request.Request(url, data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            self.assertLess(resp.status, 300)
        return before

    def wait_ca_root(self, want_pem):
        """Waits (bounded) until istio-ca-root-cert holds the root of want_pem."""
        with open(want_pem) as f:
            want = f.read().strip()
        got = ""
        for _ in range(100):
            got = self.istio_ca_root().strip()
            if got == want:
                return
            time.sleep(0.1)
        self.fail(f"istio-ca-root-cert never took the root of {want_pem}; it holds:\n{got}")

    def evaluate(self, step):
        secret, cm, mcs = self.path("secret.json"), self.path("cm.json"), self.path("mc.json")
        with open(secret, "w") as f:
            f.write(kubectl("get", "secret", "cacerts", "-n", NS, "-o", "json",
                            "--ignore-not-found"))
        with open(cm, "w") as f:
            f.write(kubectl("get", "configmap", "istio-ca-root-cert", "-n", NS, "-o", "json",
                            "--ignore-not-found"))
        with open(mcs, "w") as f:
            f.write(kubectl("get", "meshclusters", "-o", "json"))
        cond = json.loads(sh(TOOL, "--secret", secret, "--configmap", cm, "--meshclusters", mcs))
        print(f"[{step}] TrustVerified={cond['status']} reason={cond['reason']}\n"
              f"    message: {cond['message']}\n    status.trust: {json.dumps(cond['trust'])}",
              flush=True)
        return cond

    def declare(self, fp):
        for name in ("cluster1", "cluster2"):
            kubectl("apply", "-f", "-", stdin=json.dumps({
                "apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster",
                "metadata": {"name": name},
                "spec": {"network": name, "meshID": "mesh1",
                         "tailscale": {"tailnet": "your-tailnet.ts.net"},
                         "trust": {"rootCAFingerprint": fp}}}))

    def test_seed_failures_and_fixes(self):
        kubectl("apply", "-f", os.path.join(SOURCE, "deploy/crds/meshcluster.yaml"))
        kubectl("wait", "--for=condition=Established", "--timeout=30s",
                "crd/meshclusters.meshcluster.io")
        fp_a, fp_b = self.root("rootA"), self.root("rootB")
        self.assertNotEqual(fp_a, fp_b)
        self.intermediate("cluster1", "rootA", "c1-rootA")
        self.intermediate("cluster1", "rootB", "c1-rootB")
        # The mesh's declared root is B (written lower case without colons: users do that).
        self.declare(fp_b.replace(":", "").lower())

        # 0. istiod came up before any cacerts: it distributes a self-signed root.
        for _ in range(100):
            if self.istio_ca_root():
                break
            time.sleep(0.1)
        self_signed = self.istio_ca_root()
        self.assertIn("BEGIN CERTIFICATE", self_signed)
        c = self.evaluate("no cacerts")
        self.assertEqual((c["status"], c["reason"]), ("False", "NoCacerts"))
        self.assertIn("self-signed", c["message"])
        self.assertIn(fp_b, c["message"])
        self_fp = c["fingerprints"]["istiod"]
        self.assertTrue(self_fp and self_fp not in (fp_a, fp_b), c)
        self.assertEqual(c["trust"]["rootCAFingerprint"], self_fp)

        # Seed failure 2: cacerts (root B) created while istiod keeps its self-signed root.
        self.apply_cacerts("cluster1", "c1-rootB")
        c = self.evaluate("seed 2: istiod started before cacerts")
        self.assertEqual((c["status"], c["reason"]), ("False", "IstiodRootStale"))
        self.assertIn(fp_b, c["message"])
        self.assertIn(self_fp, c["message"])
        self.assertIn("restart istiod, then", c["message"])
        # Fix: restart istiod; it now serves the cacerts root.
        self.restart_istiod()
        self.wait_ca_root(self.path("rootB", "root-cert.pem"))
        c = self.evaluate("seed 2 fixed: istiod restarted")
        self.assertEqual((c["status"], c["reason"]), ("True", "RootMatches"))
        self.assertEqual(c["trust"]["rootCAFingerprint"], fp_b)
        self.assertTrue(c["trust"]["intermediateNotAfter"].endswith("Z"), c)

        # Seed failure 1: cluster1 gets an intermediate under root A (istiod restarted, so
        # only the roots differ) while the mesh declares root B.
        self.apply_cacerts("cluster1", "c1-rootA")
        self.restart_istiod()
        self.wait_ca_root(self.path("rootA", "root-cert.pem"))
        c = self.evaluate("seed 1: different roots")
        self.assertEqual((c["status"], c["reason"]), ("False", "RootMismatch"))
        self.assertIn(fp_a, c["message"])
        self.assertIn(fp_b, c["message"])
        self.assertEqual(c["trust"]["rootCAFingerprint"], fp_a)
        # Fix: cacerts from the shared root B, then restart istiod (the seed's remedy).
        self.apply_cacerts("cluster1", "c1-rootB")
        c = self.evaluate("seed 1 fix, before istiod restart")
        self.assertEqual((c["status"], c["reason"]), ("False", "IstiodRootStale"))
        self.restart_istiod()
        self.wait_ca_root(self.path("rootB", "root-cert.pem"))
        c = self.evaluate("seed 1 fixed")
        self.assertEqual((c["status"], c["reason"]), ("True", "RootMatches"))
        self.assertIn(fp_b, c["message"])

        # The MeshClusters disagreeing is caught before anything else.
        kubectl("patch", "meshcluster", "cluster2", "--type=merge", "-p",
                json.dumps({"spec": {"trust": {"rootCAFingerprint": fp_a}}}))
        c = self.evaluate("declared roots disagree")
        self.assertEqual((c["status"], c["reason"]), ("False", "DeclaredRootsDisagree"))


def main():
    global TOOL
    if len(sys.argv) < 2:
        sys.exit("usage: seed_failures_test.py TRUST_EVAL_TOOL")
    if not os.environ.get("MC_APISERVER_CONTROL"):
        wrapper = os.path.join(SOURCE, "tests/support/with-apiserver")
        os.execv(wrapper, [wrapper, "--simulate", "istiod", "--",
                           "/usr/bin/python3", os.path.abspath(__file__), *sys.argv[1:]])
    TOOL = os.path.abspath(sys.argv[1])
    for exe in (MESHCTL, TOOL):
        if not os.access(exe, os.X_OK):
            sys.exit(f"not built: {exe}")
    unittest.main(argv=[sys.argv[0], "-v"])


if __name__ == "__main__":
    main()
