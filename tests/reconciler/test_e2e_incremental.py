"""End to end, a property: what a long-running daemon's incremental passes leave behind is what a
full pass computes (issue 20, "Incremental reconcile").

A daemon that runs for a while reconciles incrementally: it reuses its desired state while no
MeshCluster changed, skips objects whose live version it already matched, skips the status of
a MeshCluster whose inputs did not move, and holds back statuses that are still settling. A
fresh daemon has none of that memory: its first pass is the full one. So after a seeded random
sequence of operations (spec edits of every kind, MeshClusters created, deleted and made
invalid, foreign deletes of owned objects) and a quiet period, a fresh daemon started on the
same server must find nothing to do: 0 writes of objects, statuses or Events. Checked after
every batch, and the owned objects must be exactly the ones `meshctl render` (the pure desired
state) lists for the MeshClusters on the server.

The seed is printed; MC_SEED replays one. MC_TEST_SERVER picks lite or real like every e2e.
"""
import json
import os
import random
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402
import test_e2e_quiet_edit as Q  # noqa: E402  (settle: wait for the daemon to go quiet)

LOCAL = "cluster1"
BATCHES, OPS_PER_BATCH = 4, 4
QUIET = 4.0  # longer than the daemon's status hold (STATUS_SETTLE_MS, 3 s)
KINDS = "services,secrets,configmaps,gateways.networking.istio.io"


def mc(name):
    return {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster",
            "metadata": {"name": name},
            "spec": {"network": name, "meshID": "mesh1",
                     "tailscale": {"tailnet": "incr.ts.net"}}}


def edits(rng):
    """A random spec edit, as a merge patch."""
    n = rng.randrange(1000)
    return rng.choice([
        {"spec": {"network": "net-%d" % n}},
        {"spec": {"locality": {"region": "region-%d" % (n % 4), "zone": "zone-%d" % n}}},
        {"spec": {"tailscale": {"apiServerProxyHostname": "api-%d" % n}}},
        {"spec": {"tailscale": {"eastWestGatewayHostname": "ewgw-%d" % n}}},
        {"spec": {"tailscale": {"proxyClass": "class-%d" % n}}},
        {"spec": {"gateway": {"ports": {"tls": 20000 + n}}}},
        {"spec": {"remoteSecret": {"server": "https://api-%d.example.com" % n}}},
        # Invalid for the controller, not for the CRD: another mesh's ID (MeshIDConflict). The
        # MeshCluster becomes Accepted=False; what was made for it stays.
        {"spec": {"meshID": "other-mesh-%d" % n}},
    ])


def settle(c):
    Q.settle(c, seconds=QUIET, limit=60)


def names(c):
    return sorted(o["metadata"]["name"] for o in c.list("mc"))


def op(c, rng, state):
    """One random operation; returns a line saying what it did."""
    kind = rng.choice(["edit", "edit", "edit", "create", "delete", "foreign-delete"])
    remotes = [n for n in names(c) if n != LOCAL]
    if kind == "create" or not remotes:
        state["next"] += 1
        name = "cluster%d" % state["next"]
        c.kubectl("apply", "-f", "-", input=json.dumps(mc(name)))
        return "create " + name
    if kind == "delete" and len(remotes) > 2:
        name = rng.choice(remotes)
        c.kubectl("delete", "mc", name, "--wait=false")
        return "delete " + name
    if kind == "foreign-delete":
        owned = c.list(KINDS, selector="app.kubernetes.io/managed-by=meshcluster-controller")
        if owned:
            o = rng.choice(sorted(owned, key=lambda o: (o["kind"], o["metadata"]["name"])))
            md = o["metadata"]
            c.kubectl("delete", o["kind"].lower(), md["name"], "-n", md["namespace"],
                      "--wait=false")
            return "foreign delete %s %s/%s" % (o["kind"], md["namespace"], md["name"])
    name = rng.choice(remotes + [LOCAL])
    patch = edits(rng)
    if (c.get("mc", name) or {}).get("spec", {}).get("meshID", "mesh1") != "mesh1":
        patch = {"spec": {"meshID": "mesh1"}}  # valid again: the mesh must not drift into all-invalid
    if name == LOCAL and "meshID" in patch["spec"]:
        name = rng.choice(remotes)  # the local meshID is the mesh's: every remote would conflict
    c.kubectl("patch", "mc", name, "--type=merge", "-p", json.dumps(patch))
    return "edit %s %s" % (name, json.dumps(patch))


