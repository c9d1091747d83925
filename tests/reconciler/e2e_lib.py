"""Shared pieces of the reconciler end-to-end tests: a "cluster" is an API server with the
Tailscale and istiod simulators, set up as the guide's Steps 1-3 leave a real cluster
(namespaces, the Istio CRDs, istiod's `istio` ConfigMap), driven with real kubectl, plus one
meshclusterd per cluster.

MC_TEST_SERVER picks the API server (default real):
  real  a real control plane (tests/support/real-cluster: etcd, kube-apiserver,
        kube-controller-manager) with the simulators as a client process
        (tests/support/simulate); the request log is read from the API server's audit log,
        and the daemon runs as the Helm chart's ServiceAccount (chart rendered by helm and
        applied, token from `kubectl create token`) with leader election on;
  lite  tests/apiserver/kube-apiserver-lite with the simulators inside it, the daemon as
        admin without leader election.
Faults: the lite server injects them itself. On a real server a Cluster made with faults=True
gets tests/realcluster's fault proxy in front of kube-apiserver (real-cluster up --fault-proxy):
the daemon and kubectl talk through it (the simulators do not, as inside the lite server), and
ctl() sends the fault-control paths (/fail, /latency, /drop-watches, /listener, /compact,
/requests) to the proxy's control port, whose request log (every client's, injected failures
included, no user) then replaces the audit log. Without faults=True these paths exist on the
lite server only."""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import re
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "apiserver"))
import realserver  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("MC_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("MC_BUILD_DIR") or os.path.join(REPO, "build")
SHARED = os.environ.get("MC_SHARED_DIR") or os.path.join(os.path.dirname(REPO), "shared")
SERVER = os.path.join(REPO, "tests", "apiserver", "kube-apiserver-lite")
HELM = os.path.join(REPO, "tools", "helm")
CHART = os.path.join(REPO, "deploy", "helm", "meshcluster")
# The chart's release namespace, and the daemon's Lease's; not the default meshcluster-system,
# which test_e2e_leader creates for its own replicas.
CHART_NS = "meshcluster"
SERVER_KIND = realserver.server_kind()
REAL = SERVER_KIND == "real"
DAEMON = os.path.join(BUILD, "meshclusterd")
KUBECTL = "/usr/bin/kubectl"
EXAMPLES = os.path.join(REPO, "deploy", "examples")
CRD = os.path.join(REPO, "deploy", "crds", "meshcluster.yaml")
ISTIO_CRDS = os.path.join(SHARED, "fixtures", "istio", "charts", "base", "files", "crd-all.gen.yaml")

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Lite server flags that the simulators take in real mode; the others are lite-only.
SIMULATOR_FLAGS = {"--tailscale-ready-delay": 1, "--tailscale-fail": 0}
# The lite server's control paths that the fault proxy serves in real mode (faults=True).
FAULT_PATHS = realserver.FAULT_PATHS


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
    def __init__(self, name, tmp, server_args=(), apiserver_args=(), faults=False):
        """server_args: the lite server's flags (in real mode only the simulators' ones);
        apiserver_args: extra kube-apiserver flags (real mode only); faults: the fault proxy in
        front of a real server (the lite server has its faults anyway)."""
        self.name = name
        self.faults = REAL and faults
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.daemon = None
        self.daemon_log_path = os.path.join(self.dir, "meshclusterd.log")
        self.server_log = open(os.path.join(self.dir, "server.log"), "w")
        self.server = self.real = None
        if REAL:
            self._start_real(server_args, apiserver_args, faults)
        else:
            if apiserver_args:
                raise ValueError("apiserver_args need MC_TEST_SERVER=real")
            self._start_lite(server_args)
        # Through the proxy when there is one, as every client of the lite server meets its faults.
        self.kubeconfig = self.info["proxy_kubeconfig" if self.faults else "kubeconfig"]
        self.api_url = self.info["proxy_url" if self.faults else "url"]
        self.control = self.info["control_url"]
        # The daemon's credentials: admin on the lite server, the chart's ServiceAccount on a
        # real one (written by prepare()).
        self.daemon_kubeconfig = self.kubeconfig
        # Extra `helm template --set` values for install_chart() (real mode), e.g.
        # ["metrics.secure=true"]; set before prepare().
        self.chart_values = []

    def _start_lite(self, server_args):
        info = os.path.join(self.dir, "info.json")
        self.server = subprocess.Popen(
            ["/usr/bin/python3", SERVER, "--port", "0", "--info-out", info, "--kubeconfig-out",
             os.path.join(self.dir, "kubeconfig"), "--simulate", "tailscale,istiod"] + list(server_args),
            stdout=self.server_log, stderr=subprocess.STDOUT)
        wait_for("%s API server" % self.name, lambda: os.path.exists(info) and os.path.getsize(info) > 0, 30)
        time.sleep(0.05)
        with open(info) as f:
            self.info = json.load(f)

    def _start_real(self, server_args, apiserver_args, faults):
        sim_args, rest = [], list(server_args)
        while rest:
            flag = rest.pop(0)
            if flag.split("=", 1)[0] not in SIMULATOR_FLAGS:
                raise ValueError("%s is a lite-server flag (MC_TEST_SERVER=lite)" % flag)
            sim_args.append(flag)
            if "=" not in flag:
                sim_args += [rest.pop(0) for _ in range(SIMULATOR_FLAGS[flag])]
        try:
            self.real = realserver.RealServer(self.dir, self.name, self.server_log, ("tailscale", "istiod"),
                                              sim_args, apiserver_args, fault_proxy=faults)
        except RuntimeError:
            self.server_log.close()
            with open(os.path.join(self.dir, "server.log")) as f:
                raise AssertionError("%s: real cluster did not start:\n%s" % (self.name, f.read()[-4000:]))
        self.info = self.real.info

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
        if REAL:
            # A real server serves a new CRD's kind only once it is Established. kubectl wait
            # fails at once, instead of waiting, on a CRD whose status has no conditions yet
            # (".status.conditions accessor error", seen under load): ask again.
            wait_for("the CRDs Established", lambda: self.kubectl(
                "wait", "--for=condition=Established", "--timeout=30s", "crd/meshclusters.meshcluster.io",
                "crd/gateways.networking.istio.io", check=False).returncode == 0, 90, 0.5)
        self.kubectl("create", "namespace", "istio-system", check=False)
        self.kubectl("create", "namespace", "tailscale", check=False)
        self.kubectl("create", "configmap", "istio", "-n", "istio-system",
                     "--from-literal=mesh=defaultConfig: {}")
        if REAL:
            self.install_chart()

    def install_chart(self):
        """The Helm chart rendered by helm and applied (no kubelet runs its Deployment: the
        daemon runs here, with a token of the chart's ServiceAccount)."""
        self.kubectl("create", "namespace", CHART_NS, check=False)
        sets = []
        for v in self.chart_values:
            sets += ["--set", v]
        r = subprocess.run([HELM, "template", "meshcluster", CHART, "--namespace", CHART_NS,
                            "--set", "clusterName=" + self.name] + sets, capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, HELM_CACHE_HOME=os.path.join(self.dir, "helm-cache"),
                                    HELM_CONFIG_HOME=os.path.join(self.dir, "helm-config"),
                                    HELM_DATA_HOME=os.path.join(self.dir, "helm-data")))
        if r.returncode != 0:
            raise AssertionError("helm template failed: " + r.stderr)
        self.kubectl("apply", "-f", "-", input=r.stdout)
        self.daemon_kubeconfig = os.path.join(self.dir, "kubeconfig-meshcluster-controller")
        self.write_sa_kubeconfig(self.daemon_kubeconfig, token=self.sa_token())

    def sa_token(self, sa="meshcluster-controller", duration="24h", bound_secret=None):
        """A TokenRequest token of a ServiceAccount in the chart's namespace (real mode); with
        bound_secret, bound to that Secret of the same namespace: deleting the Secret
        invalidates the token, as deleting a Pod does its projected token."""
        args = ["create", "token", sa, "-n", CHART_NS, "--duration=" + duration]
        if bound_secret:
            args += ["--bound-object-kind=Secret", "--bound-object-name=" + bound_secret]
        return self.kubectl(*args).stdout.strip()

    def write_sa_kubeconfig(self, path, token=None, token_file=None, ca_file=None):
        """A kubeconfig for this cluster with a ServiceAccount's bearer token, inline or as a
        tokenFile (re-read by the daemon, as a pod's projected token is)."""
        user = {"token": token} if token else {"tokenFile": token_file}
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": self.name,
                       "clusters": [{"name": self.name, "cluster": {
                           "server": self.api_url,
                           "certificate-authority": ca_file or self.info["ca_file"]}}],
                       "users": [{"name": "meshcluster-controller", "user": user}],
                       "contexts": [{"name": self.name, "context": {
                           "cluster": self.name, "user": "meshcluster-controller"}}]}, f)
        return path

    def bind_like_chart(self, sa):
        """A second ServiceAccount granted exactly what the chart grants its own (each of the
        chart's bindings gets it as a subject): two replicas that the audit log tells apart."""
        self.kubectl("create", "serviceaccount", sa, "-n", CHART_NS)
        subject = {"kind": "ServiceAccount", "name": sa, "namespace": CHART_NS}
        patch = json.dumps([{"op": "add", "path": "/subjects/-", "value": subject}])
        for kind in ("clusterrolebinding", "rolebinding"):
            for b in self.list(kind, selector="app.kubernetes.io/name=meshcluster"):
                ns = ["-n", b["metadata"]["namespace"]] if "namespace" in b["metadata"] else []
                self.kubectl("patch", kind, b["metadata"]["name"], *ns, "--type=json", "-p", patch)

    def apply_examples(self, names):
        args = ["apply"]
        for n in names:
            args += ["-f", os.path.join(EXAMPLES, n + ".yaml")]
        self.kubectl(*args)

    # -- control endpoint --------------------------------------------------------------------
    def ctl(self, method, path, body=None):
        """The lite server's control endpoint; in real mode the simulators' (/tailscale,
        /istiod/restart) and, with faults, the fault proxy's; without, /requests is served from
        the audit log."""
        control = self.control
        if self.faults and path in FAULT_PATHS:
            control = self.info["proxy_control_url"]
        elif REAL and path == "/requests":
            return self.requests()
        elif REAL and path == "/requests/clear":  # (an `if` here recursed with faults on)
            self.clear_requests()
            return {"ok": True}
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(control + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def requests(self):
        """Requests since the last clear_requests(), oldest first: method, path, query, code,
        user_agent (and, on a real server without faults, user)."""
        return self.real.requests() if REAL and not self.faults else self.ctl("GET", "/requests")

    def clear_requests(self):
        if REAL and not self.faults:
            self.real.clear_requests()
        else:
            self.ctl("POST", "/requests/clear", {})

    def daemon_writes(self):
        """The daemon's writes. On a real server it runs with leader election, whose Lease
        renewals are writes by design; they are left out (the steady state means no write to
        mesh objects, status or Events)."""
        return [r for r in self.requests()
                if r["method"] in WRITE_METHODS and (r.get("user_agent") or "").startswith("meshcluster")
                and not (REAL and r["path"].startswith("/apis/coordination.k8s.io/v1/namespaces/%s/leases"
                                                       % CHART_NS))]

    def daemon_connections(self):
        """The daemon's established TCP connections to this cluster's API server (from
        /proc: its socket inodes matched against /proc/net/tcp)."""
        port = int(urllib.parse.urlsplit(self.api_url).port)
        inodes = set()
        fd_dir = "/proc/%d/fd" % self.daemon.pid
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        n = 0
        for table in ("/proc/%d/net/tcp" % self.daemon.pid, "/proc/%d/net/tcp6" % self.daemon.pid):
            with open(table) as f:
                for row in f.readlines()[1:]:
                    cols = row.split()
                    remote_port = int(cols[2].rsplit(":", 1)[1], 16)
                    if cols[3] == "01" and remote_port == port and cols[9] in inodes:
                        n += 1
        return n

    # -- the daemon --------------------------------------------------------------------------
    def start_daemon(self, *extra):
        log = open(self.daemon_log_path, "a")
        self.daemon = subprocess.Popen(
            [DAEMON, "--cluster-name", self.name, "--kubeconfig", self.daemon_kubeconfig,
             "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
             "--log-format", "text", "--log-level", "debug"]
            + (["--leader-elect=true", "--lease-namespace", CHART_NS] if REAL else ["--leader-elect=false"])
            + list(extra),
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
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
        if self.real is not None:
            self.real.close()
        if not self.server_log.closed:
            self.server_log.close()


class Replica:
    """One more meshclusterd on a cluster beside (or instead of) Cluster.start_daemon's, with
    its own log; POD_NAME=name prefixes its Lease identity and names it in its Events.
    kubeconfig: default the cluster's admin one; lease_ns None: no leader election."""

    def __init__(self, c, name, kubeconfig=None, lease_ns=None, extra=()):
        self.c, self.name = c, name
        self.kubeconfig = kubeconfig or c.kubeconfig
        self.lease_ns, self.extra = lease_ns, list(extra)
        self.log_path = os.path.join(c.dir, "meshclusterd-%s.log" % name)
        self.proc = None

    def start(self):
        env = dict(os.environ, POD_NAME=self.name)
        elect = ["--leader-elect", "--lease-namespace", self.lease_ns] if self.lease_ns else ["--leader-elect=false"]
        with open(self.log_path, "w") as log:  # each start its own log: port() reads the first
            self.proc = subprocess.Popen(
                [DAEMON, "--cluster-name", self.c.name, "--kubeconfig", self.kubeconfig,
                 "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--log-format", "text",
                 "--log-level", "debug"] + elect + self.extra,
                stdout=log, stderr=subprocess.STDOUT, env=env)
        return self.proc

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def port(self):
        """The health/metrics port of its latest start."""
        return wait_for("%s health port" % self.name, lambda: obs_port(self.log()), 10)

    def stop(self, timeout=6):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "timeout"
        return self.proc.returncode if self.proc else None


def cleanup(tmp):
    """Removes a test's folder (logs were already printed on failure); MC_KEEP_E2E=1 keeps it."""
    if not os.environ.get("MC_KEEP_E2E"):
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def running(tmp, clusters):
    """Yields clusters; on failure prints each daemon's log tail, and in any case closes them
    and removes tmp. Clusters appended to the list inside the block are closed too."""
    try:
        yield clusters
    except BaseException:
        for c in clusters:
            sys.stderr.write("---- %s daemon log (tail)\n%s\n" % (c.name, c.daemon_log()[-4000:]))
        raise
    finally:
        for c in clusters:
            c.close()
        cleanup(tmp)


def mesh(names, server_args=(), faults=False):
    tmp = tempfile.mkdtemp(prefix="mc-e2e-")
    clusters = []
    try:
        for n in names:
            c = Cluster(n, tmp, server_args, faults=faults)
            clusters.append(c)
            c.prepare(tmp)
    except Exception:
        for c in clusters:
            c.close()
        cleanup(tmp)
        raise
    return tmp, clusters


def run(names, body, server_args=(), faults=False):
    """Runs body(tmp, clusters) on fresh clusters; on failure prints each daemon's log tail;
    always stops everything and removes the folder; prints PASS on success."""
    tmp, clusters = mesh(names, server_args, faults)
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
