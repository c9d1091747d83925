"""--metrics-secure end to end on a REAL API server (issue 18.1, last part): /metrics over HTTPS,
authorized by the API server with a TokenReview and a SubjectAccessReview, as controller-runtime
serves it by default.

The daemon runs as the Helm chart's ServiceAccount, the chart rendered with metrics.secure=true
(which grants it create on tokenreviews and subjectaccessreviews). Then:
  - the served certificate (self-signed, made in memory) verifies, hostname included, when
    pinned; a scraper ServiceAccount bound to the chart's meshcluster-metrics-reader ClusterRole
    gets 200 and real metric families (parsed with Debian's python3-prometheus-client);
  - a ServiceAccount without the binding gets 403; no token, a garbage token and another
    scheme get 401 with a WWW-Authenticate challenge;
  - cleartext HTTP to the TLS port gets no HTTP answer; /healthz and /readyz stay plain HTTP on
    the health port, which no longer serves /metrics;
  - the chart re-applied without metrics.secure takes the review permissions away: a new token
    gets 503 and the daemon logs why (the review failed with 403), and it keeps running;
  - restarted with --metrics-cert-file/--metrics-key-file it serves that certificate, verified
    with it as the CA.
Needs MC_TEST_SERVER=real (the lite server has no TokenReview).
"""
import http.client
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reconciler"))
import e2e_lib as L  # noqa: E402

NS = "default"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def ports(log):
    """(health port, HTTPS metrics port) the daemon's text log announces, or None."""
    h = re.findall(r'msg="serving health and metrics" addr=\S+ port=(\d+)', log)
    m = re.findall(r'msg="serving metrics over HTTPS[^"]*" addr=\S+ port=(\d+)', log)
    return (int(h[-1]), int(m[-1])) if h and m else None


