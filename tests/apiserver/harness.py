"""Test harness: starts a private kube-apiserver-lite and talks to it with raw HTTPS, the control
endpoint, kubectl (several versions) and helm. Shared by tests/apiserver and tests/conformance.

Server(real=True) starts a real cluster instead (tests/apiserver/realserver.py); the
conformance suite asks for one unless MC_TEST_SERVER=lite. There the control endpoint offers
/requests and /requests/clear (from the audit log) and the simulators' paths; the lite
server's fault paths skip the calling test, and --tokens-file is lite-only. Server(real=True,
faults=True) puts tests/realcluster's fault proxy in front of the real server: every client
of the harness talks through it, and the fault paths it serves (realserver.FAULT_PATHS: /fail,
/latency, /drop-watches, /listener, /compact, /requests...) go to its control port."""
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import realserver

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SERVER = os.path.join(HERE, "kube-apiserver-lite")
SHARED = os.environ.get("MC_SHARED_DIR") or os.path.join(os.path.dirname(REPO), "shared")

KUBECTLS = {
    "1.32": "/usr/bin/kubectl",
    "1.34": os.path.join(REPO, "tools", "kubectl"),
    "1.27": "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
}
HELM = os.path.join(REPO, "tools", "helm")


def have(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


class Server:
    def __init__(self, *args, tokens=None, real=False, faults=False):
        self.tmp = tempfile.mkdtemp(prefix="kal-test-")
        self.log = open(os.path.join(self.tmp, "server.log"), "w")
        self.real = None
        self.proc = None
        self.faults = real and faults
        if real:
            self._start_real(args, tokens)
        else:
            self._start_lite(args, tokens)
        self.url = self.info["proxy_url" if self.faults else "url"]
        self.token = self.info["token"]
        self.kubeconfig = self.info["proxy_kubeconfig" if self.faults else "kubeconfig"]
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port = u.hostname, u.port
        self.ssl = ssl.create_default_context(cafile=self.info["ca_file"])
        c = urllib.parse.urlsplit(self.info.get("control_url") or "http://127.0.0.1:0")
        self.control_port = c.port

    def _start_lite(self, args, tokens):
        info = os.path.join(self.tmp, "info.json")
        cmd = ["/usr/bin/python3", SERVER, "--port", "0", "--info-out", info,
               "--kubeconfig-out", os.path.join(self.tmp, "kubeconfig")] + list(args)
        if tokens is not None:
            tf = os.path.join(self.tmp, "tokens.json")
            with open(tf, "w") as f:
                json.dump(tokens, f)
            cmd += ["--tokens-file", tf]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(info):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not start:\n" + self.server_log())
            time.sleep(0.05)
        with open(info) as f:
            self.info = json.load(f)

    def _start_real(self, args, tokens):
        if tokens is not None:
            self.stop()
            raise unittest.SkipTest("--tokens-file is the lite server's (real: RBAC)")
        sims, rest = [], list(args)
        while rest:
            flag = rest.pop(0)
            if flag == "--simulate":
                sims = rest.pop(0).split(",")
            elif flag == "--history":
                rest.pop(0)  # etcd keeps its own history
            else:
                self.stop()
                raise unittest.SkipTest("%s is a lite-server flag" % flag)
        try:
            self.real = realserver.RealServer(self.tmp, "kal-test", self.log, sims, fault_proxy=self.faults)
        except RuntimeError:
            self.stop()
            raise
        self.info = self.real.info

    def server_log(self):
        try:
            with open(os.path.join(self.tmp, "server.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.real is not None:
            self.real.close()
            self.real = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- raw HTTPS -----------------------------------------------------------------------
    def conn(self, timeout=30):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ssl, timeout=timeout)

    def request(self, method, path, body=None, ctype="application/json", token=None, headers=None):
        """Returns (status, headers, decoded JSON or text)."""
        c = self.conn()
        h = {"Authorization": "Bearer %s" % (token or self.token), "Accept": "application/json"}
        if token == "":
            del h["Authorization"]
        if body is not None:
            h["Content-Type"] = ctype
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            obj = json.loads(data) if data else None
        except ValueError:
            obj = data.decode(errors="replace")
        return r.status, r.headers, obj

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def watch(self, path, timeout=10):
        """Yields watch events until the server ends the stream (or the timeout passes)."""
        c = self.conn(timeout=timeout)
        c.request("GET", path, headers={"Authorization": "Bearer %s" % self.token})
        r = c.getresponse()
        if r.status != 200:
            body = r.read()
            c.close()
            raise AssertionError("watch %s answered %d: %s" % (path, r.status, body[:500]))
        try:
            while True:
                line = r.readline()
                if not line:
                    return
                yield json.loads(line)
        finally:
            c.close()

    def control(self, path, body=None):
        port = self.control_port
        if self.faults and path in realserver.FAULT_PATHS:
            port = urllib.parse.urlsplit(self.info["proxy_control_url"]).port
        elif self.real is not None:
            if path == "/requests":
                return self.real.requests()
            if path == "/requests/clear":
                self.real.clear_requests()
                return {"ok": True}
            if not path.startswith(("/tailscale", "/istiod")):
                raise unittest.SkipTest("control %s is the lite server's fault injection" % path)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        if body is None and path in ("/requests", "/state"):
            c.request("GET", path)
        else:
            c.request("POST", path, body=json.dumps(body or {}), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = json.loads(r.read())
        c.close()
        if r.status != 200:
            raise AssertionError("control %s: %s" % (path, data))
        return data

    # ---- real clients --------------------------------------------------------------------
    def env(self):
        e = dict(os.environ)
        e.update({"KUBECONFIG": self.kubeconfig, "KUBECACHEDIR": os.path.join(self.tmp, "kubecache"),
                  "HOME": self.tmp, "HELM_CACHE_HOME": os.path.join(self.tmp, "helm-cache"),
                  "HELM_CONFIG_HOME": os.path.join(self.tmp, "helm-config"),
                  "HELM_DATA_HOME": os.path.join(self.tmp, "helm-data")})
        return e

    def run(self, argv, input=None, timeout=60, check=True):
        p = subprocess.run(argv, input=input, capture_output=True, text=True, env=self.env(), timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("%s failed (%d):\nstdout: %s\nstderr: %s"
                                 % (" ".join(argv), p.returncode, p.stdout, p.stderr))
        return p

    def kubectl(self, version, *args, input=None, timeout=60, check=True):
        return self.run([KUBECTLS[version]] + list(args), input=input, timeout=timeout, check=check)

    def popen_kubectl(self, version, *args):
        return subprocess.Popen([KUBECTLS[version]] + list(args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env())


def wait_for(pred, timeout=10, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s" % what)
