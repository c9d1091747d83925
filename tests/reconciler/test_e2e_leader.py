"""End to end, two meshclusterd replicas with --leader-elect against one test API server:
  - exactly one holds the Lease and converges the mesh; the standby keeps its caches warm
    (/readyz answers 200) and no mesh object is written while nothing changes;
  - /metrics parses with a real Prometheus text parser and counts successful reconciles;
  - the leader's logs and Events never contain the API token or remote-secret contents;
  - on SIGTERM the leader releases the Lease and exits 0; the standby takes over within
    2 s and heals drift from then on;
  - after SIGKILL of the leader, the restarted standby takes over within the lease duration
    of the last renewal it saw (see the bound in main()) and heals drift.
On a real server (the default) each replica runs as its own ServiceAccount bound exactly like
the chart's, so the audit log tells them apart: the standby, started while the leader is still
converging, writes nothing at all; after SIGKILL the new leader's first write (its Lease
takeover) is read from the audit log and bounded by the Lease's leaseDurationSeconds plus one
jittered retry period.
"""
import base64
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402

# On a real server the chart's namespace, whose Role the chart's ServiceAccount has.
LEASE_NS = L.CHART_NS if L.REAL else "meshcluster-system"
# k8s/lease.c's retry period and its jitter (a candidate retries after [1, 1.2) periods);
# meshclusterd has no flag for them.
RETRY_PERIOD_MAX_S = 2.0 * 1.2
# The takeover is a GET of the expired Lease then a PUT: two round trips on a loaded machine.
ROUND_TRIPS_S = 1.0


def check(cond, what):
    if not cond:
        raise AssertionError(what)


obs_port = L.obs_port
http_get = L.http_get


def holder(c):
    lease = c.get("lease", "meshcluster-controller", LEASE_NS)
    return (lease or {}).get("spec", {}).get("holderIdentity") or ""


def replicas(c):
    """Two replicas; on a real server as two ServiceAccounts with the chart's grants, and the
    audit log's user of each."""
    if not L.REAL:
        c.kubectl("create", "namespace", LEASE_NS)
        return [L.Replica(c, n, lease_ns=LEASE_NS) for n in ("replica-a", "replica-b")], {}
    c.bind_like_chart("meshcluster-controller-b")
    kc_b = c.write_sa_kubeconfig(os.path.join(c.dir, "kubeconfig-b"),
                                 token=c.sa_token("meshcluster-controller-b"))
    reps = [L.Replica(c, "replica-a", c.daemon_kubeconfig, LEASE_NS), L.Replica(c, "replica-b", kc_b, LEASE_NS)]
    users = {"replica-a": "system:serviceaccount:%s:meshcluster-controller" % L.CHART_NS,
             "replica-b": "system:serviceaccount:%s:meshcluster-controller-b" % L.CHART_NS}
    return reps, users


def writes_by(c, user):
    return [r for r in c.requests() if r["method"] in L.WRITE_METHODS and r.get("user") == user]


