"""The fault proxy (tests/realcluster/cmd/fault-proxy) in front of a real kube-apiserver, as
`real-cluster up --fault-proxy` starts it: it offers h2 and http/1.1 and forwards (kubectl works
through proxy_kubeconfig), streams watches as events come, and its control API does what the
lite server's does: /fail (count, code, Retry-After, path and query patterns, the "not a watch"
look-ahead, plain text, clear), /requests and /requests/clear, /drop-watches (clean end, or the
connection cut with abort; over HTTP/1.1 and HTTP/2), /compact (a watch resuming from before it
gets an ERROR event with a 410 Expired Status, a list continued from before it 410) and /listener (down refuses connections and ends
open watches; up serves again on the same port)."""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_real_cluster import KUBECTL, REAL_CLUSTER, check  # noqa: E402


def wait_for(what, fn, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class Proxy:
    def __init__(self, info):
        self.info = info
        u = urllib.parse.urlsplit(info["proxy_url"])
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=info["ca_file"])
        self.auth = {"Authorization": "Bearer " + info["token"]}

    def ctl(self, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.info["proxy_control_url"] + path, data=data,
                                     method="POST" if data is not None else "GET")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def conn(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=20)

    def get(self, path):
        """(status, headers, parsed body) of one HTTP/1.1 GET through the proxy."""
        c = self.conn()
        try:
            c.request("GET", path, headers=dict(self.auth, **{"User-Agent": "fault-proxy-test"}))
            r = c.getresponse()
            raw = r.read()
            ct = r.getheader("Content-Type") or ""
            return r.status, r, (json.loads(raw) if ct.startswith("application/json") else raw.decode())
        finally:
            c.close()

    def watch(self, path):
        """An open HTTP/1.1 watch: (connection, response)."""
        c = self.conn()
        c.request("GET", path, headers=self.auth)
        r = c.getresponse()
        check(r.status == 200, "watch %s: %d" % (path, r.status))
        return c, r

    def curl_watch(self, path):
        """An open HTTP/2 watch by curl; its output goes to a pipe."""
        return subprocess.Popen(["curl", "-sS", "--http2", "-N", "--cacert", self.info["ca_file"],
                                 "-H", "Authorization: Bearer " + self.info["token"],
                                 self.info["proxy_url"] + path], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


def kubectl(info, *args):
    env = dict(os.environ, KUBECONFIG=info["proxy_kubeconfig"],
               KUBECACHEDIR=os.path.join(info["dir"], "kubecache"))
    p = subprocess.run([KUBECTL] + list(args), env=env, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "kubectl %s: %s" % (" ".join(args), p.stderr))
    return p.stdout


def alpn(p, protos):
    ctx = ssl.create_default_context(cafile=p.info["ca_file"])
    ctx.set_alpn_protocols(protos)
    with socket.create_connection((p.host, p.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=p.host) as t:
            return t.selected_alpn_protocol()


def read_event(r):
    return json.loads(r.readline())


def test_forward_and_fail(p):
    check(alpn(p, ["h2", "http/1.1"]) == "h2", "the proxy does not offer h2")
    check(alpn(p, ["http/1.1"]) == "http/1.1", "the proxy does not offer http/1.1")
    check("kube-system" in kubectl(p.info, "get", "namespaces", "-o", "name"), "kubectl through the proxy")
    p.ctl("/requests/clear", {})
    p.ctl("/fail", {"count": 1, "code": 429, "retryAfter": 2, "path_regex": "/namespaces$"})
    code, r, body = p.get("/api/v1/namespaces")
    check(code == 429 and body["reason"] == "TooManyRequests" and r.getheader("Retry-After") == "2"
          and body["details"]["retryAfterSeconds"] == 2, "injected 429: %d %r" % (code, body))
    code, _, body = p.get("/api/v1/namespaces")
    check(code == 200 and body["kind"] == "NamespaceList", "count 1 used up: %d" % code)
    # The look-ahead the obs tests use: every request but watches fails.
    p.ctl("/fail", {"count": 5, "code": 403, "path_regex": "configmaps$", "query_regex": "^(?!.*watch=)"})
    code, _, body = p.get("/api/v1/namespaces/default/configmaps")
    check(code == 403 and body["reason"] == "Forbidden", "not-a-watch rule on a list: %d" % code)
    c, r = p.watch("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1")
    c.close()
    p.ctl("/fail", {"clear": True})
    code, _, _ = p.get("/api/v1/namespaces/default/configmaps")
    check(code == 200, "clear: %d" % code)
    p.ctl("/fail", {"count": 1, "code": 429, "plain_text": True})
    code, r, body = p.get("/api/v1/namespaces")
    check(code == 429 and body.startswith("Too many requests") and r.getheader("Retry-After") == "1",
          "plain-text 429: %d %r" % (code, body))
    log = p.ctl("/requests")
    mine = [e for e in log if e["user_agent"] == "fault-proxy-test"]
    check([e["code"] for e in mine] == [429, 200, 403, 200, 429], "request log codes %r" % mine)
    check(mine[0]["method"] == "GET" and mine[0]["path"] == "/api/v1/namespaces", "log entry %r" % mine[0])
    p.ctl("/requests/clear", {})
    check(p.ctl("/requests") == [], "requests/clear")


def test_watch_drop(p):
    rv = p.get("/api/v1/namespaces/default/configmaps")[2]["metadata"]["resourceVersion"]
    c, r = p.watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv)
    kubectl(p.info, "create", "configmap", "w1", "-n", "default")
    ev = read_event(r)  # streamed, not held back until the watch ends
    check(ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "w1", "event %r" % ev)
    check(p.ctl("/state")["watchers"] == 1, "one watch in flight")
    p.ctl("/drop-watches", {"abort": False})
    check(r.read() == b"", "a clean drop ends the body")  # IncompleteRead if cut
    c.close()
    # watch=True, as python-kubernetes spells it, is a watch too (the API server parses a bool).
    c, r = p.watch("/api/v1/namespaces/default/configmaps?watch=True&resourceVersion=" + rv)
    read_event(r)
    p.ctl("/drop-watches", {"abort": False})
    check(r.read() == b"", "a clean drop ends a watch=True body")
    c.close()
    c, r = p.watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv)
    read_event(r)
    p.ctl("/drop-watches", {"abort": True})
    try:
        r.read()
        cut = False
    except (http.client.IncompleteRead, ConnectionError, ssl.SSLError):
        cut = True
    check(cut, "an aborted watch ends without the chunked terminator")
    c.close()
    # HTTP/2: a clean drop ends the stream (curl exits 0), an abort cuts the connection.
    for abort, ok in ((False, True), (True, False)):
        w = p.curl_watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv)
        wait_for("the h2 watch", lambda: p.ctl("/state")["watchers"] == 1)
        p.ctl("/drop-watches", {"abort": abort})
        out, err = w.communicate(timeout=20)
        check((w.returncode == 0) == ok and '"w1"' in out,
              "h2 drop abort=%s: rc %d %s" % (abort, w.returncode, err))