def https_get(port, ctx, path="/metrics", token=None, auth=None):
    """(status, headers, body) of one GET over TLS; ctx verifies the server."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=20)
    headers = {}
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    if auth is not None:
        headers["Authorization"] = auth
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        conn.close()


def pinned_context(pem):
    """Trusts exactly pem, with hostname checking on (the certificate names 127.0.0.1)."""
    ctx = ssl.create_default_context(cadata=pem)
    ctx.check_hostname = True
    return ctx


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def cleartext_answer(port):
    """What a plain-HTTP GET to the TLS port gets back (bytes until close, bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        try:
            while len(got) < 4096:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except (ConnectionResetError, socket.timeout):
            pass
    return got


def token(c, sa):
    return c.kubectl("create", "token", sa, "-n", NS, "--duration=1h").stdout.strip()


def reviews(c, resource):
    """The daemon's POSTs of a review resource since the last clear_requests()."""
    return [r for r in c.requests() if r["method"] == "POST" and r["path"].endswith("/" + resource)
            and (r.get("user_agent") or "").startswith("meshclusterd")]


def wait_ports(c):
    def ready():
        check(c.daemon.poll() is None, "the daemon exited:\n" + c.daemon_log()[-2000:])
        return ports(c.daemon_log())
    return L.wait_for("the daemon's listeners", ready, 60)


def main():
    if not L.REAL:
        print("SKIP: needs MC_TEST_SERVER=real (the lite server has no TokenReview)")
        return
    tmp = tempfile.mkdtemp(prefix="mc-metrics-secure-")
    clusters = []
    with L.running(tmp, clusters):
        c = L.Cluster("c1", tmp)
        clusters.append(c)
        c.chart_values = ["metrics.secure=true"]
        c.prepare(tmp)
        c.kubectl("create", "serviceaccount", "scraper", "-n", NS)
        c.kubectl("create", "serviceaccount", "stranger", "-n", NS)
        c.kubectl("create", "clusterrolebinding", "scraper-metrics", "--clusterrole",
                  "meshcluster-metrics-reader", "--serviceaccount", NS + ":scraper")

        c.start_daemon("--metrics-secure")
        health, mport = wait_ports(c)
        check(health != mport, "one port for both listeners")

        # The self-signed certificate, pinned: TLS verifies, hostname (IP SAN) included.
        pem = ssl.get_server_certificate(("127.0.0.1", mport))
        ctx = pinned_context(pem)
        good = token(c, "scraper")
        status, _, body = L.wait_for("an authorized scrape", lambda: (
            lambda r: r if r[0] == 200 else None)(https_get(mport, ctx, token=good)), 60)
        fams = families(body)
        for want in ("rest_client_requests", "meshcluster_build_info"):
            check(want in fams, "%s missing from the HTTPS scrape: %s" % (want, sorted(fams)[:20]))
        check(any(s.value > 0 for s in fams["rest_client_requests"].samples),
              "no API request counted in the scraped families")

        # Verdicts are cached (10 s, k8s/delegated_auth.h): five more scrapes with the same token
        # make no review; a new token makes one of each, by the daemon's ServiceAccount. (At
        # most one repeat is allowed, in case 10 s pass on a loaded machine; uncached it is 5.)
        c.clear_requests()
        for _ in range(5):
            check(https_get(mport, ctx, token=good)[0] == 200, "a repeated scrape was refused")
        check(len(reviews(c, "tokenreviews")) <= 1,
              "repeated scrapes were reviewed again: %s" % reviews(c, "tokenreviews"))
        c.clear_requests()
        check(https_get(mport, ctx, token=token(c, "scraper"))[0] == 200, "a second token was refused")
        tr, sar = reviews(c, "tokenreviews"), reviews(c, "subjectaccessreviews")
        check(len(tr) == 1 and len(sar) == 1, "a new token: %d TokenReviews, %d SARs" % (len(tr), len(sar)))
        check(tr[0]["user"] == "system:serviceaccount:%s:meshcluster-controller" % L.CHART_NS and
              tr[0]["code"] == 201, "the TokenReview was made by the daemon's ServiceAccount: %s" % tr[0])

        status, _, body = https_get(mport, ctx, token=token(c, "stranger"))
        check(status == 403, "an SA without the metrics-reader binding got %d: %s" % (status, body))
        for label, kw in (("no token", {}), ("a garbage token", {"token": "garbage.not-a.jwt"}),
                          ("basic auth", {"auth": "Basic YWRtaW46YWRtaW4="})):
            status, headers, body = https_get(mport, ctx, **kw)
            check(status == 401, "%s got %d: %s" % (label, status, body))
            check(headers.get("www-authenticate", headers.get("WWW-Authenticate", "")).startswith("Bearer"),
                  "%s: no Bearer challenge in %s" % (label, headers))
        check(not cleartext_answer(mport).startswith(b"HTTP/"),
              "cleartext HTTP to the TLS port got an HTTP answer")

        status, body = L.http_get(health, "/healthz")
        check(status == 200 and body == "ok", "/healthz over plain HTTP: %d %r" % (status, body))
        status, _ = L.http_get(health, "/readyz")
        check(status in (200, 503), "/readyz over plain HTTP: %d" % status)
        status, _ = L.http_get(health, "/metrics")
        check(status == 404, "the plain health port served /metrics: %d" % status)

        # Without the review permissions the daemon cannot decide: 503 and a log line, no crash.
        c.chart_values = []
        c.install_chart()
        L.wait_for("503 once the review permissions are gone", lambda: https_get(
            mport, ctx, token=token(c, "scraper"))[0] == 503, 60, interval=1)
        log = c.daemon_log()
        check("metrics authorization failed; answering 503" in log and "httpStatus=403" in log,
              "no clear log line for the failed review:\n" + log[-3000:])
        check(good not in log, "a scraper's token reached the log")
        check(c.daemon.poll() is None, "the daemon exited")
        check(c.stop_daemon() == 0, "the daemon did not stop cleanly")

        # A given certificate, verified as the CA.
        c.chart_values = ["metrics.secure=true"]
        c.install_chart()
        crt, key = os.path.join(c.dir, "tls.crt"), os.path.join(c.dir, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "2", "-subj", "/CN=metrics-test", "-addext",
                        "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", crt],
                       check=True, capture_output=True, timeout=60)
        c.start_daemon("--metrics-secure", "--metrics-cert-file", crt, "--metrics-key-file", key)
        L.wait_for("the restarted daemon's listeners",
                   lambda: len(re.findall(r'serving metrics over HTTPS', c.daemon_log())) >= 2, 60)
        _, mport = ports(c.daemon_log())
        ctx = ssl.create_default_context(cafile=crt)
        status, _, body = L.wait_for("an authorized scrape with the given certificate", lambda: (
            lambda r: r if r[0] == 200 else None)(https_get(mport, ctx, token=token(c, "scraper"))), 60,
            interval=1)
        check("rest_client_requests" in families(body), "no families with the given certificate")
        check(c.stop_daemon() == 0, "the daemon did not stop cleanly")
    print("PASS")


if __name__ == "__main__":
    main()
