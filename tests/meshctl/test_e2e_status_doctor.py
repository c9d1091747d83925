"""End to end, with real processes: three "clusters" (real or lite API servers with the Tailscale and
istiod simulators), cacerts from one root made with `meshctl pki`, the same MeshClusters
everywhere, one meshclusterd per cluster. Proves that:
  - on the healthy set `meshctl status --wait` exits 0 with a 3x3 matrix of ok cells (and
    -o json says healthy, 9 Healthy pairs), and `meshctl doctor` exits 0 with every check PASS;
  - clusters may also be named as contexts of one kubeconfig (--kubeconfig or $KUBECONFIG);
  - status flips to exit 1 when a peer breaks (cluster2's Tailscale operator fails: its daemon
    reports EgressReady=False, named on a problem line) and back to 0 when it is repaired;
  - with the daemons stopped (they would heal the drift), each seeded fault makes its own doctor
    check FAIL or WARN: the Gateway deleted, the LB hostname on the wrong tailnet, an egress
    Service deleted, meshNetworks pointing at the remote gateway, a remote secret dropped, the
    namespace network label removed, a DestinationRule with localityLbSetting and no
    outlierDetection, cacerts from another root with istiod not restarted (per-cluster and the
    cross-cluster shared-root), an intermediate expiring in 10 days, cacerts deleted, and the
    Gateway CRD deleted;
  - status exits 1 with a row of Unreachable when a cluster's API server is stopped (on a real
    server: the fault proxy in front of it closes its port), and
    `--wait` that times out exits 1; colour only on a terminal; five clusters fit 80 columns;
  - usage errors exit 2.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reconciler"))
import e2e_lib as L  # noqa: E402

MESHCTL = os.path.join(L.BUILD, "meshctl")
TAILNET = "your-tailnet.ts.net"
ISTIO = "istio-system"
NAMES = ["cluster1", "cluster2", "cluster3"]


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def sh(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "%s: %s%s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout


def meshctl(cs, *args):
    cmd = [MESHCTL] + list(args)
    for c in cs:
        cmd += ["--kubeconfig", c.kubeconfig]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    return p.returncode, p.stdout, p.stderr


def status_json(cs):
    rc, out, err = meshctl(cs, "status", "-o", "json")
    check(rc in (0, 1), "status -o json exit %d: %s" % (rc, err))
    return rc, json.loads(out)


def doctor(cs):
    rc, out, err = meshctl(cs, "doctor", "-o", "json")
    check(rc in (0, 1), "doctor exit %d: %s" % (rc, err))
    rep = json.loads(out)
    check((rc == 0) == (rep["result"] == "PASS"), "exit %d vs result %s" % (rc, rep["result"]))
    return rep


def finding(rep, cluster, check_id):
    for f in rep["checks"]:
        if f["cluster"] == cluster and f["check"] == check_id:
            return f
    raise AssertionError("no %s finding for %s in %r" % (check_id, cluster, rep["checks"]))


def expect(cs, cluster, check_id, result, says):
    rep = doctor(cs)
    f = finding(rep, cluster, check_id)
    check(f["result"] == result and says in f["message"],
          "%s %s: %r, want %s with %r" % (cluster, check_id, f, result, says))
    check(f.get("fix") and f.get("command"), "no command or fix: %r" % f)
    print("doctor %s %-20s %s %s" % (cluster, check_id, f["result"], f["message"]), flush=True)
    return rep


def on_tty(cmd):
    """Runs cmd with stdout on a pseudo-terminal; returns what it wrote."""
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.DEVNULL, env=dict(os.environ, NO_COLOR=""))
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not b:
            break
        chunks.append(b)
    os.close(master)
    p.wait(timeout=60)
    return b"".join(chunks).decode()


def dr_crd(tmp):
    """The DestinationRule CRD from Istio's real bundle (as e2e_lib does for the Gateway)."""
    import yaml
    out = os.path.join(tmp, "dr-crd.yaml")
    with open(L.ISTIO_CRDS) as f:
        for doc in yaml.safe_load_all(f):
            if doc and doc.get("metadata", {}).get("name") == "destinationrules.networking.istio.io":
                with open(out, "w") as g:
                    yaml.safe_dump(doc, g)
                return out
    raise RuntimeError("no DestinationRule CRD")


def cacerts(pki, cluster, root, out, days=None):
    args = [MESHCTL, "pki", "intermediate", "--cluster", cluster, "--root", root, "--out", out]
    if days:
        args += ["--days", str(days)]
    sh(*args)
    return sh(MESHCTL, "pki", "cacerts-secret", "--cluster", cluster, "--dir", out)


