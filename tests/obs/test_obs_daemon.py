"""The daemon's own observability, end to end with real kubectl, on a real server through the
fault proxy (tests/realcluster/cmd/fault-proxy) or on kube-apiserver-lite:

metrics (issue 14.8): after MeshClusters were applied and reconciled, every watch dropped once
(/drop-watches) and the server's history compacted under open watches (/compact, then
/drop-watches: resuming gets 410, so every informer relists), /metrics of the RUNNING daemon is
parsed with Debian's python3-prometheus-client and must show rest_client_requests_total
{code,method,host} for GETs and server-side-apply PATCHes against the server's host,
rest_client_request_duration_seconds observations, meshcluster_watch_restarts_total and
meshcluster_relists_total per resource, and workqueue_queue_duration_seconds /
workqueue_work_duration_seconds with as many observations as the queue handed out keys.

failures (issue 18.4): with every MeshCluster list answered 403, the log has a warn line with
class=auth, the verb, the path and code 403, /readyz's 503 body names the 403, and the lines
stay rate-limited while the server counts many more 403s; a storm of 500s on watches gives
class=server-error lines, also rate-limited; a kubeconfig with the wrong CA gives class=tls with
curl's certificate text.
"""
import os
import re
import subprocess
import sys
import time

import yaml
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reconciler"))
import e2e_lib as L  # noqa: E402

INTERVAL_S = 10  # k8s/request.h K8S_FAILURE_LOG_INTERVAL_MS


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def obs_port(c):
    return L.obs_port(c.daemon_log())


http_get = L.http_get


def scrape(port):
    status, text = http_get(port, "/metrics")
    check(status == 200, "/metrics answered %d" % status)
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def total(samples, family, **labels):
    return sum(v for lab, v in samples.get(family, []) if all(lab.get(k) == x for k, x in labels.items()))


def failure_lines(c, cls):
    return [ln for ln in c.daemon_log().splitlines()
            if 'msg="API request failed"' in ln and "class=%s " % cls in ln and "level=warn" in ln]


def test_metrics(c):
    c.apply_examples(["cluster1", "cluster2"])
    c.start_daemon()
    port = L.wait_for("the obs port", lambda: obs_port(c))
    L.wait_for("ready", lambda: http_get(port, "/readyz")[0] == 200)
    L.wait_for("cluster2 Ready", lambda: any(
        x.get("type") == "Ready" and x.get("status") == "True"
        for x in (c.get("meshcluster", "cluster2") or {}).get("status", {}).get("conditions", [])))
    before = scrape(port)

    # Every watch ends once: each informer must restart its watch.
    c.ctl("POST", "/drop-watches", {"abort": False})
    L.wait_for("watch restarts", lambda: total(scrape(port), "meshcluster_watch_restarts_total") >= 1)
    # History forgotten under the open watches, then dropped: resuming gets 410, so a relist.
    c.ctl("POST", "/compact", {})
    c.ctl("POST", "/drop-watches", {"abort": False})
    L.wait_for("relists", lambda: total(scrape(port), "meshcluster_relists_total") >= 1)
    # One more edit, so the queue hands out a key after all that.
    c.kubectl("label", "meshcluster", "cluster2", "touched=yes")
    L.wait_for("the edit reconciled", lambda: total(scrape(port), "workqueue_work_duration_seconds_count")
               > total(before, "workqueue_work_duration_seconds_count"))

    server = yaml.safe_load(open(c.kubeconfig))["clusters"][0]["cluster"]["server"]
    host = server.split("://", 1)[1].rstrip("/")

    def daemon_gets(watches):
        return len([r for r in c.requests() if (r.get("user_agent") or "").startswith("meshcluster")
                    and r["method"] == "GET" and r["code"] == 200
                    and (watches or "watch=" not in (r.get("query") or ""))])

    # Quiet first (nothing new for a second), so that what the server answered before the
    # scrape has reached the daemon: every answered list/get is counted, and nothing more
    # than the server answered in all (open watches are counted when they end).
    seen = []
    L.wait_for("a quiet API server", lambda: seen.append(len(c.requests())) or
               (len(seen) > 5 and seen[-1] == seen[-6]), interval=0.2)
    before_scrape = daemon_gets(False)
    m = scrape(port)
    after_scrape = daemon_gets(True)
    gets = total(m, "rest_client_requests_total", code="200", method="GET", host=host)
    patches = total(m, "rest_client_requests_total", method="PATCH", host=host)
    check(before_scrape <= gets <= after_scrape,
          "GET 200 counted %d, server answered %d lists/gets and %d in all"
          % (gets, before_scrape, after_scrape))
    check(patches > 0, "no PATCH counted (server-side apply)")
    check(total(m, "rest_client_request_duration_seconds_count", verb="GET", host=host) > 0,
          "no request duration observed")
    restarts = {lab["resource"]: v for lab, v in m["meshcluster_watch_restarts_total"]}
    # Which informers were between watches when the server dropped them varies; every one
    # had a watch to lose, and at least one resumed from a compacted resourceVersion.
    check(set(restarts) >= {"meshclusters", "services", "secrets", "configmaps"}
          and min(restarts.values()) >= 1, "watch restarts: %r" % restarts)
    relists = {lab["resource"]: v for lab, v in m["meshcluster_relists_total"]}
    check(sum(relists.values()) >= 1, "relists: %r" % relists)
    # Work per event: the first desired state is a full one; both modes are exposed from the
    # start; the bodies built cover at least cluster2's objects, compared or applied once.
    full = total(m, "meshcluster_desired_computations_total", mode="full")
    modes = {lab.get("mode") for lab, _ in m.get("meshcluster_desired_computations_total", [])}
    bodies = total(m, "meshcluster_desired_bodies_built_total")
    check(full >= 1 and modes == {"full", "incremental"} and bodies >= 4,
          "work metrics: full %r, modes %r, bodies %r" % (full, modes, bodies))
    q = total(m, "workqueue_queue_duration_seconds_count", name="meshcluster", controller="meshcluster")
    w = total(m, "workqueue_work_duration_seconds_count", name="meshcluster", controller="meshcluster")
    adds = total(m, "workqueue_adds_total", name="meshcluster")
    check(q >= 2 and w >= 2, "queue/work durations not observed: %r %r" % (q, w))
    check(q <= adds, "more keys handed out (%d) than added (%d)" % (q, adds))
    check(w <= q, "more work finished (%d) than handed out (%d)" % (w, q))
    print("ok: metrics: GET 200 %d, PATCH %d, restarts %r, relists %r, queue %d, work %d, adds %d"
          % (gets, patches, restarts, relists, q, w, adds))
    rc = c.stop_daemon()
    check(rc == 0, "exit status %r" % rc)


