"""Proves the health/metrics server against real clients: it drives obs_serve (a k8s_obs_server
on 127.0.0.1:0 with a registry of known values), checks /healthz, /readyz before and after the
driver is told it is ready, a 404, and parses /metrics with Debian's python3-prometheus-client
(prometheus_client.parser.text_string_to_metric_families), asserting the families, types,
labels and values client-go/controller-runtime dashboards use, including a label value that
needs every escape. Closing stdin must make the driver close the server and exit 0, which it
does only when its libuv loop has no open handle left (and, in sanitizer builds, no leak)."""

import subprocess
import sys
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def check_metrics(text):
    families = {f.name: f for f in text_string_to_metric_families(text)}
    # The parser names counter families without their _total suffix; samples keep it.
    want_types = {
        "workqueue_depth": "gauge",
        "workqueue_adds": "counter",
        "workqueue_queue_duration_seconds": "histogram",
        "workqueue_work_duration_seconds": "histogram",
        "workqueue_retries": "counter",
        "workqueue_unfinished_work_seconds": "gauge",
        "workqueue_longest_running_processor_seconds": "gauge",
        "controller_runtime_reconcile": "counter",
        "controller_runtime_reconcile_errors": "counter",
        "controller_runtime_reconcile_time_seconds": "histogram",
        "rest_client_requests": "counter",
        "rest_client_request_duration_seconds": "histogram",
        "leader_election_master_status": "gauge",
        "meshcluster_watch_restarts": "counter",
        "meshcluster_relists": "counter",
        "meshcluster_managed_objects": "gauge",
        "meshcluster_build_info": "gauge",
    }
    for name, typ in want_types.items():
        expect(name in families, f"family {name} missing; have {sorted(families)}")
        expect(families[name].type == typ, f"{name} is {families[name].type}, want {typ}")

    def value(sample_name, **labels):
        for fam in families.values():
            for s in fam.samples:
                if s.name == sample_name and s.labels == labels:
                    return s.value
        raise AssertionError(f"no sample {sample_name}{labels}")

    wq = {"name": "meshcluster", "controller": "meshcluster"}
    expect(value("workqueue_depth", **wq) == 2, "depth")
    expect(value("workqueue_adds_total", **wq) == 5, "adds")
    expect(value("workqueue_retries_total", **wq) == 1, "retries")
    expect(value("workqueue_queue_duration_seconds_count", **wq) == 1, "queue count")
    # ExponentialBuckets(10e-9, 10, 12) accumulates rounding exactly as Go does, so the 1e-4
    # bound is exposed as 9.999999999999999e-05 by Go controllers and by us alike.
    expect(value("workqueue_queue_duration_seconds_bucket", le="9.999999999999999e-05", **wq) == 0,
           "le 1e-4")
    expect(value("workqueue_queue_duration_seconds_bucket", le="0.001", **wq) == 1, "le 1e-3")
    expect(value("workqueue_queue_duration_seconds_bucket", le="1000", **wq) == 1, "le 1000")
    expect(value("workqueue_queue_duration_seconds_bucket", le="+Inf", **wq) == 1, "le inf")

    c = "meshcluster"
    expect(value("controller_runtime_reconcile_total", controller=c, result="success") == 3, "ok")
    expect(value("controller_runtime_reconcile_total", controller=c, result="error") == 1, "err")
    expect(value("controller_runtime_reconcile_total", controller=c, result="requeue") == 0, "rq")
    expect(value("controller_runtime_reconcile_total", controller=c, result="requeue_after") == 0,
           "rqa")
    expect(value("controller_runtime_reconcile_errors_total", controller=c) == 1, "errors")
    rt = families["controller_runtime_reconcile_time_seconds"]
    buckets = [s for s in rt.samples if s.name.endswith("_bucket")]
    expect(len(buckets) == 41, f"reconcile buckets: {len(buckets)}")
    expect(value("controller_runtime_reconcile_time_seconds_bucket", controller=c, le="0.005") == 1,
           "le 0.005")
    expect(value("controller_runtime_reconcile_time_seconds_bucket", controller=c, le="60") == 2,
           "le 60")
    expect(value("controller_runtime_reconcile_time_seconds_count", controller=c) == 3, "count")
    expect(abs(value("controller_runtime_reconcile_time_seconds_sum", controller=c) - 75.204) < 1e-9,
           "sum")

    host = "127.0.0.1:6443"
    expect(value("rest_client_requests_total", code="200", method="GET", host=host) == 7, "rest")
    expect(value("rest_client_requests_total", code="409", method="PATCH", host=host) == 1, "409")
    expect(value("rest_client_request_duration_seconds_count", verb="GET", host=host) == 1, "lat")
    expect(value("leader_election_master_status", name="meshcluster") == 1, "leader")
    expect(value("meshcluster_watch_restarts_total", resource="services") == 1, "restarts")
    expect(value("meshcluster_relists_total", resource="services") == 1, "relists")
    expect(value("meshcluster_managed_objects", kind="Service") == 3, "services")
    expect(value("meshcluster_managed_objects", kind='we"ird\\kind\nx') == 42, "escaped label")
    expect(value("meshcluster_build_info", version="0.1.0-test") == 1, "build info")


def main():
    driver = sys.argv[1]
    proc = subprocess.Popen([driver], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().split()
        expect(len(first) == 2 and first[0] == "PORT", f"driver said {first!r}")
        port = int(first[1])

        status, _, body = get(port, "/healthz")
        expect((status, body) == (200, "ok"), f"/healthz: {status} {body!r}")

        status, _, body = get(port, "/readyz")
        expect(status == 503 and body == "informer meshclusters not synced",
               f"/readyz before: {status} {body!r}")
        proc.stdin.write("ready\n")
        proc.stdin.flush()
        expect(proc.stdout.readline().strip() == "OK ready", "driver did not ack")
        status, _, body = get(port, "/readyz")
        expect((status, body) == (200, "ok"), f"/readyz after: {status} {body!r}")

        status, _, body = get(port, "/nothing-here")
        expect(status == 404, f"404 path gave {status}")

        status, ctype, body = get(port, "/metrics")
        expect(status == 200, f"/metrics: {status}")
        expect(ctype == "text/plain; version=0.0.4; charset=utf-8", f"Content-Type {ctype!r}")
        check_metrics(body)

        proc.stdin.close()
        rc = proc.wait(timeout=30)
        out = proc.stdout.read()
        err = proc.stderr.read()
        expect(rc == 0 and "CLEAN" in out, f"driver exit {rc}; stdout {out!r}; stderr {err}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print("ok: health, readiness, 404 and /metrics parsed by prometheus_client; clean close")


if __name__ == "__main__":
    main()
