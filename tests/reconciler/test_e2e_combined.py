"""End to end on the REAL API server (tests/support/real-cluster; the daemon runs as the Helm
chart's ServiceAccount), the combinations of issues 14 and 19 §2:

  mesh3     issue 14's "done when": paris, tokyo and lima with custom Tailscale hostnames,
            non-default gateway ports and proxyClass small, lima's remote secret from a token
            Secret (auth: secret), each daemon's kubeconfig with a tokenFile. Converge; then a
            foreign `kubectl patch` renumbering lima's gateway "tls" port (the issue's JSON
            patch), lima's spec.gateway.ports.status edited 16021 -> 16022, and a token
            rotation (lima's token Secret on the other two, and every daemon's tokenFile with
            the old token invalidated): each is healed with the expected objects (LB ports and
            targetPorts, the remote secrets' token), then a steady window has 0 writes on every
            cluster (the audit log, e2e_lib's daemon_writes()).
  replicas  two daemons WITHOUT leader election on one cluster, as two ServiceAccounts bound
            like the chart's (the audit log tells them apart): the converge costs bounded
            writes, no field of a managed object or a MeshCluster's status flip-flops (each
            field's value sequence, seen by watches, never goes A -> B -> A) and then a steady
            window has 0 writes.
  token     a projected ServiceAccount token: the kubeconfig's tokenFile holds a
            `kubectl create token --duration 10m` token bound to a Secret; the file is replaced
            with a fresh token and the old one is invalidated (its Secret deleted); a
            MeshCluster edit made afterwards converges, with the same daemon process, which
            kept its Lease throughout (a renewal meeting the old token retries with the new).
  ca        the API server's CA rotated: the daemon's certificate-authority file replaced by a
            new CA alone, kube-apiserver restarted with a serving certificate of that CA (so
            every connection is new); an edit converges with the same daemon process. The
            controller-manager keeps the old CA: nothing here needs it afterwards.
"""
import base64
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402
from edits_lib import check, wait_condition  # noqa: E402

ISTIO = "istio-system"
TS = "tailscale"
TAILNET = "your-tailnet.ts.net"
GW_PATH = "/api/v1/namespaces/istio-system/services/istio-eastwestgateway"
# The gateway pod's ports (Istio's fixed ones): the LB's targetPort whatever its port (14.3).
POD_PORTS = {"status-port": 15021, "tls": 15443, "tls-istiod": 15012, "tls-webhook": 15017}
PORT_NAMES = {"status": "status-port", "tls": "tls", "istiod": "tls-istiod", "webhook": "tls-webhook"}
PORTS = {"paris": {"status": 15121, "tls": 15543, "istiod": 15112, "webhook": 15117},
         "tokyo": {"status": 15221, "tls": 15643, "istiod": 15212, "webhook": 15217},
         "lima": {"status": 16021, "tls": 16443, "istiod": 16012, "webhook": 16017}}
TOKEN_LABEL = "meshcluster.io/remote-token"
T1 = "eyJhbGciOiJSUzI1NiJ9.lima-token-one.c2lnbmF0dXJl"
T2 = "eyJhbGciOiJSUzI1NiJ9.lima-token-two.c2lnbmF0dXJl"
STEADY_S = 10
REPLICAS_MCS = 14


def meshcluster(name, ports, auth_secret=None):
    spec = {"network": name, "meshID": "mesh1",
            "tailscale": {"tailnet": TAILNET, "apiServerProxyHostname": name + "-api",
                          "eastWestGatewayHostname": name + "-eastwest", "proxyClass": "small"},
            "gateway": {"ports": dict(ports)}}
    if auth_secret:
        spec["remoteSecret"] = {"auth": "secret", "secretRef": {"name": auth_secret}}
    return {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": name},
            "spec": spec}


def token_secret(name, token):
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": TS, "labels": {TOKEN_LABEL: "true"}},
            "type": "Opaque", "data": {"token": base64.b64encode(token.encode()).decode()}}


def apply(c, objs):
    c.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objs))


# -- the daemon's projected token ---------------------------------------------------------------

