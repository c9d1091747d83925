"""End to end, "Ready means working" (issue 15 section 1) on two clusters: the daemon of paris
probes tokyo along the path Istio uses, with --probe-interval, and its conditions follow.

tokyo's MeshCluster (in paris) names tokyo's real API server (its URL, spec.remoteSecret.caBundle
with tokyo's CA, auth secret with a real token of tokyo's), so the API probe is the GET istiod's
first request would be; tokyo's gateway is a loopback stand-in reached through
--probe-connect-to as the local egress alias (a name only cluster DNS knows). Checked where a
user looks: the MeshCluster's conditions, the Events, /metrics and the server's request log.

  1. Both paths Reachable (latency in the message), Ready True.
  2. Ten probe intervals of steady state: zero writes (probing is not writing).
  3. The gateway stops being ready (503): PeerGatewayReachable False HTTPError within two
     intervals, Ready False, one Warning Event; it recovers: True again, one Normal Event.
  4. tokyo's token is replaced by one tokyo refuses: PeerAPIReachable False HTTPError (401);
     restored: True.
  5. /metrics has the probe histogram and failure counter series for tokyo.
  6. istiod's own view (--istiod-url, the istiod simulator's /debug/clusterz, which answers
     only with a bearer token): IstiodSynced True/Synced; istiod reporting "timeout" gives
     False/SyncTimeout and Ready False; a token file istiod cannot get (empty) gives
     Unknown/IstiodUnreachable naming the 401, never False; both repaired: True again.
"""
import base64
import http.server
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402

TAILNET = "your-tailnet.ts.net"
ALIAS = "tokyo-istio-eastwestgateway.istio-system.svc.cluster.local"
INTERVAL_MS = 500


class Gateway(http.server.ThreadingHTTPServer):
    """Stands in for tokyo's east-west gateway: a TCP port that accepts, and /healthz/ready."""
    daemon_threads = True

    def __init__(self):
        self.status = 200
        gw = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self.send_response(gw.status if self.path == "/healthz/ready" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()


def meshcluster(name, **spec):
    o = {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": name},
         "spec": {"meshID": "mesh1", "tailscale": {"tailnet": TAILNET}}}
    o["spec"].update(spec)
    return o


def token_secret(token):
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "tokyo-token", "namespace": "tailscale",
                         "labels": {"meshcluster.io/remote-token": "true"}},
            "data": {"token": base64.b64encode(token.encode()).decode()}}


