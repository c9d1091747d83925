"""Soak: meshclusterd under a steady churn of MeshCluster edits and foreign deletions, with its
resident memory and open file descriptors sampled as it goes.

Usage: soak.py [--seconds S] [--sample S] [--seed N] [--clusters N] [--rss-bound-mb MB]

One kube-apiserver-lite with the Tailscale and istiod simulators (tests/reconciler/e2e_lib.py),
--clusters MeshClusters, meshclusterd for the first. Then, once a second for --seconds, one
random operation (reproducible from the printed seed): edit a remote MeshCluster's network or
tls port, delete a remote MeshCluster, create one, or delete an object the daemon owns. Every
--sample seconds VmRSS and the number of open descriptors of the daemon are recorded. At the
end the churn stops, the daemon is given time to settle, and the last sample is compared with
the first one taken after the warm-up (the first quarter of the run):
  - open descriptors may not grow by more than 2 (a leak grows them with every operation);
  - VmRSS may not grow by more than --rss-bound-mb (default 4 MB: caches and the allocator's
    high-water mark settle within that; a per-operation leak exceeds it within minutes).
Prints every sample, the least-squares slopes (KB/min, fds/min) and one summary line, and exits
1 when a bound is broken. `bench/soak/run --seconds 1800` is the 30-minute soak; tests/soak runs
a 2-minute one in scripts/test.
"""
import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "reconciler"))
import e2e_lib  # noqa: E402

MIN_CLUSTERS, MAX_CLUSTERS = 5, 40


def mc_yaml(name, network=None, tls=None):
    spec = ["  network: %s" % (network or name), "  meshID: mesh1",
            "  tailscale:", "    tailnet: soak.ts.net"]
    if tls:
        spec += ["  gateway:", "    ports:", "      tls: %d" % tls]
    return "\n".join(["apiVersion: meshcluster.io/v1alpha1", "kind: MeshCluster",
                      "metadata:", "  name: %s" % name, "spec:"] + spec) + "\n"


def proc_sample(pid):
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def slope(points):
    """Least-squares slope of (t, v) pairs, per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return 60.0 * sum((t - mt) * (v - mv) for t, v in points) / den if den else 0.0


class Churn:
    def __init__(self, cluster, rng, names):
        self.c, self.rng, self.names, self.next_id = cluster, rng, names, len(names) + 1
        self.ops = 0

    def step(self):
        remotes = self.names[1:]
        kind = self.rng.choice(["edit", "edit", "delete", "create", "drift"])
        if kind == "delete" and len(self.names) <= MIN_CLUSTERS:
            kind = "create"
        if kind == "create" and len(self.names) >= MAX_CLUSTERS:
            kind = "edit"
        if kind == "edit":
            name = self.rng.choice(remotes)
            net = self.rng.choice([name, "shared-net"])
            tls = self.rng.choice([15443, 15444])
            self.c.kubectl("apply", "-f", "-", input=mc_yaml(name, net, tls))
        elif kind == "delete":
            name = self.rng.choice(remotes)
            self.names.remove(name)
            self.c.kubectl("delete", "mc", name, "--wait=false")
        elif kind == "create":
            name = "soak%04d" % self.next_id
            self.next_id += 1
            self.names.append(name)
            self.c.kubectl("apply", "-f", "-", input=mc_yaml(name))
        else:
            owned = self.c.list("services", "tailscale",
                                selector="app.kubernetes.io/managed-by=meshcluster-controller")
            if owned:
                victim = self.rng.choice(owned)["metadata"]["name"]
                self.c.kubectl("delete", "service", victim, "-n", "tailscale", "--wait=false",
                               check=False)
        self.ops += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--sample", type=float, default=10)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--clusters", type=int, default=20)
    ap.add_argument("--rss-bound-mb", type=float, default=4.0)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int(time.time()) % 100000
    print("soak: seed=%d seconds=%g clusters=%d" % (seed, a.seconds, a.clusters), flush=True)
    rng = random.Random(seed)
    tmp, (c,) = e2e_lib.mesh(["soak0001"])
    ok = False
    try:
        names = ["soak%04d" % i for i in range(1, a.clusters + 1)]
        c.kubectl("apply", "-f", "-", input="---\n".join(mc_yaml(n) for n in names))
        daemon = c.start_daemon()
        e2e_lib.wait_for("local MeshCluster Ready", lambda: any(
            cond.get("type") == "Ready" and cond.get("status") == "True"
            for cond in (c.get("mc", "soak0001") or {}).get("status", {}).get("conditions", [])),
            timeout=120)
        churn = Churn(c, rng, names)
        samples = []
        start = time.monotonic()
        next_sample = start
        while time.monotonic() - start < a.seconds:
            if time.monotonic() >= next_sample:
                rss, fds = proc_sample(daemon.pid)
                t = time.monotonic() - start
                samples.append((t, rss, fds))
                print("  t=%5.0fs ops=%4d rss=%6.1f MB fds=%d" % (t, churn.ops, rss / 1024, fds),
                      flush=True)
                next_sample += a.sample
            churn.step()
            time.sleep(1.0)
        if daemon.poll() is not None:
            raise AssertionError("meshclusterd exited during the soak:\n" + c.daemon_log()[-3000:])
        time.sleep(10)  # let the last operations settle
        rss, fds = proc_sample(daemon.pid)
        samples.append((time.monotonic() - start, rss, fds))
        warm = [s for s in samples if s[0] >= a.seconds / 4] or samples
        base_rss, base_fds = warm[0][1], warm[0][2]
        rss_slope = slope([(t, r) for t, r, _ in warm])
        fd_slope = slope([(t, f) for t, _, f in warm])
        grew_mb = (rss - base_rss) / 1024
        verdict = "ok"
        if fds > base_fds + 2:
            verdict = "fd-growth"
        elif grew_mb > a.rss_bound_mb:
            verdict = "rss-growth"
        print("soak: seed=%d ops=%d seconds=%.0f rss_after_warmup=%.1fMB rss_end=%.1fMB "
              "rss_slope=%.0fKB/min fds_after_warmup=%d fds_end=%d fd_slope=%.2f/min verdict=%s"
              % (seed, churn.ops, a.seconds, base_rss / 1024, rss / 1024, rss_slope, base_fds, fds,
                 fd_slope, verdict), flush=True)
        ok = verdict == "ok"
    finally:
        if not ok:
            print(c.daemon_log()[-2000:])
        c.close()
        e2e_lib.cleanup(tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
