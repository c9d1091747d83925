"""A real control plane for the tests, in place of kube-apiserver-lite: a cluster from
tests/support/real-cluster (etcd, kube-apiserver, kube-controller-manager), optionally the
simulators as a client process (tests/support/simulate), and the lite server's request log
read from the API server's audit log. Shared by the e2e (tests/reconciler/e2e_lib.py) and
the conformance harness (harness.py); MC_TEST_SERVER=real|lite is read by them."""
import datetime
import json
import os
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SUPPORT = os.path.join(os.path.dirname(HERE), "support")
REAL_CLUSTER = os.path.join(SUPPORT, "real-cluster")
SIMULATE = os.path.join(SUPPORT, "simulate")

# The request log's methods for the audit log's verbs (reads are GETs).
AUDIT_METHODS = {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE",
                 "deletecollection": "DELETE"}


# The lite server's control paths that the fault proxy (real-cluster up --fault-proxy) serves.
FAULT_PATHS = ("/fail", "/latency", "/drop-watches", "/listener", "/compact", "/requests",
               "/requests/clear", "/state")


def server_kind():
    kind = os.environ.get("MC_TEST_SERVER") or "real"
    if kind not in ("real", "lite"):
        raise SystemExit("MC_TEST_SERVER must be real or lite, not %r" % kind)
    return kind


def audit_time(stamp):
    """An audit MicroTime ("2026-01-02T15:04:05.123456Z") as seconds since the epoch, or None."""
    if not stamp:
        return None
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def audit_requests(path, offset=0):
    """The requests in an audit log from byte offset on, oldest first, in the lite server's
    request-log form: method, path, query, code, user_agent (and user, and time: when the
    server received it, seconds since the epoch)."""
    out, seen = [], set()
    with open(path) as f:
        f.seek(offset)
        for line in f:
            if not line.endswith("\n"):
                break  # being written
            e = json.loads(line)
            if e["auditID"] in seen:  # a watch logs ResponseStarted and ResponseComplete
                continue
            seen.add(e["auditID"])
            p, _, query = e["requestURI"].partition("?")
            out.append({"method": AUDIT_METHODS.get(e["verb"], "GET"), "path": p, "query": query,
                        "code": (e.get("responseStatus") or {}).get("code"),
                        "user_agent": e.get("userAgent") or "", "user": e["user"].get("username"),
                        "time": audit_time(e.get("requestReceivedTimestamp"))})
    return out


class RealServer:
    """One real cluster whose files live in folder/real; `info` is real-cluster's info.json
    plus control_url when simulators run."""

    def __init__(self, folder, name, log, simulators=(), sim_args=(), apiserver_args=(), fault_proxy=False):
        """fault_proxy: also the fault proxy in front of kube-apiserver (info: proxy_url,
        proxy_control_url, proxy_kubeconfig)."""
        self.real_dir = os.path.join(folder, "real")
        self.sim = None
        # --owner-pid: if this process is killed (a test runner's timeout), the cluster goes too.
        cmd = [REAL_CLUSTER, "up", self.real_dir, "--name", name, "--owner-pid", str(os.getpid())]
        cmd += ["--apiserver-arg=" + a for a in apiserver_args]
        cmd += ["--fault-proxy"] if fault_proxy else []
        p = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=240)
        if p.returncode != 0:
            raise RuntimeError("real-cluster up %s failed (%d); see %s" % (name, p.returncode, log.name))
        with open(os.path.join(self.real_dir, "info.json")) as f:
            self.info = json.load(f)
        self.audit_offset = 0
        if not simulators:
            return
        sim_info = os.path.join(folder, "simulate.json")
        self.sim = subprocess.Popen(
            ["/usr/bin/python3", SIMULATE, "--kubeconfig", self.info["kubeconfig"], "--info-out", sim_info]
            + list(sim_args) + [",".join(simulators)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not os.path.exists(sim_info):
            if self.sim.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("simulate did not start (exit %s); see %s" % (self.sim.returncode, log.name))
            time.sleep(0.05)
        with open(sim_info) as f:
            self.info["control_url"] = json.load(f)["control_url"]

    def requests(self):
        return audit_requests(self.info["audit_log"], self.audit_offset)

    def clear_requests(self):
        self.audit_offset = os.path.getsize(self.info["audit_log"])

    def restart_apiserver(self, timeout=120):
        """Stops kube-apiserver and starts it again with the same flags on the same port: it
        re-reads its certificate files, and every client has to connect anew. info.json gets
        the new pid, so that `down` (and the watchdog) stop it."""
        info_path = os.path.join(self.real_dir, "info.json")
        with open(info_path) as f:
            info = json.load(f)
        pid = info["pids"]["kube-apiserver"]
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        with open(os.path.join(self.real_dir, "kube-apiserver.log"), "ab") as log:
            p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        info["pids"]["kube-apiserver"] = p.pid
        tmp = info_path + ".new"
        with open(tmp, "w") as f:
            json.dump(info, f, indent=1)
        os.chmod(tmp, 0o600)
        os.replace(tmp, info_path)
        return p

    def close(self):
        if self.sim is not None and self.sim.poll() is None:
            self.sim.terminate()
            try:
                self.sim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sim.kill()
                self.sim.wait()
        subprocess.run([REAL_CLUSTER, "down", self.real_dir, "--keep-logs"], timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
