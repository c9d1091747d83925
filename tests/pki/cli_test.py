#!/usr/bin/python3
"""Proves `meshctl pki` end to end and cross-checks it with the real openssl CLI and kubectl:
root and intermediate files are what `openssl verify`, `openssl x509 -fingerprint/-text` and
`openssl pkey` agree with; keys are created 0600, never overwritten without --force, and never
appear on stdout/stderr; `verify` prints openssl's exact fingerprint line and exits 1 with one
line per problem; a bundle made with the seeds' own openssl recipe verifies; the cacerts
Secret carries exactly the four files (same data as `kubectl create secret --dry-run`); bad
arguments exit 2."""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from datetime import datetime, timezone

import yaml

BUILD = os.environ.get("MC_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
MESHCTL = os.path.abspath(os.path.join(BUILD, "meshctl"))
CACERTS = ["ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"]


def run(*args, check=None):
    p = subprocess.run([MESHCTL, "pki", *args], capture_output=True, text=True, timeout=120)
    if check is not None and p.returncode != check:
        raise AssertionError(f"meshctl pki {' '.join(args)} exited {p.returncode}, want {check}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def openssl(*args, input_=None):
    p = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=120,
                       input=input_)
    return p


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def key_body_lines(path):
    """The base64 lines of a PEM key: any of them on a terminal would leak the key."""
    return [l for l in read(path).splitlines() if l and not l.startswith("-----")]


class PkiCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pki-cli-")
        self.old_umask = os.umask(0o022)

    def tearDown(self):
        os.umask(self.old_umask)
        shutil.rmtree(self.tmp)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def assert_no_key_material(self, proc, *key_files):
        text = proc.stdout + proc.stderr
        self.assertNotIn("PRIVATE KEY", text)
        for k in key_files:
            for line in key_body_lines(k):
                self.assertNotIn(line, text)

    def make_root(self, *extra):
        p = run("root", "--out", self.path("root"), *extra, check=0)
        self.assert_no_key_material(p, self.path("root", "root-key.pem"))
        return p

    def make_intermediate(self, cluster="east", out="east", *extra):
        p = run("intermediate", "--cluster", cluster, "--root", self.path("root"), "--out",
                self.path(out), *extra, check=0)
        self.assert_no_key_material(p, self.path(out, "ca-key.pem"),
                                    self.path("root", "root-key.pem"))
        return p

    def test_root_files_modes_and_fingerprint(self):
        p = self.make_root()
        key, cert = self.path("root", "root-key.pem"), self.path("root", "root-cert.pem")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(cert).st_mode & 0o777, 0o644)
        fp = openssl("x509", "-noout", "-fingerprint", "-sha256", "-in", cert).stdout.strip()
        self.assertTrue(fp.startswith("sha256 Fingerprint="), fp)
        self.assertIn(fp, p.stdout.splitlines())
        text = openssl("x509", "-noout", "-text", "-in", cert).stdout
        self.assertIn("ASN1 OID: prime256v1", text)
        self.assertRegex(text, r"Basic Constraints: critical\s+CA:TRUE\n")
        self.assertRegex(text, r"Key Usage: critical\s+Certificate Sign, CRL Sign\n")
        self.assertIn("Subject: O = Istio, CN = Root CA", text)
        # 10 years by default.
        end = openssl("x509", "-noout", "-enddate", "-in", cert).stdout.strip().split("=", 1)[1]
        not_after = datetime.strptime(end, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=timezone.utc)
        days = (not_after - datetime.now(timezone.utc)).days
        self.assertTrue(3648 <= days <= 3650, days)
        # The key belongs to the certificate.
        self.assertEqual(openssl("pkey", "-pubout", "-in", key).stdout,
                         openssl("x509", "-noout", "-pubkey", "-in", cert).stdout)

    def test_root_refuses_overwrite_without_force(self):
        self.make_root()
        key = self.path("root", "root-key.pem")
        before = read(key)
        p = run("root", "--out", self.path("root"), check=1)
        self.assertIn("refusing to overwrite", p.stderr)
        self.assertIn("--force", p.stderr)
        self.assertEqual(read(key), before)
        p = run("root", "--out", self.path("root"), "--force", "--org", "Company Inc.",
                "--days", "30", check=0)
        self.assert_no_key_material(p, key)
        self.assertNotEqual(read(key), before)
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.assertEqual(sorted(os.listdir(self.path("root"))), ["root-cert.pem", "root-key.pem"])
        subj = openssl("x509", "-noout", "-subject", "-in", self.path("root", "root-cert.pem"))
        self.assertEqual(subj.stdout.strip(), "subject=O = Company Inc., CN = Root CA")

    def test_rsa_root_and_intermediate(self):
        self.make_root("--rsa")
        self.make_intermediate("west", "west")
        for f in ("root/root-cert.pem", "west/ca-cert.pem"):
            text = openssl("x509", "-noout", "-text", "-in", self.path(f)).stdout
            self.assertIn("Public-Key: (4096 bit)", text)
            self.assertIn("sha256WithRSAEncryption", text)
        v = openssl("verify", "-CAfile", self.path("west", "root-cert.pem"),
                    self.path("west", "ca-cert.pem"))
        self.assertEqual(v.returncode, 0, v.stderr)

    def test_intermediate_is_istio_cacerts(self):
        self.make_root()
        p = self.make_intermediate()
        d = self.path("east")
        self.assertEqual(sorted(os.listdir(d)), sorted(CACERTS))
        self.assertEqual(os.stat(os.path.join(d, "ca-key.pem")).st_mode & 0o777, 0o600)
        for f in ("ca-cert.pem", "root-cert.pem", "cert-chain.pem"):
            self.assertEqual(os.stat(os.path.join(d, f)).st_mode & 0o777, 0o644)
        self.assertEqual(read(os.path.join(d, "root-cert.pem")),
                         read(self.path("root", "root-cert.pem")))
        # Istio's Makefile layout: the chain is the intermediate followed by the root.
        self.assertEqual(read(os.path.join(d, "cert-chain.pem")),
                         read(os.path.join(d, "ca-cert.pem")) + read(os.path.join(d, "root-cert.pem")))
        v = openssl("verify", "-CAfile", os.path.join(d, "root-cert.pem"),
                    os.path.join(d, "ca-cert.pem"))
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertIn(": OK", v.stdout)
        text = openssl("x509", "-noout", "-text", "-in", os.path.join(d, "ca-cert.pem")).stdout
        self.assertRegex(text, r"Basic Constraints: critical\s+CA:TRUE\n")
        self.assertNotIn("pathlen", text)
        self.assertRegex(text, r"Key Usage: critical\s+Certificate Sign, CRL Sign\n")
        self.assertIn("Subject: O = Istio, CN = Intermediate CA, L = east", text)
        self.assertIn("Issuer: O = Istio, CN = Root CA", text)
        self.assertIn("X509v3 Subject Key Identifier", text)
        self.assertIn("X509v3 Authority Key Identifier", text)
        self.assertIn("DNS:istiod.istio-system.svc", text)
        serial = openssl("x509", "-noout", "-serial", "-in", os.path.join(d, "ca-cert.pem"))
        self.assertEqual(len(serial.stdout.strip().split("=", 1)[1]), 32)  # 128 bits in hex
        self.assertEqual(openssl("pkey", "-pubout", "-in", os.path.join(d, "ca-key.pem")).stdout,
                         openssl("x509", "-noout", "-pubkey", "-in",
                                 os.path.join(d, "ca-cert.pem")).stdout)
        root_fp = openssl("x509", "-noout", "-fingerprint", "-sha256", "-in",
                          self.path("root", "root-cert.pem")).stdout.strip()
        self.assertIn(root_fp, p.stdout.splitlines())
        # Refusal to overwrite, then --force.
        before = read(os.path.join(d, "ca-key.pem"))
        p = run("intermediate", "--cluster", "east", "--root", self.path("root"), "--out", d,
                check=1)
        self.assertEqual(p.stderr.count("refusing to overwrite"), 4)
        self.assertEqual(read(os.path.join(d, "ca-key.pem")), before)
        self.make_intermediate("east", "east", "--force")
        self.assertNotEqual(read(os.path.join(d, "ca-key.pem")), before)
        self.assertEqual(os.stat(os.path.join(d, "ca-key.pem")).st_mode & 0o777, 0o600)

    def test_intermediate_days_and_missing_root(self):
        p = run("intermediate", "--cluster", "east", "--root", self.path("nope"), "--out",
                self.path("east"), check=1)
        self.assertIn("root-cert.pem is missing", p.stderr)
        self.assertFalse(os.path.exists(self.path("east")))
        self.make_root("--days", "100")
        self.make_intermediate("east", "east", "--days", "1000")
        # Cut to the root's notAfter.
        ends = [openssl("x509", "-noout", "-enddate", "-in", self.path(f)).stdout
                for f in ("root/root-cert.pem", "east/ca-cert.pem")]
        self.assertEqual(ends[0], ends[1])

    def test_verify(self):
        self.make_root()
        self.make_intermediate()
        p = run("verify", "--dir", self.path("east"), check=0)
        self.assert_no_key_material(p, self.path("east", "ca-key.pem"))
        fp = openssl("x509", "-noout", "-fingerprint", "-sha256", "-in",
                     self.path("east", "root-cert.pem")).stdout.strip()
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], fp)
        end = openssl("x509", "-noout", "-enddate", "-in",
                      self.path("east", "ca-cert.pem")).stdout.strip().split("=", 1)[1]
        rfc3339 = datetime.strptime(end, "%b %d %H:%M:%S %Y %Z").strftime("%Y-%m-%dT%H:%M:%SZ")
        self.assertEqual(lines[1], f"intermediate notAfter={rfc3339}")
        self.assertEqual(p.stderr, "")
        run("verify", "--dir", self.path("east"), "--root", self.path("root", "root-cert.pem"),
            check=0)

        # The seed failure: cluster B's bundle comes from a different root.
        other = os.path.join(self.tmp, "other")
        run("root", "--out", other, check=0)
        p = run("verify", "--dir", self.path("east"), "--root",
                os.path.join(other, "root-cert.pem"), check=1)
        problems = p.stderr.splitlines()
        self.assertGreaterEqual(len(problems), 2)
        for line in problems:
            self.assertTrue(line.startswith("meshctl pki verify: "), line)
        self.assertTrue(any("does not chain to root" in l for l in problems), problems)
        other_fp = openssl("x509", "-noout", "-fingerprint", "-sha256", "-in",
                           os.path.join(other, "root-cert.pem")).stdout.strip()
        self.assertEqual(p.stdout.splitlines()[0], other_fp)
        o = openssl("verify", "-CAfile", os.path.join(other, "root-cert.pem"),
                    self.path("east", "ca-cert.pem"))
        self.assertNotEqual(o.returncode, 0)  # openssl agrees

        # A key from another intermediate, and a missing file.
        self.make_intermediate("west", "west")
        shutil.copy(self.path("west", "ca-key.pem"), self.path("east", "ca-key.pem"))
        os.remove(self.path("east", "cert-chain.pem"))
        p = run("verify", "--dir", self.path("east"), check=1)
        self.assertEqual(sorted(p.stderr.splitlines()), sorted([
            f"meshctl pki verify: {self.path('east')}/ca-key.pem: does not match ca-cert.pem",
            f"meshctl pki verify: {self.path('east')}/cert-chain.pem: missing",
        ]))

    def test_verify_expiring_soon_warns(self):
        self.make_root()
        self.make_intermediate("east", "east", "--days", "10")
        p = run("verify", "--dir", self.path("east"), check=0)
        self.assertIn("expires within 30 days", p.stderr)

    def test_verify_seed_recipe_bundle(self):
        """The multicloud seed's openssl commands, verbatim but for key size and paths."""
        d = self.path("seed")
        os.mkdir(d)
        sh = f"""set -e
cd {d}
openssl req -new -newkey rsa:2048 -x509 -sha256 -days 3650 -nodes -subj "/O=Company Inc./CN=Root CA" -keyout root-key.pem -out root-cert.pem
openssl req -new -newkey rsa:2048 -nodes -subj "/O=Company Inc./CN=Cluster-1 Intermediate CA" -keyout ca-key.pem -out ca-csr.pem
printf 'basicConstraints=CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n' > ext.cnf
openssl x509 -req -sha256 -days 1825 -CA root-cert.pem -CAkey root-key.pem -CAcreateserial -in ca-csr.pem -out ca-cert.pem -extfile ext.cnf
cat ca-cert.pem root-cert.pem > cert-chain.pem
rm -f ca-csr.pem ext.cnf root-cert.srl
"""
        subprocess.run(["bash", "-c", sh], check=True, capture_output=True, timeout=120)
        p = run("verify", "--dir", d, check=0)
        fp = openssl("x509", "-noout", "-fingerprint", "-sha256", "-in",
                     os.path.join(d, "root-cert.pem")).stdout.strip()
        self.assertEqual(p.stdout.splitlines()[0], fp)
        # And meshctl can sign with a root the seeds' recipe made.
        p = run("intermediate", "--cluster", "c2", "--root", d, "--out", self.path("c2"), check=0)
        run("verify", "--dir", self.path("c2"), "--root", os.path.join(d, "root-cert.pem"),
            check=0)

    def test_cacerts_secret(self):
        self.make_root()
        self.make_intermediate()
        d = self.path("east")
        p = run("cacerts-secret", "--cluster", "east", "--dir", d, check=0)
        doc = yaml.safe_load(p.stdout)
        self.assertEqual(doc["apiVersion"], "v1")
        self.assertEqual(doc["kind"], "Secret")
        self.assertEqual(doc["type"], "Opaque")
        self.assertEqual(doc["metadata"]["name"], "cacerts")
        self.assertEqual(doc["metadata"]["namespace"], "istio-system")
        self.assertEqual(doc["metadata"]["labels"]["meshcluster.io/cluster"], "east")
        self.assertEqual(sorted(doc["data"]), sorted(CACERTS))
        for name in CACERTS:
            self.assertEqual(base64.b64decode(doc["data"][name]),
                             read(os.path.join(d, name), "rb"))
        k = subprocess.run(["kubectl", "create", "secret", "generic", "cacerts", "-n",
                            "istio-system", "--dry-run=client", "-o", "json"] +
                           [f"--from-file={os.path.join(d, n)}" for n in CACERTS],
                           capture_output=True, text=True, timeout=60)
        if k.returncode == 0:  # kubectl is a cross-check, not a dependency
            self.assertEqual(json.loads(k.stdout)["data"], doc["data"])
        # A broken bundle produces no Secret.
        os.remove(os.path.join(d, "root-cert.pem"))
        p = run("cacerts-secret", "--cluster", "east", "--dir", d, check=1)
        self.assertEqual(p.stdout, "")
        self.assertIn("root-cert.pem: missing", p.stderr)

    def test_bad_arguments_exit_2(self):
        cases = [
            [], ["bogus"], ["root"], ["root", "--out"], ["root", "--out", "x", "--days", "0"],
            ["root", "--out", "x", "--days", "ten"], ["root", "--out", "x", "--days", "99999999"],
            ["root", "--out", "x", "--rsa=yes"], ["root", "--out", "x", "--what"],
            ["root", "stray"], ["intermediate", "--root", "r", "--out", "o"],
            ["intermediate", "--cluster", "Bad_Name", "--root", "r", "--out", "o"],
            ["intermediate", "--cluster", "-x", "--root", "r", "--out", "o"],
            ["verify"], ["verify", "--dir"], ["cacerts-secret", "--dir", "d"],
            ["cacerts-secret", "--cluster", "UPPER", "--dir", "d"],
        ]
        cwd = os.getcwd()
        os.chdir(self.tmp)
        try:
            for args in cases:
                with self.subTest(args=args):
                    p = run(*args)
                    self.assertEqual(p.returncode, 2, p.stderr)
                    self.assertNotEqual(p.stderr.strip(), "")
            self.assertEqual(os.listdir(self.tmp), [])  # nothing was created
        finally:
            os.chdir(cwd)
        for sub in ["root", "intermediate", "verify", "cacerts-secret"]:
            p = run(sub, "--help", check=0)
            self.assertIn("Usage: meshctl pki " + sub, p.stdout)
        p = subprocess.run([MESHCTL, "--help"], capture_output=True, text=True)
        self.assertIn("pki", p.stdout)


if __name__ == "__main__":
    if not os.access(MESHCTL, os.X_OK):
        sys.exit(f"meshctl not built at {MESHCTL}")
    unittest.main(verbosity=2)
