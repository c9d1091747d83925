"""A real istiod for the tests: upstream's pilot-discovery (built by tests/istiod/build into
tools/real/) run as a plain process against a real cluster's kubeconfig, on free 127.0.0.1
ports, with its files in a folder of its own.

What it needs outside a pod, and what it is spared:
  - POD_NAMESPACE=istio-system (the namespace must exist): where it reads remote secrets
    (label istio/multiCluster=true) and, with no ./etc/istio/config/mesh file, its mesh
    config and meshNetworks from the `istio` ConfigMap (keys mesh, meshNetworks): the
    ConfigMap the daemon edits, read as the istiod chart's mounted copy would be;
  - a working directory of its own for its relative paths (./etc/cacerts, ./var/run/...);
  - every listener on loopback: --monitoringAddr (15014's /debug/clusterz, the port the
    daemon reads), --httpAddr (/ready), --grpcAddr; --secureGRPCAddr "" (no xDS over TLS,
    so no serving certificate to sign) and --httpsAddr "" (webhooks multiplexed on httpAddr);
  - no webhook configurations to patch: INJECTION_WEBHOOK_CONFIG_NAME and
    VALIDATION_WEBHOOK_CONFIG_NAME empty;
  - no CA (ENABLE_CA_SERVER=false): without one istiod neither writes istio-ca-secret nor runs
    its namespace controller, which would publish its own root into every namespace's
    istio-ca-root-cert and fight the istiod simulator over them.
Requests from loopback pass istiod's debug-endpoint authentication unasked (it lets
127.0.0.1 in, istiod talking to itself), so a token is neither needed nor checked here.

Found by trying: it needs only the kubeconfig and free ports (the defaults, :8080 and :15010
to :15017 on every interface, collide between tests); the CA and the webhook names change
nothing it reports, and no mesh config file is needed.

Bounded: start() waits at most `timeout` seconds for /ready; stop() sends SIGTERM, then
SIGKILL, to the one process it started (its own session, so nothing else is hit)."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("MC_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BIN = os.path.join(os.environ.get("MC_REAL_BIN") or os.path.join(REPO, "tools", "real"), "pilot-discovery")
NAMESPACE = "istio-system"


def available():
    return os.access(BIN, os.X_OK)


def free_port():
    # Free when asked; pilot-discovery binds it a moment later (a lost race shows as an exit).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PilotDiscovery:
    def __init__(self, folder, kubeconfig, cluster_id, env=None):
        """folder: created, holds its files and log; kubeconfig: the config cluster's (istiod's
        own credentials); cluster_id: its --clusterID; env: more environment (PILOT_*)."""
        self.dir = folder
        os.makedirs(folder, exist_ok=True)
        self.kubeconfig, self.cluster_id = kubeconfig, cluster_id
        self.env = dict(env or {})
        self.log_path = os.path.join(folder, "pilot-discovery.log")
        self.proc = None
        self.monitoring_port = self.http_port = None

    @property
    def url(self):
        """Its monitoring URL, what the daemon's --istiod-url names."""
        return "http://127.0.0.1:%d" % self.monitoring_port

    def start(self, timeout=60):
        """Starts it and waits for /ready. A start after stop() keeps the monitoring and
        readiness ports: a restarted istiod is found where its clients look."""
        if self.monitoring_port is None:
            self.monitoring_port, self.http_port = free_port(), free_port()
        env = dict(os.environ, POD_NAMESPACE=NAMESPACE, POD_NAME="istiod-" + self.cluster_id,
                   INJECTION_WEBHOOK_CONFIG_NAME="", VALIDATION_WEBHOOK_CONFIG_NAME="",
                   ENABLE_CA_SERVER="false",
                   KUBECONFIG=self.kubeconfig)
        env.update(self.env)
        argv = [BIN, "discovery", "--kubeconfig", self.kubeconfig, "--clusterID", self.cluster_id,
                "--monitoringAddr", "127.0.0.1:%d" % self.monitoring_port,
                "--httpAddr", "127.0.0.1:%d" % self.http_port, "--grpcAddr", "127.0.0.1:%d" % free_port(),
                "--secureGRPCAddr", "", "--httpsAddr", "", "--shutdownDuration", "1s",
                "--log_output_level", "default:info"]
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(argv, cwd=self.dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("pilot-discovery exited (%s):\n%s"
                                   % (self.proc.returncode, self.log()[-4000:]))
            if self._ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("pilot-discovery not ready within %ds:\n%s" % (timeout, self.log()[-4000:]))

    def _ready(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/ready" % self.http_port, timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def clusterz(self):
        """istiod's /debug/clusterz: [{"id", "secretName", "syncStatus"}, ...]."""
        with urllib.request.urlopen(self.url + "/debug/clusterz", timeout=5) as r:
            return json.loads(r.read().decode())

    def sync_status(self, cluster_id):
        """The syncStatus istiod reports for cluster_id's remote secret, or None."""
        for c in self.clusterz():
            if c.get("id") == cluster_id and c.get("secretName"):
                return c.get("syncStatus")
        return None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=10):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc, self.proc = self.proc.returncode, None
        return rc