class ProjectedToken:
    """A daemon kubeconfig whose tokenFile holds a short-lived ServiceAccount token bound to a
    Secret (as a pod's projected token is bound to the pod): rotate() writes a fresh token
    into the file the way the kubelet does (a rename) and invalidates the old one by deleting
    its Secret."""

    def __init__(self, c):
        self.c, self.n = c, 0
        self.path = os.path.join(c.dir, "sa-token")
        self.token = self._issue()
        c.daemon_kubeconfig = c.write_sa_kubeconfig(os.path.join(c.dir, "kubeconfig-token-file"),
                                                    token_file=self.path)

    def _issue(self):
        self.n += 1
        name = "daemon-token-%d" % self.n
        self.c.kubectl("create", "secret", "generic", name, "-n", L.CHART_NS)
        token = self.c.sa_token(duration="10m", bound_secret=name)
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            f.write(token + "\n")
        os.replace(tmp, self.path)
        return token

    def accepted(self, token):
        p = self.c.kubectl("--token", token, "--kubeconfig", "/dev/null", "--server", self.c.info["url"],
                           "--certificate-authority", self.c.info["ca_file"],
                           "auth", "whoami", "-o", "json", check=False)
        if p.returncode == 0:
            return True
        if "Unauthorized" in p.stderr or "must be logged in" in p.stderr:
            return False
        raise AssertionError("kubectl auth whoami: " + p.stderr)

    def rotate(self):
        old, old_secret = self.token, "daemon-token-%d" % self.n
        self.token = self._issue()
        self.c.kubectl("delete", "secret", old_secret, "-n", L.CHART_NS)
        # The API server caches a token's review for a few seconds.
        L.wait_for("the old token rejected", lambda: not self.accepted(old), 30, interval=0.5)
        check(self.accepted(self.token), "the new token is not accepted")


# -- checks --------------------------------------------------------------------------------------

def gw_ports(c):
    svc = c.get("service", "istio-eastwestgateway", ISTIO)
    return sorted((p.get("name"), p["port"], p.get("targetPort")) for p in svc["spec"]["ports"])


def want_gw_ports(ports):
    return sorted((PORT_NAMES[k], v, POD_PORTS[PORT_NAMES[k]]) for k, v in ports.items())


def remote_token(c, r):
    s = c.get("secret", "istio-remote-secret-" + r, ISTIO)
    if not s:
        return None
    return yaml.safe_load(base64.b64decode(s["data"][r]))["users"][0]["user"].get("token")


def check_objects(c, ports, remote_tokens):
    """The local gateway (ports, targetPorts, hostname) and, per remote, the egress Services
    (custom hostnames, proxy class, the remote's tls port) and the remote secret."""
    check(gw_ports(c) == want_gw_ports(ports[c.name]), "%s gateway ports %r, want %r"
          % (c.name, gw_ports(c), want_gw_ports(ports[c.name])))
    gw = c.get("service", "istio-eastwestgateway", ISTIO)
    check(gw["metadata"]["annotations"].get("tailscale.com/hostname") == c.name + "-eastwest",
          "%s gateway hostname %r" % (c.name, gw["metadata"]["annotations"]))
    for r in ports:
        if r == c.name:
            continue
        api = c.get("service", r + "-k8s-operator", TS)
        check(api["metadata"]["annotations"].get("tailscale.com/tailnet-fqdn") == "%s-api.%s" % (r, TAILNET),
              "%s: API egress for %s %r" % (c.name, r, api["metadata"]["annotations"]))
        ts = c.get("service", r + "-istio-eastwestgateway-ts", ISTIO)
        ann = ts["metadata"]["annotations"]
        check(ann.get("tailscale.com/tailnet-fqdn") == "%s-eastwest.%s" % (r, TAILNET)
              and ann.get("tailscale.com/proxy-class") == "small", "%s: gateway egress for %s %r" % (c.name, r, ann))
        check([(p["name"], p["port"]) for p in ts["spec"]["ports"]] == [("tls", ports[r]["tls"])],
              "%s: gateway egress ports for %s %r" % (c.name, r, ts["spec"]["ports"]))
        s = c.get("secret", "istio-remote-secret-" + r, ISTIO)
        kc = yaml.safe_load(base64.b64decode(s["data"][r]))
        check(kc["clusters"][0]["cluster"]["server"] == "https://%s-api.%s" % (r, TAILNET),
              "%s: remote secret server for %s %r" % (c.name, r, kc["clusters"][0]))
        check(remote_token(c, r) == remote_tokens.get(r, "unused"),
              "%s: remote secret token for %s %r" % (c.name, r, remote_token(c, r)))


