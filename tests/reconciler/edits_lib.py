"""Helpers of the foreign-edit tests (test_e2e_edits.py, test_e2e_matrix.py) on top of
e2e_lib: conditions, Events, write counting and one running cluster per scenario."""
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402

ISTIO = "istio-system"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def condition(c, mc, type_):
    o = c.get("meshcluster", mc)
    for x in (o.get("status") or {}).get("conditions") or []:
        if x["type"] == type_:
            return x
    return None


def wait_condition(c, mc, type_, status, reason=None, timeout=30):
    def ok():
        x = condition(c, mc, type_)
        return x is not None and x["status"] == status and (reason is None or x["reason"] == reason)
    L.wait_for("%s %s=%s %s" % (mc, type_, status, reason or ""), ok, timeout)
    return condition(c, mc, type_)


def events(c, reason):
    """The Events of this reason (MeshClusters are cluster-scoped: theirs are in default)."""
    return [e for e in c.list("events", ns="default") if e.get("reason") == reason]


def settle(c, seconds):
    """The daemon's writes during the next `seconds`."""
    c.clear_requests()
    time.sleep(seconds)
    return c.daemon_writes()


def wait_quiet(c, seconds=2.0, limit=30):
    """Returns once the daemon has written nothing for `seconds` (at most `limit` s)."""
    deadline, last, since = time.monotonic() + limit, -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(c.daemon_writes())
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return
        time.sleep(0.2)
    raise AssertionError("the daemon did not go quiet: %s" % c.daemon_writes()[-5:])


def writes_to(c, path_part):
    return [r for r in c.daemon_writes() if path_part in r["path"]]


@contextlib.contextmanager
def running(names=("cluster1", "cluster2"), flags=(), before_daemon=None, ready=True):
    """One cluster "cluster1" with the example MeshClusters `names`, its daemon started with
    `flags` and (with ready) every MeshCluster Ready; the daemon log's tail is printed on
    failure. before_daemon(c) runs after the MeshClusters are applied."""
    tmp, (c,) = L.mesh(["cluster1"])
    try:
        c.apply_examples(list(names))
        if before_daemon:
            before_daemon(c)
        c.start_daemon(*flags)
        if ready:
            c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=60s")
        yield c
    except BaseException:
        sys.stderr.write("---- daemon log (tail)\n%s\n" % c.daemon_log()[-6000:])
        raise
    finally:
        c.close()
        L.cleanup(tmp)