def test_failures(c, c2, tmp):
    # Every MeshCluster list refused: the daemon never syncs and must say why.
    c.ctl("POST", "/fail", {"count": 100000, "code": 403, "path_regex": "meshclusters$", "query_regex": "^(?!.*watch=)"})
    c.start_daemon()
    port = L.wait_for("the obs port", lambda: obs_port(c))
    L.wait_for("an auth failure logged", lambda: failure_lines(c, "auth"))
    # The last failure: on a real server a CRD that has just become Established may first
    # answer 429 "storage is (re)initializing" for a moment; the refused lists go on.
    seen = []
    L.wait_for("/readyz naming the 403", lambda: seen.append(http_get(port, "/readyz")) or
               (seen[-1][0] == 503 and "403" in seen[-1][1] and "meshclusters" in seen[-1][1]), timeout=30)
    status, body = seen[-1]
    line = failure_lines(c, "auth")[0]
    check("code=403" in line and "verb=GET" in line and "meshclusters" in line, "auth line: " + line)
    t0 = time.monotonic()
    L.wait_for("several 403s", lambda: len([r for r in c.requests() if r["code"] == 403]) >= 5, timeout=60)
    refused = len([r for r in c.requests() if r["code"] == 403])
    lines = len(failure_lines(c, "auth"))
    allowed = 2 + int((time.monotonic() - t0) / INTERVAL_S) + 1
    check(lines <= allowed, "%d auth lines for %d 403s (rate limit allows %d)" % (lines, refused, allowed))
    print("ok: auth: %d lines for %d refused requests; /readyz: %s" % (lines, refused, body.strip()))
    c.stop_daemon()

    # A 500 storm on watches (another server: the 403s there never end): logged as server
    # errors, rate-limited too.
    c = c2
    c.ctl("POST", "/fail", {"count": 60, "code": 500, "query_regex": "watch="})
    c.start_daemon()
    L.wait_for("a server error logged", lambda: failure_lines(c, "server-error"))
    L.wait_for("the storm served", lambda: len([r for r in c.requests() if r["code"] == 500]) >= 10, timeout=60)
    lines = failure_lines(c, "server-error")
    check(len(lines) <= 4, "%d server-error lines for a storm: %r" % (len(lines), lines))
    check("code=500" in lines[0] and "verb=GET" in lines[0], "server-error line: " + lines[0])
    print("ok: server-error: %d lines" % len(lines))
    c.stop_daemon()

    # The wrong CA: a TLS failure with curl's text.
    kc = yaml.safe_load(open(c.kubeconfig))
    key, crt = os.path.join(tmp, "wrong.key"), os.path.join(tmp, "wrong.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-subj", "/CN=wrong-ca", "-days", "1", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    cluster = kc["clusters"][0]["cluster"]
    cluster.pop("certificate-authority-data", None)
    cluster["certificate-authority"] = crt
    wrong = os.path.join(tmp, "wrong-ca.kubeconfig")
    with open(wrong, "w") as f:
        yaml.safe_dump(kc, f)
    good = c.daemon_kubeconfig  # what start_daemon hands the daemon
    c.daemon_kubeconfig = wrong
    try:
        c.start_daemon()
        L.wait_for("a TLS failure logged", lambda: failure_lines(c, "tls"), timeout=30)
    finally:
        c.daemon_kubeconfig = good
    line = failure_lines(c, "tls")[0]
    check("certificate" in line.lower() or "ssl" in line.lower(), "TLS line without curl's cause: " + line)
    print("ok: tls: " + line)
    c.stop_daemon()


if __name__ == "__main__":
    if (sys.argv[1:] or ["metrics"])[0] == "metrics":
        L.run(["cluster1"], lambda tmp, cs: test_metrics(cs[0]), faults=True)
    else:
        L.run(["cluster1", "cluster2"], lambda tmp, cs: test_failures(cs[0], cs[1], tmp), faults=True)