def steady(clusters, seconds=STEADY_S):
    for c in clusters:
        c.clear_requests()
    time.sleep(seconds)
    for c in clusters:
        w = c.daemon_writes()
        check(w == [], "%s: %d writes in the steady window: %r"
              % (c.name, len(w), [(r["method"], r["path"], r["code"]) for r in w]))


def heals_deleted_egress(c, r):
    """The daemon still works: a deleted egress Service comes back."""
    uid = c.get("service", r + "-k8s-operator", TS)["metadata"]["uid"]
    c.kubectl("delete", "service", r + "-k8s-operator", "-n", TS, "--wait=false")
    L.wait_for("%s heals the deleted egress of %s" % (c.name, r), lambda: (
        lambda s: s is not None and s["metadata"]["uid"] != uid)(c.get("service", r + "-k8s-operator", TS)), 20)


# -- scenarios -----------------------------------------------------------------------------------

def scenario_mesh3():
    names = ["paris", "tokyo", "lima"]
    tmp, clusters = L.mesh(names)
    with L.running(tmp, clusters):
        ports = {n: dict(p) for n, p in PORTS.items()}
        mcs = [meshcluster(n, ports[n], "lima-token" if n == "lima" else None) for n in names]
        tokens = {}
        for c in clusters:
            apply(c, [token_secret("lima-token", T1)] + mcs)
            tokens[c.name] = ProjectedToken(c)
            c.start_daemon()
        for c in clusters:
            c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=120s")
        for c in clusters:
            check_objects(c, ports, {"lima": T1})
        print("converged: 3 clusters, custom hostnames, ports %r, proxyClass small" % {n: p["status"] for n, p in ports.items()})
        paris, tokyo, lima = clusters

        # 14.1: the issue's foreign JSON patch renumbers lima's "tls" LB port.
        lima.clear_requests()
        idx = [p["name"] for p in lima.get("service", "istio-eastwestgateway", ISTIO)["spec"]["ports"]].index("tls")
        lima.kubectl("-n", ISTIO, "patch", "svc", "istio-eastwestgateway", "--type=json", "-p",
                     json.dumps([{"op": "replace", "path": "/spec/ports/%d/port" % idx, "value": 25443}]))
        L.wait_for("lima's port set back", lambda: gw_ports(lima) == want_gw_ports(ports["lima"]), 20)
        time.sleep(1.0)  # a trailing pass, if any, is counted too
        w = [r for r in lima.daemon_writes() if r["path"] == GW_PATH]
        check(1 <= len(w) <= 2 and all(r["code"] < 300 for r in w),
              "heal writes of the port patch: %r" % [(r["method"], r["code"]) for r in w])
        print("foreign port patch healed in %d write(s)" % len(w))

        # 14.2: lima's status port edited on every cluster (the same MeshCluster set everywhere).
        ports["lima"]["status"] = 16022
        for c in clusters:
            c.kubectl("patch", "meshcluster", "lima", "--type=merge", "-p",
                      json.dumps({"spec": {"gateway": {"ports": {"status": 16022}}}}))
        L.wait_for("lima's status port 16022", lambda: gw_ports(lima) == want_gw_ports(ports["lima"]), 20)

        # 14.7 and 19 §2: lima's token Secret rotated where it is read, and every daemon's
        # projected token rotated with the old one invalidated.
        for c in (paris, tokyo):
            apply(c, [token_secret("lima-token", T2)])
        for c in clusters:
            tokens[c.name].rotate()
        for c in (paris, tokyo):
            L.wait_for("%s: lima's rotated token" % c.name, lambda: remote_token(c, "lima") == T2, 10)
        for c in clusters:
            heals_deleted_egress(c, "paris" if c.name != "paris" else "tokyo")
            wait_condition(c, c.name, "Ready", "True")
        for c in clusters:
            check_objects(c, ports, {"lima": T2})
        print("CR port edit and token rotation (Secret and tokenFile) applied")

        steady(clusters)
        for c in clusters:
            check(c.daemon.poll() is None, "%s: the daemon exited" % c.name)
            check("stopped leading" not in c.daemon_log(), "%s: leadership lost on the way" % c.name)
        print("mesh3: 0 writes in %d s on each of 3 clusters after the port patch, port edit and "
              "token rotation: ok" % STEADY_S)