def main():
    tmp, (c,) = L.mesh(["cluster1"])
    (a, b), users = replicas(c)
    try:
        c.apply_examples(["cluster1", "cluster2"])
        c.clear_requests()
        a.start()
        L.wait_for("replica-a leads", lambda: holder(c).startswith("replica-a"), 20)
        # The standby starts while the leader converges: it must not write anything.
        b.start()
        c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=60s")
        if users:
            mine = [r for r in writes_by(c, users["replica-a"]) if "/leases" not in r["path"]]
            check(mine, "the leader's converge writes are not in the audit log")
            w = writes_by(c, users["replica-b"])
            check(w == [], "the standby wrote: %r" % [(r["method"], r["path"]) for r in w])
        pb = b.port()
        L.wait_for("standby ready (warm caches)", lambda: http_get(pb, "/readyz")[0] == 200, 20)
        check(holder(c).startswith("replica-a"), "leadership moved without reason")

        # Nothing but Lease traffic while nothing changes: the standby writes no mesh object.
        c.clear_requests()
        time.sleep(3)
        writes = [r for r in c.daemon_writes() if "/leases" not in r["path"]]
        check(writes == [], "writes in steady state with a standby: %r" % [(r["method"], r["path"]) for r in writes])

        # Metrics from the leader.
        pa = a.port()
        st, body = http_get(pa, "/metrics")
        check(st == 200, "/metrics status %r" % st)
        from prometheus_client.parser import text_string_to_metric_families
        fams = {f.name: f for f in text_string_to_metric_families(body)}
        ok = [s for s in fams["controller_runtime_reconcile"].samples
              if s.name == "controller_runtime_reconcile_total" and s.labels.get("result") == "success"]
        check(ok and ok[0].value > 0, "no successful reconcile counted")
        check(http_get(pa, "/healthz")[0] == 200, "/healthz")

        # No secrets in logs or Events.
        token = c.info["token"]
        secret = c.get("secret", "istio-remote-secret-cluster2", "istio-system")["data"]["cluster2"]
        events = c.kubectl("get", "events", "-A", "-o", "json").stdout
        check('"reason": "Created"' in events, "no Created events recorded")
        for text, where in ((a.log(), "leader log"), (b.log(), "standby log"), (events, "events")):
            check(token not in text, "API token in %s" % where)
            check(secret not in text and base64.b64decode(secret).decode() not in text,
                  "remote secret contents in %s" % where)

        # Clean hand-over.
        t0 = time.monotonic()
        rc = a.stop()
        check(rc == 0, "leader exit code %r" % rc)
        check(time.monotonic() - t0 < 5.0, "leader took more than 5 s to exit")
        # A released Lease is taken on the standby's next retry (2 s period), not after the
        # 15 s lease duration: the bound below would fail a standby that waited it out.
        L.wait_for("replica-b leads", lambda: holder(c).startswith("replica-b"), 5, interval=0.1)
        uid = c.get("service", "cluster2-k8s-operator", "tailscale")["metadata"]["uid"]
        c.kubectl("delete", "service", "cluster2-k8s-operator", "-n", "tailscale", "--wait=false")
        L.wait_for("new leader heals drift", lambda: (lambda s: s is not None and s["metadata"]["uid"] != uid)(
            c.get("service", "cluster2-k8s-operator", "tailscale")), 20)

        # A leader killed with SIGKILL releases nothing: the standby takes over once the
        # record has not changed for the lease duration (15 s) on its own clock, counted from
        # when it last saw a renewal, which it reads every retry period (2 s, jittered up to
        # 2.4 s): kill to takeover is at most 15 + 2.4 s, plus scheduling slack.
        a.start()
        pa = a.port()
        L.wait_for("replica-a warm standby", lambda: http_get(pa, "/readyz")[0] == 200, 20)
        check(holder(c).startswith("replica-b"), "leadership moved without reason")
        duration = c.get("lease", "meshcluster-controller", LEASE_NS)["spec"]["leaseDurationSeconds"]
        bound = duration + RETRY_PERIOD_MAX_S + ROUND_TRIPS_S
        c.clear_requests()
        b.proc.kill()
        t0, killed_at = time.monotonic(), time.time()
        b.proc.wait()
        L.wait_for("replica-a leads after SIGKILL", lambda: holder(c).startswith("replica-a"), bound + 5,
                   interval=0.1)
        took = time.monotonic() - t0
        if users:
            # The audit log's word, not our polling: the new leader's first write is the
            # takeover of the Lease, within the bound.
            first = L.wait_for("the new leader's first write", lambda: writes_by(c, users["replica-a"]), 5)[0]
            check("/leases/meshcluster-controller" in first["path"] and first["method"] == "PUT",
                  "the new leader's first write %r" % first)
            took = first["time"] - killed_at
            w = writes_by(c, users["replica-b"])
            check(w == [], "the killed leader wrote after SIGKILL: %r" % w)
        check(took <= bound, "takeover after SIGKILL took %.1f s (bound %.1f s)" % (took, bound))
        uid = c.get("service", "cluster2-k8s-operator", "tailscale")["metadata"]["uid"]
        c.kubectl("delete", "service", "cluster2-k8s-operator", "-n", "tailscale", "--wait=false")
        L.wait_for("leader after SIGKILL heals drift", lambda: (lambda s: s is not None and s["metadata"]["uid"] != uid)(
            c.get("service", "cluster2-k8s-operator", "tailscale")), 20)
        check(a.stop() == 0, "replica-a exit code")
        print("leader election (takeover after SIGKILL in %.1f s of %.1f s allowed), standby wrote nothing, "
              "metrics, secret-free logs: ok" % (took, bound))
    except BaseException:
        for r in (a, b):
            try:
                sys.stderr.write("---- %s log (tail)\n%s\n" % (r.name, r.log()[-4000:]))
            except OSError:
                pass
        raise
    finally:
        a.stop()
        b.stop()
        c.close()
        L.cleanup(tmp)


if __name__ == "__main__":
    main()