def root(pki, name):
    out = sh(MESHCTL, "pki", "root", "--out", os.path.join(pki, name))
    return [l for l in out.splitlines() if l.startswith("sha256 Fingerprint=")][0].split("=", 1)[1]


def setup(tmp, cs):
    pki = os.path.join(tmp, "pki")
    fp = root(pki, "root")
    crd = dr_crd(tmp)
    for c in cs:
        c.ctl("POST", "/tailscale", {"tailnet": TAILNET})
        c.kubectl("apply", "-f", crd)
        c.kubectl("apply", "-f", "-", input=cacerts(pki, c.name, os.path.join(pki, "root"),
                                                    os.path.join(pki, c.name)))
        c.ctl("POST", "/istiod/restart", {})
        c.apply_examples(NAMES)
        for n in NAMES:
            c.kubectl("patch", "meshcluster", n, "--type=merge",
                      "-p", '{"spec":{"trust":{"rootCAFingerprint":"%s"}}}' % fp)
        c.start_daemon()
    return pki


def healthy(cs):
    rc, out, err = meshctl(cs, "status", "--wait", "--timeout", "90s")
    print(out, err, flush=True)
    check(rc == 0, "status --wait on a healthy set: exit %d" % rc)
    lines = out.splitlines()
    check(lines[0].split()[1:] == NAMES, "columns: %r" % lines[0])
    for i, n in enumerate(NAMES):
        check(lines[1 + i].split() == [n, "ok", "ok", "ok"], "row %s: %r" % (n, lines[1 + i]))
    check(all(len(l) <= 80 and l == l.rstrip() for l in lines[:4]),
          "matrix wider than 80 columns or with trailing blanks: %r" % lines[:4])
    rc, st = status_json(cs)
    check(rc == 0 and st["healthy"] is True and st["problems"] == [], "json: %r" % st)
    check([(p["from"], p["to"], p["state"]) for p in st["pairs"]] ==
          [(a, b, "Healthy") for a in NAMES for b in NAMES], "pairs: %r" % st["pairs"])
    check([s["cluster"] for s in st["sources"]] == NAMES, "sources: %r" % st["sources"])

    rc, out, err = meshctl(cs, "doctor")
    print(out, err, flush=True)
    check(rc == 0, "doctor on a healthy set: exit %d" % rc)
    rep = doctor(cs)
    bad = [f for f in rep["checks"] if f["result"] != "PASS"]
    check(not bad, "not PASS on a healthy set: %r" % bad)
    ids = {f["check"] for f in rep["checks"] if f["cluster"] == "cluster1"}
    for want in ("local-meshcluster", "gateway-crd", "east-west-gateway", "gateway-address",
                 "egress-proxies", "mesh-networks", "remote-secrets", "network-label", "cacerts",
                 "cacerts-root", "istiod-root", "intermediate-expiry", "outlier-detection"):
        check(want in ids, "no %s check: %r" % (want, sorted(ids)))
    check(finding(rep, "*", "shared-root")["result"] == "PASS", "shared root")


def merged_kubeconfig(tmp, cs):
    """One kubeconfig with a context kind-<name> per cluster, as kind writes them."""
    import yaml
    merged = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": [],
              "current-context": "kind-" + cs[0].name}
    for c in cs:
        with open(c.kubeconfig) as f:
            k = yaml.safe_load(f)
        n = "kind-" + c.name
        merged["clusters"].append({"name": n, "cluster": k["clusters"][0]["cluster"]})
        merged["users"].append({"name": n, "user": k["users"][0]["user"]})
        merged["contexts"].append({"name": n, "context": {"cluster": n, "user": n}})
    path = os.path.join(tmp, "merged-kubeconfig")
    with open(path, "w") as f:
        yaml.safe_dump(merged, f)
    return path


def contexts(tmp, cs):
    """--context selects clusters of one kubeconfig, named by --kubeconfig or by $KUBECONFIG."""
    path = merged_kubeconfig(tmp, cs)
    ctx = []
    for c in cs:
        ctx += ["--context", "kind-" + c.name]
    p = subprocess.run([MESHCTL, "status", "-o", "json", "--kubeconfig", path] + ctx,
                       capture_output=True, text=True, timeout=120)
    st = json.loads(p.stdout)
    check(p.returncode == 0 and st["healthy"], "status by contexts: %d %r" % (p.returncode, st))
    check([s["source"] for s in st["sources"]] == ["%s@kind-%s" % (path, n) for n in NAMES],
          "sources: %r" % st["sources"])
    p = subprocess.run([MESHCTL, "doctor"] + ctx, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, KUBECONFIG=path))
    check(p.returncode == 0 and "== cluster3 ==" in p.stdout, "doctor by $KUBECONFIG contexts: %d %s%s"
          % (p.returncode, p.stdout, p.stderr))