class Watch:
    """`kubectl get --watch` of one resource: every version of every object, in order."""

    def __init__(self, c, resource, ns=None):
        env = dict(os.environ, KUBECONFIG=c.kubeconfig, KUBECACHEDIR=os.path.join(c.dir, "kcache"))
        self.resource = resource
        self.proc = subprocess.Popen(
            [L.KUBECTL, "get", resource, "--watch", "--output-watch-events", "-o", "json"]
            + (["-n", ns] if ns else ["-A"]), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        self.events = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        dec, buf = json.JSONDecoder(), ""
        for line in self.proc.stdout:
            buf += line
            while buf.strip():
                try:
                    obj, end = dec.raw_decode(buf.lstrip())
                except ValueError:
                    break  # an object still being written
                self.events.append(obj)
                buf = buf.lstrip()[end:]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=10)


def fields(obj):
    """The values that matter of one object version, by field path: labels, annotations,
    spec, data and status, conditions by type (without their timestamps)."""
    out = {}

    def walk(prefix, v):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(prefix + "." + k, x)
        else:
            out[prefix] = json.dumps(v, sort_keys=True)
    md = obj.get("metadata") or {}
    walk("labels", md.get("labels") or {})
    walk("annotations", {k: v for k, v in (md.get("annotations") or {}).items()
                         if k != "kubectl.kubernetes.io/last-applied-configuration"})
    for part in ("spec", "data"):
        walk(part, obj.get(part) or {})
    status = dict(obj.get("status") or {})
    for cond in status.pop("conditions", None) or []:
        walk("status.conditions." + cond["type"], {k: cond.get(k) for k in ("status", "reason", "message")})
    status.pop("observedGeneration", None)
    walk("status", status)
    return out


def flip_flops(events):
    """Per object and field, a value that comes back after another one (A -> B -> A);
    a deletion counts as a value."""
    seqs = {}
    for e in events:
        o = e["object"]
        key = (o.get("kind"), o["metadata"].get("namespace"), o["metadata"]["name"])
        vals = {} if e["type"] == "DELETED" else fields(o)
        for path in set(vals) | set(seqs.get(key, {})):
            seq = seqs.setdefault(key, {}).setdefault(path, [])
            v = vals.get(path, "<absent>")
            if not seq or seq[-1] != v:
                seq.append(v)
    bad = []
    for key, per in seqs.items():
        for path, seq in per.items():
            if len(set(seq)) != len(seq):
                bad.append((key, path, seq))
    return bad


