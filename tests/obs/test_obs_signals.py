"""Signals on the real daemon (issue 18.6), with leader election on: on a real server as the
chart's ServiceAccount with its Lease in the chart's namespace, or on kube-apiserver-lite:

  - SIGHUP is logged and ignored: the daemon keeps running, serving /healthz and holding the
    Lease (before, SIGHUP's default action killed it silently with the Lease still held, so no
    standby could take over until it expired);
  - SIGPIPE is ignored: same checks;
  - SIGTERM and SIGINT are graceful: exit status 0 and the Lease released (holderIdentity "").
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reconciler"))
import e2e_lib as L  # noqa: E402

# The chart grants its ServiceAccount Leases in its own namespace only.
LEASE_NS = L.CHART_NS if L.REAL else "meshcluster-system"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def holder(c):
    lease = c.get("lease", "meshcluster-controller", LEASE_NS)
    return (lease or {}).get("spec", {}).get("holderIdentity") or ""


def start_leader(c, identity):
    os.environ["POD_NAME"] = identity
    c.start_daemon("--leader-elect", "--lease-namespace", LEASE_NS)
    port = L.wait_for("the obs port", lambda: L.obs_port(c.daemon_log()))
    L.wait_for("%s leads" % identity, lambda: holder(c).startswith(identity), 20)
    return port


def survives(c, port, sig, identity, logged):
    c.daemon.send_signal(sig)
    if logged:
        L.wait_for("the %s log line" % sig.name,
                   lambda: logged in c.daemon_log() or c.daemon.poll() is not None, 10)
    # A default action (terminate) acts on delivery; the pause only lets the kernel get there
    # before we look (for SIGPIPE, which logs nothing to wait for).
    time.sleep(0.2)
    check(c.daemon.poll() is None, "the daemon died of %s (status %r)" % (sig.name, c.daemon.poll()))
    check(L.http_get(port, "/healthz") == (200, "ok"), "/healthz after %s" % sig.name)
    check(holder(c).startswith(identity), "the Lease moved after %s: %r" % (sig.name, holder(c)))
    print("ok: %s ignored, still leading" % sig.name, flush=True)


def stops_gracefully(c, sig):
    rc = c.stop_daemon(sig=sig, timeout=6)
    check(rc == 0, "exit status %r after %s" % (rc, sig.name))
    check(holder(c) == "", "the Lease was not released on %s: %r" % (sig.name, holder(c)))
    print("ok: %s exits 0 and releases the Lease" % sig.name, flush=True)


def signals(tmp, clusters):
    c = clusters[0]
    c.kubectl("create", "namespace", LEASE_NS, check=False)  # the chart made it on a real server
    port = start_leader(c, "replica-a")
    survives(c, port, signal.SIGHUP, "replica-a", "SIGHUP received")
    survives(c, port, signal.SIGPIPE, "replica-a", None)
    survives(c, port, signal.SIGHUP, "replica-a", None)  # and again: no one-shot handler
    stops_gracefully(c, signal.SIGTERM)
    # The next start must not see its own earlier log's port.
    open(c.daemon_log_path, "w").close()
    start_leader(c, "replica-b")
    stops_gracefully(c, signal.SIGINT)


if __name__ == "__main__":
    L.run(["cluster1"], signals)
