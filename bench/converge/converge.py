"""Convergence benchmark: meshclusterd against N MeshClusters, and kubectl as the peer.

Usage: converge.py [--steady SECONDS] [--deletions K] [--seed S] [--keep] [--no-peer]
                   [--daemon-arg ARG ...] [N ...]

For each N (default 10 100 1000), on a private kube-apiserver-lite with the Tailscale and istiod
simulators, prepared as tests/reconciler/e2e_lib.py's Cluster.prepare does:
  1. N MeshClusters (cluster0001, ...) are created (not timed); meshclusterd starts for the first
     one; we time until every object `meshctl render` lists is on the server (objects s) and
     until the local MeshCluster is Ready (ready s), and count the daemon's writes from the
     server's request log against the minimum (one write per rendered object);
  2. steady state: the daemon's writes over --steady seconds;
  3. drift repair: --deletions random owned objects are deleted one at a time and the time from
     each DELETE's response until a new object of that name exists is measured on a watch, and
     split with the request log; then, the daemon stopped, this script makes the same repairs
     itself (one server-side apply, as the daemon does for all but the gateway Service) as a
     floor: what the test server alone costs;
  4. the daemon's peak RSS (VmHWM) is read before SIGTERM;
  5. peer: on a fresh server prepared the same way, `kubectl apply --server-side` of the render
     output, timed until it returns and until every object is there.
Prints figures and one table; asserts nothing. Object presence is observed through watches
(one per kind, opened before the clock starts), so polling does not load the server.
"""
import argparse
import http.client
import json
import os
import random
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "reconciler"))
import e2e_lib  # noqa: E402  (server start and the guide's Steps 1-3, shared with the e2e tests)

MC_API = "/apis/meshcluster.io/v1alpha1/meshclusters"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
# What the tracker watches: every kind `meshctl render` emits, plus MeshClusters for Ready.
WATCHED = {
    ("v1", "Namespace"): "/api/v1/namespaces",
    ("v1", "Service"): "/api/v1/services",
    ("v1", "Secret"): "/api/v1/secrets",
    ("v1", "ConfigMap"): "/api/v1/configmaps",
    ("networking.istio.io/v1beta1", "Gateway"): "/apis/networking.istio.io/v1beta1/gateways",
    ("meshcluster.io/v1alpha1", "MeshCluster"): MC_API,
}
# Rendered objects that exist before the controller runs and are not its to delete: the
# namespace gets a label, istiod's ConfigMap a key.
NOT_OURS = {("Namespace", None, "istio-system"), ("ConfigMap", "istio-system", "istio")}


def key_of(obj):
    md = obj["metadata"]
    return (obj["kind"], md.get("namespace"), md["name"])


def object_path(obj):
    kind, ns, name = key_of(obj)
    base = "/api/v1" if obj["apiVersion"] == "v1" else "/apis/" + obj["apiVersion"]
    plural = kind.lower() + "s"
    return "%s/%s%s/%s" % (base, "namespaces/%s/" % ns if ns else "", plural, name)


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))]


