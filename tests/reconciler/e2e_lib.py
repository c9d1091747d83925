"""Shared pieces of the reconciler end-to-end tests: a "cluster" is one kube-apiserver-lite
with the Tailscale and istiod simulators, set up as the guide's Steps 1-3 leave a real cluster
(namespaces, the Istio CRDs, istiod's `istio` ConfigMap), driven with real kubectl, plus one
meshclusterd per cluster."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import re
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("MC_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("MC_BUILD_DIR") or os.path.join(REPO, "build")
SHARED = os.environ.get("MC_SHARED_DIR") or os.path.join(os.path.dirname(REPO), "shared")
SERVER = os.path.join(REPO, "tests", "apiserver", "kube-apiserver-lite")
DAEMON = os.path.join(BUILD, "meshclusterd")
KUBECTL = "/usr/bin/kubectl"
EXAMPLES = os.path.join(REPO, "deploy", "examples")
CRD = os.path.join(REPO, "deploy", "crds", "meshcluster.yaml")
ISTIO_CRDS = os.path.join(SHARED, "fixtures", "istio", "charts", "base", "files", "crd-all.gen.yaml")

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def gateway_crd(tmp):
    """Only the Gateway CRD from Istio's real CRD bundle (all of them would be slow to apply)."""
    import yaml
    out = os.path.join(tmp, "gateway-crd.yaml")
    with open(ISTIO_CRDS) as f:
        for doc in yaml.safe_load_all(f):
            if doc and doc.get("metadata", {}).get("name") == "gateways.networking.istio.io":
                with open(out, "w") as g:
                    yaml.safe_dump(doc, g)
                return out
    raise RuntimeError("no Gateway CRD in " + ISTIO_CRDS)


def wait_for(what, fn, timeout=30.0, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # keep polling; report the last error on timeout
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def obs_port(log_text):
    """The first health/metrics port a daemon's text log announces, or None."""
    m = re.findall(r'msg="serving health and metrics" addr=\S+ port=(\d+)', log_text)
    return int(m[0]) if m else None


def http_get(port, path):
    """(status, body) of a GET on 127.0.0.1:port, error statuses included."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Cluster:
    def __init__(self, name, tmp, server_args=()):
        self.name = name
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        info = os.path.join(self.dir, "info.json")
        self.server_log = open(os.path.join(self.dir, "server.log"), "w")
        self.server = subprocess.Popen(
            ["/usr/bin/python3", SERVER, "--port", "0", "--info-out", info, "--kubeconfig-out",
             os.path.join(self.dir, "kubeconfig"), "--simulate", "tailscale,istiod"] + list(server_args),
            stdout=self.server_log, stderr=subprocess.STDOUT)
        wait_for("%s API server" % name, lambda: os.path.exists(info) and os.path.getsize(info) > 0, 30)
        time.sleep(0.05)
        with open(info) as f:
            self.info = json.load(f)
        self.kubeconfig = self.info["kubeconfig"]
        self.control = self.info["control_url"]
        self.daemon = None
        self.daemon_log_path = os.path.join(self.dir, "meshclusterd.log")

    # -- kubectl -----------------------------------------------------------------------------
    def kubectl(self, *args, check=True, input=None):
        env = dict(os.environ, KUBECONFIG=self.kubeconfig, KUBECACHEDIR=os.path.join(self.dir, "kcache"))
        p = subprocess.run([KUBECTL] + list(args), env=env, input=input, capture_output=True,
                           text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s failed: %s%s" % (" ".join(args), p.stdout, p.stderr))
        return p

    def get(self, kind, name, ns=None):
        args = ["get", kind, name, "-o", "json", "--show-managed-fields"] + (["-n", ns] if ns else [])
        p = self.kubectl(*args, check=False)
        if p.returncode != 0:
            if "NotFound" in p.stderr or "not found" in p.stderr:
                return None
            raise AssertionError("kubectl get failed: " + p.stderr)
        return json.loads(p.stdout)

    def list(self, kind, ns=None, selector=None):
        args = ["get", kind, "-o", "json"] + (["-n", ns] if ns else ["-A"])
        if selector:
            args += ["-l", selector]
        return json.loads(self.kubectl(*args).stdout)["items"]

    def prepare(self, tmp):
        """What Steps 1-3 of the guide leave behind: namespaces, CRDs, istiod's ConfigMap."""
        self.kubectl("apply", "-f", CRD, "-f", gateway_crd(tmp))
        self.kubectl("create", "namespace", "istio-system", check=False)
        self.kubectl("create", "namespace", "tailscale", check=False)
        self.kubectl("create", "configmap", "istio", "-n", "istio-system",
                     "--from-literal=mesh=defaultConfig: {}")

    def apply_examples(self, names):
        args = ["apply"]
        for n in names:
            args += ["-f", os.path.join(EXAMPLES, n + ".yaml")]
        self.kubectl(*args)

    # -- control endpoint --------------------------------------------------------------------
    def ctl(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.control + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def requests(self):
        return self.ctl("GET", "/requests")

    def clear_requests(self):
        self.ctl("POST", "/requests/clear", {})

    def daemon_writes(self):
        return [r for r in self.requests()
                if r["method"] in WRITE_METHODS and (r.get("user_agent") or "").startswith("meshcluster")]

    # -- the daemon --------------------------------------------------------------------------
    def start_daemon(self, *extra):
        log = open(self.daemon_log_path, "a")
        self.daemon = subprocess.Popen(
            [DAEMON, "--cluster-name", self.name, "--kubeconfig", self.kubeconfig,
             "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
             "--log-format", "text", "--log-level", "debug", "--leader-elect=false"] + list(extra),
            stdout=log, stderr=subprocess.STDOUT)
        return self.daemon

    def stop_daemon(self, sig=signal.SIGTERM, timeout=6):
        if self.daemon is None:
            return None
        if self.daemon.poll() is None:
            self.daemon.send_signal(sig)
        try:
            rc = self.daemon.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            rc = self.daemon.wait()
            rc = "timeout"
        self.daemon = None
        return rc

    def daemon_log(self):
        try:
            with open(self.daemon_log_path) as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        self.stop_daemon(timeout=6)
        if self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
        self.server_log.close()


def cleanup(tmp):
    """Removes a test's folder (logs were already printed on failure); MC_KEEP_E2E=1 keeps it."""
    if not os.environ.get("MC_KEEP_E2E"):
        shutil.rmtree(tmp, ignore_errors=True)


def mesh(names, server_args=()):
    tmp = tempfile.mkdtemp(prefix="mc-e2e-")
    clusters = []
    try:
        for n in names:
            c = Cluster(n, tmp, server_args)
            clusters.append(c)
            c.prepare(tmp)
    except Exception:
        for c in clusters:
            c.close()
        cleanup(tmp)
        raise
    return tmp, clusters


def run(names, body, server_args=()):
    """Runs body(tmp, clusters) on fresh clusters; on failure prints each daemon's log tail;
    always stops everything and removes the folder; prints PASS on success."""
    tmp, clusters = mesh(names, server_args)
    ok = False
    try:
        body(tmp, clusters)
        ok = True
    finally:
        for c in clusters:
            if not ok:
                print(c.daemon_log()[-6000:])
            c.close()
        cleanup(tmp)
    print("PASS")