def key(o):
    return (o["kind"], o["metadata"].get("namespace") or "", o["metadata"]["name"])


def check_render(c, tmp, done):
    """Owned objects on the server = the owned objects meshctl render lists."""
    src = os.path.join(tmp, "incr-mcs.json")
    mcs = [o for o in c.list("mc") if not o["metadata"].get("deletionTimestamp")]
    rejected = set()
    while True:
        # meshctl render refuses a set with an invalid MeshCluster and names it; the daemon
        # makes nothing for one, so the oracle is the render of the others.
        with open(src, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": mcs}, f)
        out = subprocess.run([os.path.join(L.BUILD, "meshctl"), "render", "--cluster", LOCAL,
                              "-f", src, "-o", "json"], capture_output=True, text=True)
        if out.returncode == 0:
            break
        bad = set(re.findall(r'MeshCluster "([^"]+)": Accepted=False', out.stderr))
        if not bad or LOCAL in bad:
            raise AssertionError("meshctl render: %s" % out.stderr)
        rejected |= bad
        mcs = [o for o in mcs if o["metadata"]["name"] not in bad]
    want = {key(o) for o in json.loads(out.stdout)["items"]
            if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by")
            == "meshcluster-controller"}
    # What was made for a MeshCluster that turned invalid stays as it was (the daemon touches
    # nothing of a rejected MeshCluster: a typo must not take a cluster out of the mesh).
    have = {key(o) for o in c.list(KINDS,
                                   selector="app.kubernetes.io/managed-by=meshcluster-controller")
            if not o["metadata"].get("deletionTimestamp")
            and (o["metadata"].get("labels") or {}).get("meshcluster.io/cluster") not in rejected}
    if want != have:
        raise AssertionError("owned objects differ from meshctl render: missing %s, extra %s\n"
                             "operations so far:\n  %s" % (sorted(want - have)[:5],
                                                          sorted(have - want)[:5], "\n  ".join(done)))
    return len(want)


def passes_done(c, since):
    """Reconcile passes of the daemon whose log starts at offset since, from its /metrics."""
    for port in re.findall(r"port=(\d+)", c.daemon_log()[since:]):
        code, body = L.http_get(int(port), "/metrics")
        if code == 200:
            return sum(float(line.split()[-1]) for line in body.splitlines()
                       if line.startswith("controller_runtime_reconcile_total"))
    return 0


def metric_sum(c, since, family, labels=""):
    """The sum of a family's series (whose labels contain labels) on the /metrics of the daemon
    whose log starts at offset since; None when it cannot be read."""
    for port in re.findall(r"port=(\d+)", c.daemon_log()[since:]):
        code, body = L.http_get(int(port), "/metrics")
        if code == 200:
            return sum(float(line.split()[-1]) for line in body.splitlines()
                       if re.match(re.escape(family) + r"(\{|\s)", line) and labels in line)
    return None


def edit_work_is_local(c):
    """One MeshCluster's edit costs work for what it changes, not for the mesh: the daemon's
    /metrics count the bodies it builds to compare with live objects. On a mesh of 24 clusters
    (95 objects) a remote's tailnet edit rebuilds its three objects that name the tailnet, to
    compare and to apply, and compares them again as our writes and the Tailscale operator's
    status updates come back (14 bodies when measured); a full computation would compare every
    object. The bound is a quarter of the mesh."""
    extra = ["cluster%d" % i for i in range(5, 25)]
    c.kubectl("apply", "-f", "-", input="\n".join(json.dumps(mc(n)) for n in extra))
    settle(c)
    owned = len(c.list(KINDS, selector="app.kubernetes.io/managed-by=meshcluster-controller"))
    bodies = "meshcluster_desired_bodies_built_total"
    computed = "meshcluster_desired_computations_total"
    b0, i0 = metric_sum(c, 0, bodies), metric_sum(c, 0, computed, 'mode="incremental"')
    c.kubectl("patch", "mc", "cluster7", "--type=merge",
              "-p", json.dumps({"spec": {"tailscale": {"tailnet": "moved.ts.net"}}}))
    settle(c)
    b1, i1 = metric_sum(c, 0, bodies), metric_sum(c, 0, computed, 'mode="incremental"')
    print("one edit on %d owned objects: %d bodies built, %d incremental computations" % (
        owned, b1 - b0, i1 - i0), flush=True)
    if not i1 > i0:
        raise AssertionError("the edit did not compute the desired state incrementally "
                             "(%s %s -> %s)" % (computed, i0, i1))
    if not 3 <= b1 - b0 <= owned // 4 or owned < 90:
        raise AssertionError("one remote's edit built %d bodies on a mesh of %d owned objects: "
                             "the work is not limited to what changed" % (b1 - b0, owned))
    # A repair: the passes that follow one deleted object look at that cluster's objects (and
    # the local cluster's, whose meshNetworks every status shares), not at the mesh's.
    visited, passes = "meshcluster_objects_visited_total", "controller_runtime_reconcile_total"
    v0, p0 = metric_sum(c, 0, visited), metric_sum(c, 0, passes)
    c.kubectl("delete", "service", "cluster9-istio-eastwestgateway", "-n", "istio-system")
    L.wait_for("the alias repaired", lambda: c.get("service", "cluster9-istio-eastwestgateway",
                                                    ns="istio-system") is not None)
    settle(c)
    v1, p1 = metric_sum(c, 0, visited), metric_sum(c, 0, passes)
    per_pass = (v1 - v0) / max(1.0, p1 - p0)
    print("one repair: %d passes looked at %d objects, %.1f per pass of %d" % (
        p1 - p0, v1 - v0, per_pass, owned), flush=True)
    if not (p1 > p0 and per_pass <= owned / 4):
        raise AssertionError("the passes after one repair looked at %.1f objects each on a mesh of "
                             "%d: they are not narrow" % (per_pass, owned))
    c.kubectl("delete", "mc", *extra, "--wait=false")
    settle(c)


def full_pass_agrees(c, tmp, batch, done):
    """Replaces the running daemon by a fresh one, whose first pass is a full one: it must
    write nothing."""
    before = {o["metadata"]["name"]: o.get("status") for o in c.list("mc")}
    c.stop_daemon()
    c.clear_requests()
    since = len(c.daemon_log())
    c.start_daemon()
    L.wait_for("the fresh daemon's first pass", lambda: passes_done(c, since) >= 1)
    settle(c)
    writes = c.daemon_writes()
    if writes:
        for r in writes:  # what the full pass changed in a status, to see why
            if r["path"].endswith("/status"):
                name = r["path"].split("/")[-2]
                print("%s status before: %s\nafter: %s" % (
                    name, json.dumps(before.get(name), sort_keys=True),
                    json.dumps((c.get("mc", name) or {}).get("status"), sort_keys=True)))
        raise AssertionError(
            "batch %d: a full pass disagrees with the incremental ones, it wrote %s\n"
            "operations so far:\n  %s" % (batch, ["%s %s" % (r["method"], r["path"])
                                                  for r in writes[:8]], "\n  ".join(done)))
    return check_render(c, tmp, done)


def main():
    seed = int(os.environ.get("MC_SEED") or random.SystemRandom().randrange(1 << 30))
    print("seed %d (MC_SEED=%d replays it)" % (seed, seed), flush=True)
    rng = random.Random(seed)
    tmp, (c,) = L.mesh([LOCAL])
    ok = False
    done = []
    try:
        c.kubectl("apply", "-f", "-",
                  input="\n".join(json.dumps(mc(n)) for n in
                                  [LOCAL, "cluster2", "cluster3", "cluster4"]))
        c.start_daemon()
        settle(c)
        edit_work_is_local(c)
        state = {"next": 24}
        for b in range(1, BATCHES + 1):
            for _ in range(OPS_PER_BATCH):
                done.append(op(c, rng, state))
                time.sleep(rng.choice([0.0, 0.1, 0.5]))
            settle(c)
            n = full_pass_agrees(c, tmp, b, done)
            print("batch %d: %d operations, a fresh daemon wrote nothing, %d owned objects as "
                  "rendered" % (b, len(done), n), flush=True)
        ok = True
        print("ok: seed %d, %d operations" % (seed, len(done)))
    finally:
        if not ok:
            print(c.daemon_log()[-6000:])
        c.close()
        L.cleanup(tmp)


if __name__ == "__main__":
    main()