def peer_breaks(cs):
    """cluster2's Tailscale operator fails: its daemon says so, status exits 1, then recovers."""
    cs[1].ctl("POST", "/tailscale", {"fail": True})
    def broken():
        # The simulator fails cluster2's egress proxies one by one: wait for both of them.
        rc, st = status_json(cs)
        cells = {(p["from"], p["to"]): p["state"] for p in st["pairs"]} if rc == 1 else {}
        return st if (cells.get(("cluster2", "cluster1")) == "Failed" and
                      cells.get(("cluster2", "cluster3")) == "Failed") else None
    st = L.wait_for("status exit 1 after cluster2's proxies fail", broken, 60, 1.0)
    check(st["healthy"] is False, "healthy: %r" % st)
    cells = {(p["from"], p["to"]): p["state"] for p in st["pairs"]}
    check(cells[("cluster2", "cluster1")] == "Failed", "cluster2 -> cluster1: %r" % cells)
    check(cells[("cluster1", "cluster3")] == "Healthy", "cluster1 -> cluster3: %r" % cells)
    check(any(p["from"] == "cluster2" and p.get("type") == "EgressReady" and p["status"] == "False"
              for p in st["problems"]), "EgressReady problem line: %r" % st["problems"])
    rc, out, err = meshctl(cs, "status")
    print(out, flush=True)
    check(rc == 1 and "cluster2 -> cluster1: EgressReady=False" in out, "table: %s" % out)
    check("\033[" not in out, "colour codes when stdout is not a terminal")
    rc, out, err = meshctl(cs, "status", "--wait", "--timeout", "3s")
    check(rc == 1 and "Not healthy." in out, "--wait timing out: exit %d\n%s" % (rc, out))
    colour = on_tty([MESHCTL, "status", "--kubeconfig", cs[1].kubeconfig])
    check("\033[31mFAILED\033[0m" in colour and "\033[32mok\033[0m" in colour,
          "colour on a terminal: %r" % colour)
    cs[1].ctl("POST", "/tailscale", {"fail": False})
    rc, out, err = meshctl(cs, "status", "--wait", "--timeout", "90s")
    check(rc == 0, "status --wait after the repair: exit %d\n%s" % (rc, out))


def faults(tmp, pki, cs):
    c1, c2, c3 = cs
    for c in cs:
        check(c.stop_daemon() == 0, "daemon exit")
    c1.kubectl("delete", "gateway", "cross-network-gateway", "-n", ISTIO)
    expect(cs, "cluster1", "east-west-gateway", "FAIL", "does not exist")

    c1.ctl("POST", "/tailscale", {"tailnet": "tail0000.ts.net"})
    L.wait_for("LB hostname on tail0000", lambda: "tail0000" in json.dumps(
        c1.get("service", "istio-eastwestgateway", ISTIO)["status"]), 20)
    expect(cs, "cluster1", "gateway-address", "FAIL", "TailnetMismatch")

    c1.kubectl("delete", "service", "cluster2-istio-eastwestgateway-ts", "-n", ISTIO)
    expect(cs, "cluster1", "egress-proxies", "FAIL", "cluster2-istio-eastwestgateway-ts missing")

    wrong = ("networks:\n  cluster2:\n    endpoints:\n    - fromRegistry: cluster2\n    gateways:\n"
             "    - address: cluster2-istio-eastwestgateway.%s\n      port: 15443\n" % TAILNET)
    c1.kubectl("patch", "configmap", "istio", "-n", ISTIO, "--type=merge",
               "-p", json.dumps({"data": {"meshNetworks": wrong}}))
    expect(cs, "cluster1", "mesh-networks", "FAIL", "have cluster2-istio-eastwestgateway.%s" % TAILNET)

    c1.kubectl("delete", "secret", "istio-remote-secret-cluster3", "-n", ISTIO)
    expect(cs, "cluster1", "remote-secrets", "FAIL", "istio-remote-secret-cluster3 missing")

    c1.kubectl("label", "namespace", ISTIO, "topology.istio.io/network-")
    expect(cs, "cluster1", "network-label", "FAIL", "(unset)")

    c1.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
        "metadata": {"name": "payments", "namespace": "default"},
        "spec": {"host": "payments.default.svc.cluster.local", "trafficPolicy": {
            "loadBalancer": {"localityLbSetting": {"enabled": True}}}}}))
    expect(cs, "cluster1", "outlier-detection", "WARN", "default/payments")

    # The module's first pitfall: cluster3 on another root; istiod not restarted after it.
    root(pki, "other-root")
    c3.kubectl("apply", "-f", "-", input=cacerts(pki, "cluster3", os.path.join(pki, "other-root"),
                                                 os.path.join(pki, "c3-other")))
    expect(cs, "cluster3", "cacerts-root", "FAIL", "RootMismatch")
    expect(cs, "cluster3", "istiod-root", "FAIL", "IstiodRootStale")
    expect(cs, "*", "shared-root", "FAIL", "different roots")

    c2.kubectl("apply", "-f", "-", input=cacerts(pki, "cluster2", os.path.join(pki, "root"),
                                                 os.path.join(pki, "c2-short"), days=10))
    expect(cs, "cluster2", "intermediate-expiry", "WARN", "within 30 days")

    c2.kubectl("delete", "secret", "cacerts", "-n", ISTIO)
    expect(cs, "cluster2", "cacerts", "FAIL", "no istio-system/cacerts")

    c1.kubectl("delete", "crd", "gateways.networking.istio.io")
    expect(cs, "cluster1", "gateway-crd", "FAIL", "not installed")

    rc, out, err = meshctl(cs, "doctor")
    print(out, flush=True)
    check(rc == 1 and "FAIL" in out and "fix:" in out, "doctor text exit %d" % rc)