def condition(c, cluster, ctype):
    mc = c.get("meshcluster", cluster)
    for cond in ((mc or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == ctype:
            return cond
    return {}


def wait_condition(c, cluster, ctype, status, reason, timeout=30):
    """reason: one reason, or a tuple of those that will do."""
    reasons = (reason,) if isinstance(reason, str) else tuple(reason)
    try:
        L.wait_for("%s %s=%s/%s" % (cluster, ctype, status, "|".join(reasons)),
                   lambda: condition(c, cluster, ctype).get("status") == status
                   and condition(c, cluster, ctype).get("reason") in reasons, timeout)
    except AssertionError as e:
        conds = ((c.get("meshcluster", cluster) or {}).get("status") or {}).get("conditions")
        raise AssertionError("%s; conditions: %s" % (e, json.dumps(conds, indent=1)))
    return condition(c, cluster, ctype)


def assert_steady(c, interval_ms, intervals=10):
    """Once the daemon has gone quiet, `intervals` probe intervals pass with zero writes."""
    L.wait_for("quiet", lambda: c.clear_requests() or time.sleep(2 * interval_ms / 1000)
               or not c.daemon_writes(), 30)
    c.clear_requests()
    time.sleep(intervals * interval_ms / 1000)
    writes = c.daemon_writes()
    assert writes == [], "%d probe intervals of steady state wrote: %s" % (intervals, writes)


def events(c, reason):
    items = json.loads(c.kubectl("get", "events", "-A", "-o", "json").stdout)["items"]
    return [e for e in items if e.get("reason") == reason
            and e.get("involvedObject", {}).get("name") == "tokyo"]


def body(tmp, clusters):
    paris, tokyo = clusters
    gw = Gateway()
    with open(tokyo.info["ca_file"], "rb") as f:
        ca = base64.b64encode(f.read()).decode()
    good = tokyo.kubectl("create", "token", "default", "-n", "default").stdout.strip() if L.REAL \
        else tokyo.info["token"]
    paris.kubectl("apply", "-f", "-", input=json.dumps(token_secret(good)))
    for mc in (meshcluster("paris"),
               meshcluster("tokyo", remoteSecret={"auth": "secret", "server": tokyo.info["url"],
                                                  "caBundle": ca, "secretRef": {"name": "tokyo-token"}})):
        paris.kubectl("apply", "-f", "-", input=json.dumps(mc))
    port = gw.server_address[1]
    token_file = os.path.join(tmp, "istio-ca-token")
    with open(token_file, "w") as f:
        f.write("a-projected-token\n")
    paris.start_daemon("--probe-interval", "%dms" % INTERVAL_MS, "--probe-connect-to",
                       "%s:15443:127.0.0.1:%d,%s:15021:127.0.0.1:%d" % (ALIAS, port, ALIAS, port),
                       "--istiod-url", paris.control + "/istiod", "--istiod-token-file", token_file)

    # 1. Reachable both ways; Ready.
    api = wait_condition(paris, "tokyo", "PeerAPIReachable", "True", "Reachable", 60)
    assert "latency=" in api["message"], api
    wait_condition(paris, "tokyo", "PeerGatewayReachable", "True", "Reachable")
    wait_condition(paris, "tokyo", "Ready", "True", "Ready")

    # 2. Steady: probing every 500 ms writes nothing.
    assert_steady(paris, INTERVAL_MS)

    # 3. The gateway fails readiness, then recovers.
    gw.status = 503
    cond = wait_condition(paris, "tokyo", "PeerGatewayReachable", "False", "HTTPError", 10)
    assert "HTTP 503" in cond["message"], cond
    wait_condition(paris, "tokyo", "Ready", "False", "NotReady")
    L.wait_for("Warning Event", lambda: len(events(paris, "PeerUnreachable")) == 1, 10)
    gw.status = 200
    wait_condition(paris, "tokyo", "PeerGatewayReachable", "True", "Reachable", 10)
    wait_condition(paris, "tokyo", "Ready", "True", "Ready")
    L.wait_for("Normal Event", lambda: len(events(paris, "PeerReachable")) == 1, 10)

    # 4. A token tokyo refuses; then the good one again.
    paris.kubectl("apply", "-f", "-", input=json.dumps(token_secret("eyJhbGciOiJSUzI1NiJ9.bogus.c2ln")))
    cond = wait_condition(paris, "tokyo", "PeerAPIReachable", "False", "HTTPError", 20)
    assert "HTTP 401" in cond["message"], cond
    paris.kubectl("apply", "-f", "-", input=json.dumps(token_secret(good)))
    wait_condition(paris, "tokyo", "PeerAPIReachable", "True", "Reachable", 20)

    # 5. The metrics a user would alert on.
    port_m = L.obs_port(paris.daemon_log())
    code, metrics = L.http_get(port_m, "/metrics")
    assert code == 200, code
    assert 'meshcluster_probe_duration_seconds_count{peer="tokyo",target="api"}' in metrics, metrics[:2000]
    assert 'meshcluster_probe_failures_total{peer="tokyo",target="gateway",reason="http"}' in metrics
    # 6. istiod's own view.
    wait_condition(paris, "tokyo", "IstiodSynced", "True", "Synced")
    paris.ctl("POST", "/istiod", {"sync_status": {"tokyo": "timeout"}})
    wait_condition(paris, "tokyo", "IstiodSynced", "False", "SyncTimeout", 10)
    wait_condition(paris, "tokyo", "Ready", "False", "NotReady")
    paris.ctl("POST", "/istiod", {"sync_status": {"tokyo": None}})
    wait_condition(paris, "tokyo", "IstiodSynced", "True", "Synced", 10)
    with open(token_file, "w") as f:
        f.write("")
    cond = wait_condition(paris, "tokyo", "IstiodSynced", "Unknown", "IstiodUnreachable", 10)
    assert "HTTP 401" in cond["message"], cond
    with open(token_file, "w") as f:
        f.write("a-projected-token\n")
    wait_condition(paris, "tokyo", "IstiodSynced", "True", "Synced", 10)
    wait_condition(paris, "tokyo", "Ready", "True", "Ready")
    gw.shutdown()
    print("probes: conditions, events, 0 steady writes and metrics as documented")


if __name__ == "__main__":
    L.run(["paris", "tokyo"], body)