def test_compact(p):
    page = p.get("/api/v1/namespaces/default/configmaps?limit=1")[2]["metadata"]
    check(page.get("continue"), "a first page with a continue token: %r" % page)
    old = page["resourceVersion"]
    kubectl(p.info, "create", "configmap", "w2", "-n", "default")
    now = p.ctl("/compact", {})["resourceVersion"]
    check(now > int(old), "compact at %r, after %s" % (now, old))
    code, _, body = p.get("/api/v1/namespaces/default/configmaps?limit=1&continue=" + page["continue"])
    check(code == 410 and body["reason"] == "Expired" and "continue parameter is too old" in body["message"],
          "a continue token from before the compaction: %d %r" % (code, body))
    c, r = p.watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + old)
    ev = read_event(r)
    check(ev["type"] == "ERROR" and ev["object"]["code"] == 410 and ev["object"]["reason"] == "Expired",
          "resume from before the compaction: %r" % ev)
    c.close()
    c, r = p.watch("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=2&resourceVersion=%d" % now)
    kubectl(p.info, "create", "configmap", "w3", "-n", "default")
    ev = read_event(r)
    check(ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "w3", "resume from now: %r" % ev)
    c.close()


def test_listener(p):
    c, r = p.watch("/api/v1/namespaces/default/configmaps?watch=true")
    read_event(r)
    p.ctl("/listener", {"up": False})
    check(not p.ctl("/state")["listener_up"], "listener still up")
    # The open watch ends (cut): a watch still open would block here until the socket's
    # timeout, which is not one of these exceptions and fails the test.
    try:
        r.read()
    except (http.client.IncompleteRead, ConnectionError, ssl.SSLError):
        pass
    c.close()
    try:
        socket.create_connection((p.host, p.port), timeout=5).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    check(refused, "connections accepted while the listener is down")
    p.ctl("/listener", {"up": True})
    check(p.get("/api/v1/namespaces")[0] == 200, "the same port after up")


def main():
    tmp = tempfile.mkdtemp(prefix="mc-fp-")
    d = os.path.join(tmp, "c1")
    try:
        subprocess.run([REAL_CLUSTER, "up", d, "--fault-proxy", "--owner-pid", str(os.getpid())],
                       check=True, timeout=200)
        with open(os.path.join(d, "info.json")) as f:
            info = json.load(f)
        check({"proxy_url", "proxy_control_url", "proxy_kubeconfig"} <= set(info), "info.json %r" % info)
        p = Proxy(info)
        for t in (test_forward_and_fail, test_watch_drop, test_compact, test_listener):
            t(p)
            print("ok:", t.__name__)
        pid = info["pids"]["fault-proxy"]
        subprocess.run([REAL_CLUSTER, "down", d], check=True, timeout=60)
        check(not os.path.exists("/proc/%d" % pid) or "Z" in open("/proc/%d/stat" % pid).read().split(") ")[1][:1],
              "the proxy outlived down")
        print("PASS")
    except BaseException:
        path = os.path.join(d, "fault-proxy.log")
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                sys.stderr.write("---- fault-proxy.log\n%s\n" % f.read()[-3000:])
        raise
    finally:
        if os.path.exists(d):
            subprocess.run([REAL_CLUSTER, "down", d], timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