def api_server_stopped(cs):
    rc, st = status_json(cs)
    check(rc == 0, "status before stopping an API server: %r" % st["problems"])
    if L.REAL:
        # The fault proxy in front of cluster3's API server closes its port, as a dead
        # server's would be.
        cs[2].ctl("POST", "/listener", {"up": False})
    else:
        cs[2].server.terminate()
        cs[2].server.wait(timeout=10)
    rc, out, err = meshctl(cs, "status")
    print(out, flush=True)
    check(rc == 1, "status with cluster3's API server stopped: exit %d" % rc)
    # The row is named by the kubeconfig's context, since no MeshCluster can name it (the
    # lite server names its context kube-apiserver-lite, real-cluster the cluster).
    ctx = "?" + ("cluster3" if L.REAL else "kube-apiserver-lite")
    label = ctx if len(ctx) <= 11 else ctx[:10] + "~"
    check("%-11s unreachable unreachable unreachable" % label in out, "row: %s" % out)
    rc, st = status_json(cs)
    check(rc == 1 and st["sources"][2].get("error") and
          st["sources"][2]["cluster"] == ctx, "sources: %r" % st["sources"])
    check(all(p["state"] == "Unreachable" for p in st["pairs"] if p["from"].startswith("?")) and
          sum(p["state"] == "Unreachable" for p in st["pairs"]) == 3, "pairs: %r" % st["pairs"])


def five_columns(cs):
    """Five MeshClusters (names of 11 characters) fit an 80-column terminal."""
    c1 = cs[0]
    for n in ("cluster0004", "cluster0005"):
        c1.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": n},
            "spec": {"tailscale": {"tailnet": TAILNET}}}))
    rc, out, err = meshctl(cs[:1], "status")
    print(out, flush=True)
    lines = out.splitlines()
    check(rc == 1 and lines[0].split()[1:] == ["cluster0004", "cluster0005"] + NAMES,
          "five columns: %r" % lines[:2])
    check(all(len(l) <= 80 for l in lines[:2]), "wider than 80 columns: %r" % lines[:2])


def usage(cs):
    for args in (["status", "--bogus"], ["status", "-o", "yaml"], ["status", "--timeout", "soon"],
                 ["doctor", "--nope"]):
        p = subprocess.run([MESHCTL] + args, capture_output=True, text=True, timeout=30)
        check(p.returncode == 2, "%r: exit %d" % (args, p.returncode))
    p = subprocess.run([MESHCTL, "status", "--kubeconfig", "a", "--kubeconfig", "b", "--context",
                        "x"], capture_output=True, text=True, timeout=30)
    check(p.returncode == 2, "mismatched --kubeconfig/--context: exit %d" % p.returncode)


def main():
    tmp, cs = L.mesh(NAMES, faults=True)
    ok = False
    try:
        pki = setup(tmp, cs)
        usage(cs)
        healthy(cs)
        contexts(tmp, cs)
        peer_breaks(cs)
        faults(tmp, pki, cs)
        api_server_stopped(cs)
        five_columns(cs)
        ok = True
    finally:
        for c in cs:
            if not ok:
                print("--- %s daemon log (tail) ---\n%s" % (c.name, c.daemon_log()[-3000:]))
            c.close()
        L.cleanup(tmp)
    print("PASS")


if __name__ == "__main__":
    main()