# -- HTTP --------------------------------------------------------------------------------------
class Api:
    """Admin client on one keep-alive HTTPS connection (reconnects once on a dropped one)."""

    def __init__(self, cluster):
        url = cluster.info["url"]
        self.host, self.port = url.split("//", 1)[1].rsplit(":", 1)
        self.port = int(self.port)
        self.ctx = ssl.create_default_context(cafile=cluster.info["ca_file"])
        self.token = cluster.info["token"]
        self.conn = None

    def connect(self, timeout=60):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def headers(self, ctype=None):
        h = {"Authorization": "Bearer " + self.token, "Accept": "application/json",
             "User-Agent": "bench-converge"}
        if ctype:
            h["Content-Type"] = ctype
        return h

    def request(self, method, path, body=None, ctype="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self.connect()
            try:
                self.conn.request(method, path, body=data, headers=self.headers(ctype if data else None))
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def close(self):
        if self.conn:
            self.conn.close()


class Tracker:
    """Keeps the latest version of every watched object with its arrival time, and notes the
    first moment the wanted objects are all present (with their rendered labels and data keys)
    and the local MeshCluster is Ready."""

    def __init__(self, api, want, local):
        self.api = api
        self.want = {key_of(o): o for o in want}
        self.local = local
        self.cv = threading.Condition()
        self.objs = {}
        self.missing = set(self.want)
        self.t_objects = None
        self.t_ready = None
        self.synced = 0
        self.threads = []
        self.conns = []
        self.stopping = False

    def satisfied(self, k, obj):
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return False
        w = self.want[k]
        have_labels = obj["metadata"].get("labels") or {}
        for lk, lv in (w["metadata"].get("labels") or {}).items():
            if have_labels.get(lk) != lv:
                return False
        have_data = obj.get("data") or {}
        return all(dk in have_data for dk in (w.get("data") or {}))

    def start(self):
        for (ver, kind), path in WATCHED.items():
            # A real API server answers 429 "storage is (re)initializing" for a CRD's kind for a
            # moment after the CRD is created: wait that out as its Retry-After says.
            for attempt in range(60):
                conn = self.api.connect(timeout=None)
                conn.request("GET", path + "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
                             "&allowWatchBookmarks=true&timeoutSeconds=3600", headers=self.api.headers())
                resp = conn.getresponse()
                if resp.status != 429:
                    break
                resp.read()
                conn.close()
                time.sleep(float(resp.getheader("Retry-After") or 1))
            if resp.status != 200:
                raise RuntimeError("watch %s: %d %s" % (path, resp.status, resp.read()[:300]))
            self.conns.append(conn)
            t = threading.Thread(target=self.run, args=(kind, resp), daemon=True)
            t.start()
            self.threads.append(t)
        with self.cv:
            if not self.cv.wait_for(lambda: self.synced == len(WATCHED), timeout=120):
                raise RuntimeError("watches did not deliver their initial events")

    def run(self, kind, resp):
        while True:
            try:
                line = resp.readline()
            except Exception:  # includes http.client's errors on a socket closed by stop()
                break
            t = time.monotonic()
            if not line:
                break
            ev = json.loads(line)
            obj = ev["object"]
            with self.cv:
                if ev["type"] == "BOOKMARK":
                    if (obj["metadata"].get("annotations") or {}).get("k8s.io/initial-events-end"):
                        self.synced += 1
                elif ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    self.on_event(ev["type"], obj, t)
                self.cv.notify_all()
        if not self.stopping:
            print("  warning: the %s watch ended" % kind, flush=True)

    def on_event(self, type_, obj, t):
        k = key_of(obj)
        cur = None if type_ == "DELETED" else obj
        self.objs[k] = (cur, t)
        if k in self.want:
            if self.satisfied(k, cur):
                self.missing.discard(k)
            else:
                self.missing.add(k)
            if not self.missing and self.t_objects is None:
                self.t_objects = t
        if k == ("MeshCluster", None, self.local) and cur is not None and self.t_ready is None:
            conds = (cur.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                self.t_ready = t

    def wait(self, pred, timeout):
        with self.cv:
            return self.cv.wait_for(pred, timeout=timeout)

    def stop(self):
        self.stopping = True
        for c in self.conns:
            try:
                c.sock.shutdown(2)
            except OSError:
                pass
            c.close()


# -- set-up ------------------------------------------------------------------------------------
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"]


def meshclusters(n):
    items = []
    for i in range(1, n + 1):
        name = "cluster%04d" % i
        region = REGIONS[i % len(REGIONS)]
        items.append({"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster",
                      "metadata": {"name": name},
                      "spec": {"network": name, "meshID": "mesh1",
                               "locality": {"region": region, "zone": region + "a"},
                               "tailscale": {"tailnet": "tail0000.ts.net"}}})
    return items


def start_server(name, tmp, n):
    # History: every create, the simulators' updates and the repairs, with room to spare (the
    # lite server's; a real one keeps etcd's, MC_TEST_SERVER picks which).
    c = e2e_lib.Cluster(name, tmp, [] if e2e_lib.REAL else ["--history", str(20 * n + 10000)])
    c.prepare(tmp)
    return c


def create_all(api, mcs):
    for mc in mcs:
        code, body = api.request("POST", MC_API, mc)
        if code != 201:
            raise RuntimeError("creating %s: %d %s" % (mc["metadata"]["name"], code, body))


def render(tmp, local, mcs):
    src = os.path.join(tmp, "meshclusters.json")
    with open(src, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": mcs}, f)
    meshctl = os.path.join(e2e_lib.BUILD, "meshctl")
    out = {}
    for fmt_ in ("json", "yaml"):
        out[fmt_] = os.path.join(tmp, "render." + fmt_)
        with open(out[fmt_], "w") as f:
            subprocess.run([meshctl, "render", "--cluster", local, "-f", src, "-o", fmt_], stdout=f, check=True)
    with open(out["json"]) as f:
        # kubectl gets the YAML: validating a JSON List needs OpenAPI v2, which the test server
        # does not serve (a real one does); the YAML's documents validate one by one through v3.
        return out["yaml"], json.load(f)["items"]


def vmhwm_kib(pid, field="VmHWM:"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def sockets(pid):
    """How many sockets the daemon holds: HTTP/1.1 (all the test server speaks) takes one TLS
    connection per concurrent request, where HTTP/2 would multiplex them on one."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n


def connections(pid, port):
    """(connections to the API server's port, listening sockets, other sockets) the daemon
    holds, from /proc: on an HTTP/2 server every watch and request should share one
    connection."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    to_api = listening = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[9] not in inodes:
                continue
            if f[3] == "0A":
                listening += 1
            elif int(f[2].rsplit(":", 1)[1], 16) == port:
                to_api += 1
    return to_api, listening, len(inodes) - to_api - listening


def metrics_port(log_path):
    with open(log_path) as f:
        for line in f:
            if "metrics" in line and "port=" in line:
                return int(line.rsplit("port=", 1)[1].split()[0])
    return None


def scrape(port):
    """Every series on the daemon's /metrics summed by family name (labels dropped), and the
    incremental/full computations apart: {name: value}."""
    out = {}
    if port is None:
        return out
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    for line in conn.getresponse().read().decode().splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name == "meshcluster_desired_computations_total":
            name += "/" + ("full" if 'mode="full"' in line else "incremental")
        out[name] = out.get(name, 0.0) + float(line.split()[-1])
    conn.close()
    return out


def cpu_ms(pid):
    """The daemon's CPU time so far (user + system), in ms: what a pass costs when it makes no
    request is below the runner's 1 ms clock, but not below this over many passes."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return 1000.0 * (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def work(m0, m1):
    """What the daemon did between two scrapes: passes, their mean time, bodies built, and
    desired states computed."""
    d = lambda k: m1.get(k, 0.0) - m0.get(k, 0.0)  # noqa: E731
    passes = d("controller_runtime_reconcile_time_seconds_count")
    return {"passes": passes,
            "pass_ms": 1000 * d("controller_runtime_reconcile_time_seconds_sum") / passes if passes else 0.0,
            "bodies": d("meshcluster_desired_bodies_built_total"),
            "incremental": d("meshcluster_desired_computations_total/incremental"),
            "full": d("meshcluster_desired_computations_total/full")}


def idle_passes(c, api, n, k=100):
    """Annotates one MeshCluster k times, one at a time: each brings a pass that changes
    nothing (no desired input moved, no write), so its time is what a pass costs at this size
    without any API call: the per-event scan that stays O(N)."""
    name = "cluster%04d" % max(2, n // 2)
    port = metrics_port(c.daemon_log_path)
    m0 = scrape(port)
    cpu0 = cpu_ms(c.daemon.pid)
    for i in range(k):
        api.request("PATCH", "/apis/meshcluster.io/v1alpha1/meshclusters/" + name,
                    {"metadata": {"annotations": {"bench/touch": str(i)}}}, "application/merge-patch+json")
        time.sleep(0.05)
    time.sleep(1.0)
    w = work(m0, scrape(port))
    w["cpu_ms"] = (cpu_ms(c.daemon.pid) - cpu0) / max(1.0, w["passes"])
    return w


def one_edit(c, api, local, n):
    """Edits one remote MeshCluster's tailnet (its two egress Services and remote secret name
    it) and waits until quiet: the work one spec edit costs at this size."""
    name = "cluster%04d" % max(2, n // 2)
    port = metrics_port(c.daemon_log_path)
    m0 = scrape(port)
    c.clear_requests()
    t0 = time.monotonic()
    code, _ = api.request("PATCH", "/apis/meshcluster.io/v1alpha1/meshclusters/" + name,
                          {"spec": {"tailscale": {"tailnet": "edited.ts.net"}}},
                          "application/merge-patch+json")
    settle(c, quiet=4.0)  # longer than the daemon's status hold
    writes = daemon_writes(c)
    quiet_s = (max(r["time"] for r in writes) - (time.time() - (time.monotonic() - t0))) if writes else 0.0
    w = work(m0, scrape(port))
    w.update({"code": code, "writes": len(writes), "quiet_s": quiet_s})
    return w


# -- request log -------------------------------------------------------------------------------
def daemon_writes(cluster):
    return [r for r in cluster.requests()
            if r["method"] in WRITES and (r.get("user_agent") or "").startswith("meshcluster")]


def classify(writes, rendered_paths):
    """Splits writes into object writes (to a rendered object or its collection), status writes
    (MeshCluster /status), Events, Leases and anything else."""
    out = {"object": [], "status": [], "event": [], "lease": [], "other": []}
    collections = {p.rsplit("/", 1)[0] for p in rendered_paths}
    for r in writes:
        p = r["path"]
        if p.endswith("/status"):
            out["status"].append(r)
        elif "/events" in p:
            out["event"].append(r)
        elif "/leases" in p:
            out["lease"].append(r)
        elif p in rendered_paths or p in collections:
            out["object"].append(r)
        else:
            out["other"].append(r)
    return out


def excerpt(rs, limit=8):
    return "; ".join("%s %s%s -> %s" % (r["method"], r["path"], "?" + r["query"] if r.get("query") else "",
                                         r["code"]) for r in rs[:limit])


# -- phases ------------------------------------------------------------------------------------
def converge(c, api, rendered, local, daemon_args, log):
    tr = Tracker(api, rendered, local)
    tr.start()
    c.clear_requests()
    t0 = time.monotonic()
    c.daemon = subprocess.Popen(
        [e2e_lib.DAEMON, "--cluster-name", local, "--kubeconfig", c.kubeconfig,
         "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
         "--log-format", "text", "--leader-elect=false"] + daemon_args,
        stdout=log, stderr=subprocess.STDOUT)
    done = tr.wait(lambda: (tr.t_objects is not None and tr.t_ready is not None)
                   or c.daemon.poll() is not None, timeout=900)
    res = {"objects_s": (tr.t_objects - t0) if tr.t_objects else None,
           "ready_s": (tr.t_ready - t0) if tr.t_ready else None}
    if not done or c.daemon.poll() is not None:
        res["note"] = "not converged (missing %d, e.g. %s; daemon rc %s)" % (
            len(tr.missing), sorted(tr.missing, key=str)[:3], c.daemon.poll())
    # Let the daemon finish what convergence set off (status, trailing reconciles) before
    # counting: writes keep arriving for a moment after the last object appears.
    settle(c)
    return tr, res


def settle(c, quiet=2.0, limit=60):
    """Waits until the daemon has made no write for `quiet` seconds."""
    deadline = time.monotonic() + limit
    last = -1
    since = time.monotonic()
    while time.monotonic() < deadline:
        n = len(daemon_writes(c))
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.25)


def repair(c, api, tr, rendered, k, rng, gap=0.25):
    """Deletes k random owned objects one at a time; returns the repair latencies (ms, from the
    DELETE's response and from the DELETED event), failures, and per deletion (path, wall time
    of the DELETE's response, wall time the object was back) for the request-log breakdown."""
    pool = [o for o in rendered if key_of(o) not in NOT_OURS]
    wall = time.time() - time.monotonic()
    lat, after_gone, failures, marks = [], [], [], []
    for _ in range(k):
        obj = rng.choice(pool)
        key = key_of(obj)
        with tr.cv:
            cur = tr.objs.get(key, (None, 0))[0]
        if cur is None:
            failures.append("%s absent before delete" % (key,))
            continue
        old_uid = cur["metadata"]["uid"]
        code, body = api.request("DELETE", object_path(obj))
        t_del = time.monotonic()
        if code not in (200, 202):
            failures.append("%s delete -> %d" % (key, code))
            continue
        gone = []

        def back():
            o, t = tr.objs.get(key, (None, 0))
            if o is None and not gone:
                gone.append(t)
            return o is not None and o["metadata"]["uid"] != old_uid and not o["metadata"].get("deletionTimestamp")

        if not tr.wait(back, timeout=10):
            failures.append("%s not back after 10 s" % (key,))
            continue
        t_back = tr.objs[key][1]
        lat.append(1000 * max(0.0, t_back - t_del))
        if gone:
            after_gone.append(1000 * (t_back - gone[0]))
        marks.append((object_path(obj), t_del + wall, t_back + wall))
        # Let the simulators and the daemon's status updates finish before the next deletion, so
        # each repair is measured on a quiet server.
        time.sleep(gap)
    return lat, after_gone, failures, marks


def breakdown(log, marks):
    """Splits each repair with the server's request log (arrival times): DELETE answered ->
    the daemon's first request for the object arrives (a GET where it reads first, else the
    apply) -> its apply PATCH arrives -> the object is back on our watch. Also counts the
    repairs that read first."""
    ours = [r for r in log if (r.get("user_agent") or "").startswith("meshcluster")]
    parts = {"to_first": [], "first_to_patch": [], "patch_to_back": [], "reads": 0}
    for path, t_del, t_back in marks:
        mine = [r for r in ours if r["path"] == path and t_del - 0.005 <= r["time"] <= t_back]
        patch = next((r["time"] for r in mine if r["method"] == "PATCH"), None)
        if patch is None:
            continue
        get = next((r["time"] for r in mine if r["method"] == "GET" and r["time"] <= patch), None)
        first = get if get is not None else patch
        parts["reads"] += get is not None
        parts["to_first"].append(1000 * (first - t_del))
        parts["first_to_patch"].append(1000 * (patch - first))
        parts["patch_to_back"].append(1000 * (t_back - patch))
    return parts


def repair_floor(api, tr, rendered, k, rng, gap=0.25):
    """The same repairs with the daemon stopped, made by this script as the daemon makes them
    (on the DELETED event, one server-side apply): what the test server alone costs."""
    pool = [o for o in rendered if key_of(o) not in NOT_OURS]
    lat = []
    for _ in range(k):
        obj = rng.choice(pool)
        key, path = key_of(obj), object_path(obj)
        code, _ = api.request("DELETE", path)
        t_del = time.monotonic()
        if code not in (200, 202) or not tr.wait(lambda: tr.objs.get(key, (None, 0))[0] is None, 10):
            continue
        code, _ = api.request("PATCH", path + "?fieldManager=meshcluster-controller&force=true", obj,
                              "application/apply-patch+yaml")
        if code in (200, 201) and tr.wait(lambda: tr.objs.get(key, (None, 0))[0] is not None, 10):
            lat.append(1000 * (tr.objs[key][1] - t_del))
        time.sleep(gap)
    return lat


def peer(tmp, n, mcs, render_out, rendered, local):
    c = start_server("peer", tmp, n)
    api = Api(c)
    try:
        create_all(api, mcs)
        tr = Tracker(api, rendered, local)
        tr.start()
        c.clear_requests()
        env = dict(os.environ, KUBECONFIG=c.kubeconfig, KUBECACHEDIR=os.path.join(tmp, "peer-kcache"))
        t0 = time.monotonic()
        p = subprocess.run([e2e_lib.KUBECTL, "apply", "--server-side", "--field-manager=bench-peer",
                            "-f", render_out], env=env, capture_output=True, text=True, timeout=1800)
        t_ret = time.monotonic() - t0
        ok = tr.wait(lambda: tr.t_objects is not None, timeout=120)
        res = {"apply_s": t_ret, "objects_s": (tr.t_objects - t0) if ok else None, "rc": p.returncode}
        if p.returncode != 0:
            res["stderr"] = p.stderr.strip().splitlines()[-3:]
        writes = [r for r in c.requests() if r["method"] in WRITES
                  and (r.get("user_agent") or "").startswith("kubectl")]
        res["writes"] = len(writes)
        tr.stop()
        return res
    finally:
        api.close()
        c.close()


def run_one(n, args, rng):
    tmp = tempfile.mkdtemp(prefix="mc-bench-converge-%d-" % n)
    local = "cluster0001"
    mcs = meshclusters(n)
    render_out, rendered = render(tmp, local, mcs)
    paths = {object_path(o) for o in rendered}
    out = {"n": n, "objects": len(rendered)}
    t = time.monotonic()
    c = start_server(local, tmp, n)
    api = Api(c)
    log = open(c.daemon_log_path, "a")
    tr = None
    try:
        create_all(api, mcs)
        print("  set-up: server prepared, %d MeshClusters created in %.1f s; %d objects rendered"
              % (n, time.monotonic() - t, len(rendered)), flush=True)

        tr, res = converge(c, api, rendered, local, args.daemon_arg, log)
        out.update(res)
        log_ = [r for r in c.requests() if (r.get("user_agent") or "").startswith("meshcluster")]
        w = classify([r for r in log_ if r["method"] in WRITES], paths)
        gets = [r for r in log_ if r["method"] == "GET" and r["path"] in paths]
        per_s = {}
        for r in log_:
            per_s[int(r["time"])] = per_s.get(int(r["time"]), 0) + 1
        print("  requests until quiet: %d in all, %d GETs of rendered objects (read before create), "
              "busiest second %d requests (the client limit is --qps, default 50, --burst 100)"
              % (len(log_), len(gets), max(per_s.values()) if per_s else 0))
        out["object_writes"] = len(w["object"])
        out["status_writes"] = len(w["status"])
        objs_written = {}
        for r in w["object"]:
            objs_written[r["path"]] = objs_written.get(r["path"], 0) + 1
        twice = [p for p, k in objs_written.items() if k > 1]
        unwritten = [p for p in paths if p not in objs_written]
        failed = [r for r in w["object"] + w["status"] if r["code"] >= 400]
        print("  converge: objects %s s, Ready %s s%s" % (fmt(out["objects_s"], 3), fmt(out["ready_s"], 3),
                                                          "  (" + res["note"] + ")" if "note" in res else ""))
        print("  writes: %d object (minimum %d; %d objects written more than once, %d never), %d status "
              "(to %d MeshClusters), %d events, %d leases, %d other, %d answered >= 400"
              % (len(w["object"]), len(rendered), len(twice), len(unwritten), len(w["status"]),
                 len({r["path"] for r in w["status"]}), len(w["event"]), len(w["lease"]), len(w["other"]),
                 len(failed)), flush=True)
        per_mc = {}
        for r in w["status"]:
            per_mc[r["path"]] = per_mc.get(r["path"], 0) + 1
        out["status_per_mc_max"] = max(per_mc.values()) if per_mc else 0
        print("  status writes per MeshCluster on the way to Ready: mean %.2f, max %d, %d of %d "
              "MeshClusters written more than once (target: exactly 1 each)"
              % (len(w["status"]) / float(n), out["status_per_mc_max"],
                 sum(1 for k in per_mc.values() if k > 1), n), flush=True)
        if twice:
            print("    written more than once, e.g.: " + excerpt([r for r in w["object"] if r["path"] in twice[:3]]))
        if failed:
            print("    failed writes, e.g.: " + excerpt(failed))
        if w["other"]:
            print("    other writes, e.g.: " + excerpt(w["other"]))

        hwm_converged = vmhwm_kib(c.daemon.pid, "VmHWM:") / 1024.0
        with open(c.kubeconfig) as f:  # where the daemon connects (a proxy may stand between)
            server = re.search(r'server"?:\s*"?([^"\s,]+)', f.read()).group(1)
        api_port = int(server.rsplit(":", 1)[1].split("/")[0])
        conns = connections(c.daemon.pid, api_port)
        out["api_conns"] = conns[0]
        print("  RSS after convergence: %.1f MB now, %.1f MB peak so far; %d sockets open: %d TCP "
              "connections to the API server, %d listening (health, metrics), %d other"
              % (vmhwm_kib(c.daemon.pid, "VmRSS:") / 1024.0, hwm_converged, sockets(c.daemon.pid),
                 conns[0], conns[1], conns[2]), flush=True)
        c.clear_requests()
        time.sleep(args.steady)
        sw = daemon_writes(c)
        reads = [r for r in c.requests() if r["method"] not in WRITES
                 and (r.get("user_agent") or "").startswith("meshcluster")]
        out["steady_writes"] = len(sw)
        print("  steady %d s: %d writes, %d other requests (watches, relists)%s"
              % (args.steady, len(sw), len(reads), ("; e.g. " + excerpt(sw)) if sw else ""), flush=True)

        c.clear_requests()
        port = metrics_port(c.daemon_log_path)
        m0 = scrape(port)
        cpu0 = cpu_ms(c.daemon.pid)
        lat, after_gone, failures, marks = repair(c, api, tr, rendered, args.deletions, rng)
        settle(c, quiet=1.0)
        log_ = c.requests()
        rw = classify([r for r in log_ if r["method"] in WRITES
                       and (r.get("user_agent") or "").startswith("meshcluster")], paths)
        parts = breakdown(log_, marks)
        w = work(m0, scrape(port))
        out["repair"] = (pct(lat, 50), pct(lat, 99), max(lat) if lat else float("nan"))
        out["deletions"] = len(lat)
        out["repair_status_writes"] = len(rw["status"])
        print("  repair: %d deletions, p50 %.1f ms, p99 %.1f ms, max %.1f ms (from the DELETE's response); "
              "from the DELETED event p50 %.1f p99 %.1f ms; %d object writes, %d status writes%s"
              % (len(lat), out["repair"][0], out["repair"][1], out["repair"][2], pct(after_gone, 50),
                 pct(after_gone, 99), len(rw["object"]), len(rw["status"]),
                 "; failures: " + "; ".join(failures[:5]) if failures else ""), flush=True)
        print("  repair breakdown (server arrival times, p50/p99 ms): DELETE answered -> daemon's first "
              "request %.1f/%.1f, first request -> apply PATCH %.1f/%.1f (%d of %d repairs read first), "
              "PATCH -> back on our watch %.1f/%.1f"
              % (pct(parts["to_first"], 50), pct(parts["to_first"], 99), pct(parts["first_to_patch"], 50),
                 pct(parts["first_to_patch"], 99), parts["reads"], len(parts["to_first"]),
                 pct(parts["patch_to_back"], 50), pct(parts["patch_to_back"], 99)), flush=True)
        if w["passes"]:
            k = max(1, len(lat))
            w["cpu_ms"] = (cpu_ms(c.daemon.pid) - cpu0) / k
            out["repair_work"] = w
            print("  work per repair: %.1f passes of %.2f ms (controller_runtime_reconcile_time_seconds, "
                  "API calls included), %.1f bodies built (meshcluster_desired_bodies_built_total), "
                  "%d desired states computed; daemon CPU %.2f ms per repair"
                  % (w["passes"] / k, w["pass_ms"], w["bodies"] / k, w["incremental"] + w["full"],
                     w["cpu_ms"]), flush=True)
        ip = idle_passes(c, api, n)
        out["idle_pass_ms"] = ip["cpu_ms"]
        print("  passes that change nothing (an annotation on a MeshCluster): %d, daemon CPU %.3f ms "
              "each (the runner's 1 ms clock says %.3f), %d bodies built"
              % (ip["passes"], ip["cpu_ms"], ip["pass_ms"], ip["bodies"]), flush=True)
        e = one_edit(c, api, local, n)
        out["edit"] = e
        print("  one edit (a remote's tailnet; 3 objects change): %d writes, quiet after %.2f s; "
              "%d passes of %.2f ms, %d bodies built of %d objects, desired state computed %d "
              "incremental / %d full" % (e["writes"], e["quiet_s"], e["passes"], e["pass_ms"], e["bodies"],
                                         len(rendered), e["incremental"], e["full"]), flush=True)

        rss_now = vmhwm_kib(c.daemon.pid, "VmRSS:") / 1024.0 if c.daemon.poll() is None else float("nan")
        out["rss_mb"] = vmhwm_kib(c.daemon.pid) / 1024.0 if c.daemon.poll() is None else float("nan")
        rc = c.stop_daemon(signal.SIGTERM, timeout=10)
        print("  peak RSS %.1f MB (RSS at the end %.1f MB); SIGTERM -> exit %s" % (out["rss_mb"], rss_now, rc),
              flush=True)

        # As many samples as the repairs had: a p99 of 30 is a max, not a p99.
        floor = repair_floor(api, tr, rendered, args.deletions, rng)
        out["floor"] = (pct(floor, 50), pct(floor, 99))
        print("  repair floor (daemon stopped, this script repairs the same way: one apply): %d deletions, "
              "p50 %.1f ms, p99 %.1f ms" % (len(floor), out["floor"][0], out["floor"][1]), flush=True)
    finally:
        if tr:
            tr.stop()
        api.close()
        log.close()
        c.close()

    if args.no_peer:
        e2e_lib.cleanup(tmp) if not args.keep else print("  kept " + tmp)
        return out
    p = peer(tmp, n, mcs, render_out, rendered, local)
    out["kubectl_s"] = p["apply_s"]
    print("  kubectl apply --server-side: returned after %.3f s (rc %d, %d writes), all objects present "
          "after %s s%s" % (p["apply_s"], p["rc"], p["writes"], fmt(p["objects_s"], 3),
                            "; " + " | ".join(p["stderr"]) if p.get("stderr") else ""), flush=True)
    if args.keep:
        print("  kept " + tmp)
    else:
        e2e_lib.cleanup(tmp)
    return out


def fmt(x, nd=1):
    return "-" if x is None else "%.*f" % (nd, x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="*", type=int, default=[10, 100, 1000])
    ap.add_argument("--steady", type=float, default=60)
    ap.add_argument("--deletions", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the logs and render output")
    ap.add_argument("--no-peer", action="store_true", help="skip the kubectl peer")
    ap.add_argument("--daemon-arg", action="append", default=[],
                    help="extra meshclusterd flag, e.g. --daemon-arg=--qps=500 (repeatable)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows = []
    for n in args.sizes:
        print("== N=%d" % n, flush=True)
        rows.append(run_one(n, args, rng))

    print()
    hdr = ("N", "objects", "converge s", "ready s", "ready/QPS floor", "kubectl s", "obj writes/min",
           "status w (max/MC)", "steady w", "repair p50/p99/max ms", "repair status w", "floor p50/p99",
           "p99/floor", "bodies/repair", "CPU ms/repair", "idle pass CPU ms", "edit bodies", "peak RSS MB")
    lines = [hdr]
    for r in rows:
        # The client's QPS floor: every object written once at the default --qps 50.
        qps_floor = r["objects"] / 50.0
        rw = r.get("repair_work") or {}
        lines.append((str(r["n"]), str(r["objects"]), fmt(r.get("objects_s"), 2), fmt(r.get("ready_s"), 2),
                      fmt(r["ready_s"] / qps_floor, 2) if r.get("ready_s") else "-",
                      fmt(r.get("kubectl_s"), 2), "%d/%d" % (r.get("object_writes", -1), r["objects"]),
                      "%s (%s)" % (r.get("status_writes", "-"), r.get("status_per_mc_max", "-")),
                      str(r.get("steady_writes", "-")),
                      "%.1f/%.1f/%.1f" % r["repair"] if "repair" in r else "-",
                      str(r.get("repair_status_writes", "-")),
                      "%.1f/%.1f" % r["floor"] if "floor" in r else "-",
                      fmt(r["repair"][1] / r["floor"][1], 2) if "floor" in r and r["floor"][1] else "-",
                      fmt(rw["bodies"] / max(1, r.get("deletions", 1)), 1) if rw else "-",
                      fmt(rw.get("cpu_ms"), 2) if rw else "-", fmt(r.get("idle_pass_ms"), 3),
                      "%d" % r["edit"]["bodies"] if "edit" in r else "-", fmt(r.get("rss_mb"), 1)))
    widths = [max(len(l[i]) for l in lines) for i in range(len(hdr))]
    for l in lines:
        print("  ".join(s.rjust(w) for s, w in zip(l, widths)))
    print("targets (issue 20, at N=1000): object writes = minimum, status writes = N, 0 steady writes, "
          "0 status writes for repairs, Ready <= 1.1x the QPS floor, repair p99 <= 1.2x the floor's p99, "
          "work per event O(change): bodies per repair and per edit independent of N")
    return 0


if __name__ == "__main__":
    sys.exit(main())