def scenario_replicas():
    tmp, clusters = L.mesh(["cluster1"])
    (c,) = clusters
    with L.running(tmp, clusters):
        # Enough MeshClusters that a converge takes several passes (~70 objects).
        apply(c, [meshcluster("cluster%d" % i, {}) for i in range(1, 1 + REPLICAS_MCS)])
        c.bind_like_chart("meshcluster-controller-b")
        kc_b = c.write_sa_kubeconfig(os.path.join(c.dir, "kubeconfig-b"),
                                     token=c.sa_token("meshcluster-controller-b"))
        users = ["system:serviceaccount:%s:%s" % (L.CHART_NS, sa)
                 for sa in ("meshcluster-controller", "meshcluster-controller-b")]
        watches = [Watch(c, "meshclusters"), Watch(c, "services"), Watch(c, "secrets", ISTIO),
                   Watch(c, "configmaps", ISTIO), Watch(c, "gateways.networking.istio.io", ISTIO),
                   Watch(c, "namespaces")]
        time.sleep(2.0)  # the watches have listed
        c.clear_requests()
        reps = [L.Replica(c, "replica-a", c.daemon_kubeconfig), L.Replica(c, "replica-b", kc_b)]
        try:
            for r in reps:
                r.start()
            c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=120s")
            # Quiet: no write by either in the last 3 s.
            L.wait_for("quiet", lambda: not [r for r in c.daemon_writes()
                                             if r["time"] > time.time() - 3.0] and c.daemon_writes(), 60, 0.5)
            converge = c.daemon_writes()
            per = {u: [r for r in converge if r.get("user") == u] for u in users}
            mesh_writes = [r for r in converge if "/events" not in r["path"]]
            objs = {r["path"] for r in mesh_writes}
            conflicts = [r for r in converge if r["code"] == 409]
            print("converge by two replicas: %d writes (%s), %d to %d objects, %d conflicts, %d Events"
                  % (len(converge), " + ".join(str(len(v)) for v in per.values()), len(mesh_writes), len(objs),
                     len(conflicts), len(converge) - len(mesh_writes)))
            steady([c])
            for w in watches:
                w.stop()
            events = [e for w in watches for e in w.events]
            # Bounded: each replica writes a managed object once, and a MeshCluster's status
            # no more often than it took distinct values (what one daemon alone does), plus one:
            # a slow replica (ASan) may run a pass before its own status write came back and
            # repeat it, unchanged (a no-op on the server; not a fight, which repeats).
            versions = {}
            for e in events:
                o = e["object"]
                if o.get("kind") == "MeshCluster":
                    st = tuple(sorted((k, v) for k, v in fields(o).items() if k.startswith("status")))
                    if st:  # not the version before the first status write
                        versions.setdefault(o["metadata"]["name"], set()).add(st)
            # A replica whose cache has not seen the other's create yet sends the create-only
            # fields too and gets 409 from the field's new owner (the Tailscale operator's
            # externalName): one conflict per object and replica, answered by one retry.
            by_obj = {}
            for r in mesh_writes:
                by_obj.setdefault((r["user"], r["path"]), []).append(r["code"])
            over = {}
            for (user, path), codes in by_obj.items():
                parts = path.split("/")
                limit = len(versions.get(parts[-2], ())) + 1 if path.endswith("/status") else 1
                ok = [x for x in codes if x < 300]
                if len(ok) > limit or codes.count(409) > 1 or len(ok) + codes.count(409) != len(codes):
                    over[(user, path)] = (codes, limit)
            if over:
                for (user, path) in over:
                    name = path.split("/")[-2]
                    sys.stderr.write("---- %s: writes %r\n" % (path, [(r["user"], r["time"], r["code"])
                                                                     for r in mesh_writes if r["path"] == path]))
                    for e in events:
                        o = e["object"]
                        if o.get("kind") == "MeshCluster" and o["metadata"]["name"] == name:
                            conds = [(x["type"], x["status"], x.get("lastTransitionTime"))
                                     for x in (o.get("status") or {}).get("conditions") or []]
                            sys.stderr.write("%s rv=%s %r\n" % (e["type"], o["metadata"]["resourceVersion"], conds))
            check(not over, "objects written more often than they changed, by one replica: %r" % over)
            bad = flip_flops(events)
            check(not bad, "flip-flopping fields: %r" % bad[:5])
            print("replicas: no flip-flop in %d watched versions, 0 writes in %d s: ok"
                  % (sum(len(w.events) for w in watches), STEADY_S))
        finally:
            for w in watches:
                if w.proc.poll() is None:
                    w.stop()
            for r in reps:
                r.stop()


