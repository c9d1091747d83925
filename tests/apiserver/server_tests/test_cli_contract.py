#!/usr/bin/python3
"""Proves the command-line contract other tests rely on: --port 0 prints the chosen port, the
--info-out JSON has exactly the documented keys, --kubeconfig-out and --token work, the server
listens on 127.0.0.1 only, SIGTERM ends it cleanly, and tests/support/with-apiserver can run a
real kubectl against it."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
from harness import KUBECTLS, REPO, SERVER  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class CliContract(unittest.TestCase):
    def test_contract(self):
        with tempfile.TemporaryDirectory() as d:
            port = free_port()
            info_path = os.path.join(d, "info.json")
            kc_path = os.path.join(d, "kc")
            p = subprocess.Popen(["/usr/bin/python3", SERVER, "--port", str(port), "--info-out", info_path,
                                  "--kubeconfig-out", kc_path, "--token", "tok-123"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                line = p.stdout.readline().strip()
                self.assertEqual(line, "listening on https://127.0.0.1:%d" % port)
                with open(info_path) as f:
                    info = json.load(f)
                self.assertEqual(set(info), {"url", "control_url", "ca_file", "token", "kubeconfig", "pid"})
                self.assertEqual(info["url"], "https://127.0.0.1:%d" % port)
                self.assertEqual(info["token"], "tok-123")
                self.assertEqual(info["pid"], p.pid)
                self.assertEqual(info["kubeconfig"], kc_path)
                self.assertTrue(os.path.isabs(info["ca_file"]) and os.path.exists(info["ca_file"]))
                self.assertTrue(info["control_url"].startswith("http://127.0.0.1:"))
                with open(kc_path) as f:
                    kc = yaml.safe_load(f)
                self.assertEqual(kc["clusters"][0]["cluster"]["server"], info["url"])
                self.assertIn("certificate-authority-data", kc["clusters"][0]["cluster"])
                self.assertEqual(kc["users"][0]["user"]["token"], "tok-123")
                # loopback only: the port is not bound on other addresses
                with open("/proc/net/tcp") as f:
                    listeners = f.read().splitlines()[1:]
                local = [ln.split()[1] for ln in listeners if ln.split()[3] == "0A"]
                self.assertIn("0100007F:%04X" % port, local)
                self.assertNotIn("00000000:%04X" % port, local)
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(15), 0)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stdout.close()

    def test_with_apiserver(self):
        wrapper = os.path.join(REPO, "tests", "support", "with-apiserver")
        if not os.access(wrapper, os.X_OK):
            self.skipTest("tests/support/with-apiserver absent")
        r = subprocess.run([wrapper, "--", KUBECTLS["1.32"], "get", "namespaces", "-o", "name"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("namespace/kube-system", r.stdout.split())


if __name__ == "__main__":
    unittest.main(verbosity=2)
