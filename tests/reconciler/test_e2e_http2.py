"""HTTP/2 end to end, on real kube-apiservers (the lite server speaks HTTP/1.1 only, so this
test always runs with MC_TEST_SERVER=real). Two clusters, one meshclusterd each, running as
the chart's ServiceAccount. Proves that:
  - the daemon holds exactly ONE TCP connection to its API server (its sockets in /proc)
    while more watches than one are open on it (the audit log: watches started, not ended),
    so every watch and request is a stream of that one HTTP/2 connection;
  - with kube-apiserver's --http2-max-streams-per-connection below the number of streams the
    daemon keeps open, it still converges and still heals drift from its watches (a deleted
    egress Service comes back), and then writes nothing.
"""
import collections
import json
import os
import sys
import tempfile
import time

os.environ["MC_TEST_SERVER"] = "real"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402

MAX_STREAMS = 3


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def open_watches(c):
    """The daemon's watches the API server has started answering and not yet ended."""
    started, ended = collections.OrderedDict(), set()
    with open(c.info["audit_log"]) as f:
        for line in f:
            if not line.endswith("\n"):
                break
            e = json.loads(line)
            if e["verb"] != "watch" or not (e.get("userAgent") or "").startswith("meshcluster"):
                continue
            if e["stage"] == "ResponseStarted":
                started[e["auditID"]] = e["requestURI"]
            else:
                ended.add(e["auditID"])
    return [uri for a, uri in started.items() if a not in ended]


def converge(cs):
    for c in cs:
        c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=90s")


def main():
    tmp = tempfile.mkdtemp(prefix="mc-e2e-h2-")
    with L.running(tmp, []) as cs:
        cs.append(L.Cluster("cluster1", tmp))
        cs.append(L.Cluster("cluster2", tmp, apiserver_args=[
            "--http2-max-streams-per-connection=%d" % MAX_STREAMS]))
        for c in cs:
            c.prepare(tmp)
            c.apply_examples(["cluster1", "cluster2"])
            c.start_daemon()
        converge(cs)
        c1, c2 = cs

        # One connection, many streams.
        time.sleep(1.0)
        watches = L.wait_for("the daemon's watches", lambda: (lambda w: w if len(w) > MAX_STREAMS else None)(
            open_watches(c1)), 20)
        conns = c1.daemon_connections()
        check(conns == 1, "cluster1: the daemon holds %d TCP connections to its API server, want 1" % conns)
        print("cluster1: 1 TCP connection carrying %d open watches" % len(watches))

        # Fewer streams allowed per connection than the daemon keeps open.
        w2 = open_watches(c2)
        check(len(w2) > MAX_STREAMS, "cluster2: %d open watches, not more than the %d-stream limit"
              % (len(w2), MAX_STREAMS))
        old = c2.get("service", "cluster1-k8s-operator", "tailscale")
        check(old is not None, "cluster2: egress Service missing")
        c2.kubectl("delete", "service", "cluster1-k8s-operator", "-n", "tailscale", "--wait=false")
        L.wait_for("egress Service re-created under the stream limit", lambda: (
            lambda s: s is not None and s["metadata"]["uid"] != old["metadata"]["uid"]
            and not s["metadata"].get("deletionTimestamp"))(
                c2.get("service", "cluster1-k8s-operator", "tailscale")), 30)
        converge([c2])
        time.sleep(2.0)
        c2.clear_requests()
        time.sleep(3.0)
        w = c2.daemon_writes()
        check(w == [], "cluster2: writes in steady state: %r" % [(r["method"], r["path"]) for r in w])
        print("cluster2 (--http2-max-streams-per-connection=%d): %d open watches over %d TCP connection(s); "
              "converged, healed drift, then zero writes" % (MAX_STREAMS, len(open_watches(c2)),
                                                           c2.daemon_connections()))
        for c in cs:
            check(c.stop_daemon() == 0, "%s: exit code after SIGTERM" % c.name)
        print("ok: HTTP/2 on one connection; works under a stream limit")


if __name__ == "__main__":
    main()