def scenario_token():
    tmp, clusters = L.mesh(["cluster1"])
    (c,) = clusters
    with L.running(tmp, clusters):
        c.apply_examples(["cluster1", "cluster2"])
        token = ProjectedToken(c)
        daemon = c.start_daemon()
        c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=60s")
        c.clear_requests()
        token.rotate()
        # Nothing else is asked of the server now: the Lease renewals (every 2 s) meet the
        # invalidated token first. Over the renew deadline (10 s) and a retry the daemon must
        # keep its Lease: a renewal answered 401 is retried with the new token.
        time.sleep(12.0)
        leases = [r for r in c.requests() if r["method"] == "PUT" and "/leases/" in r["path"]
                  and r["user_agent"].startswith("meshcluster")]
        check(leases and leases[-1]["code"] == 200, "Lease renewals after the rotation: %r"
              % [r["code"] for r in leases])
        check("stopped leading" not in c.daemon_log(), "leadership lost over the token rotation")
        c.clear_requests()
        c.kubectl("patch", "meshcluster", "cluster2", "--type=merge", "-p",
                  json.dumps({"spec": {"gateway": {"ports": {"tls": 16443}}}}))
        L.wait_for("the edit converges", lambda: [p["port"] for p in c.get(
            "service", "cluster2-istio-eastwestgateway-ts", ISTIO)["spec"]["ports"]] == [16443], 30)
        w = [r for r in c.daemon_writes() if "cluster2-istio-eastwestgateway-ts" in r["path"]]
        check(w and w[-1]["code"] < 300, "the edit's writes %r" % w)
        check(c.daemon is daemon and daemon.poll() is None, "the daemon restarted or exited")
        print("token: projected token rotated and the old one invalidated; Lease renewals %s kept the "
              "Lease; an edit converged without restart: ok" % [r["code"] for r in leases])


def scenario_ca():
    """The API server's CA rotates: the daemon's certificate-authority file is replaced by
    the new CA alone and kube-apiserver restarts with a serving certificate of that CA; the
    daemon's next connections use the file's new bundle, and an edit converges, with the same
    process."""
    loader = importlib.machinery.SourceFileLoader(
        "real_cluster", os.path.join(L.REPO, "tests", "support", "real-cluster"))
    rc = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(rc)  # its make_pki: a new CA and a serving certificate signed by it
    tmp, clusters = L.mesh(["cluster1"])
    (c,) = clusters
    with L.running(tmp, clusters):
        c.apply_examples(["cluster1", "cluster2"])
        ca_file = os.path.join(c.dir, "daemon-ca.crt")
        with open(c.info["ca_file"], "rb") as f:
            old_ca = f.read()
        with open(ca_file, "wb") as f:
            f.write(old_ca)
        c.daemon_kubeconfig = c.write_sa_kubeconfig(os.path.join(c.dir, "kubeconfig-ca"),
                                                    token=c.sa_token(), ca_file=ca_file)
        daemon = c.start_daemon()
        c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=60s")

        os.makedirs(os.path.join(c.dir, "pki2"))
        new = rc.make_pki(os.path.join(c.dir, "pki2"))
        with open(new["ca.crt"], "rb") as f:
            new_ca = f.read()
        # kubectl (and the server's client-CA file) trust both; the daemon only the new one.
        with open(c.info["ca_file"], "wb") as f:
            f.write(old_ca + new_ca)
        tmp_ca = ca_file + ".new"
        with open(tmp_ca, "wb") as f:
            f.write(new_ca)
        os.replace(tmp_ca, ca_file)
        real_dir = c.real.real_dir
        for n in ("apiserver.crt", "apiserver.key"):
            with open(new[n], "rb") as f, open(os.path.join(real_dir, n), "wb") as g:
                g.write(f.read())
        c.real.restart_apiserver()
        L.wait_for("the API server back with the new CA", lambda: c.kubectl(
            "get", "--raw", "/readyz", check=False).returncode == 0, 120, 0.5)
        c.clear_requests()
        c.kubectl("patch", "meshcluster", "cluster2", "--type=merge", "-p",
                  json.dumps({"spec": {"gateway": {"ports": {"tls": 16443}}}}))
        L.wait_for("the edit converges", lambda: [p["port"] for p in c.get(
            "service", "cluster2-istio-eastwestgateway-ts", ISTIO)["spec"]["ports"]] == [16443], 60)
        check(c.daemon is daemon and daemon.poll() is None, "the daemon restarted or exited")
        print("ca: the API server's new CA picked up from the rotated file on the next connection; "
              "an edit converged without restart: ok")


if __name__ == "__main__":
    if not L.REAL:
        raise SystemExit("test_e2e_combined runs on the real API server (MC_TEST_SERVER=real)")
    for name in sys.argv[1:] or ["mesh3", "replicas", "token", "ca"]:
        globals()["scenario_" + name]()
    print("PASS")
